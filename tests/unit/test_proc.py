"""agentbench.proc: kill_tree (a process and everything it left running) and log_tail."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentbench.proc import kill_tree, log_tail

# A leader that starts a grandchild in its own group, prints the grandchild's pid, and then waits.
_TREE = "sleep 300 & echo $!; wait"
# The same leader, deaf to SIGTERM (its grandchild too): only SIGKILL ends them.
_DEAF = "trap '' TERM; sleep 300 & echo $!; wait"


def _gone(pid: int, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # a killed grandchild is reparented and reaped by init; until then it is a zombie
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split(") ", 1)[1].startswith("Z"):
                    return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(0.02)
    return False


def _tree(script: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(["bash", "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


@pytest.mark.parametrize("by_pid", [False, True])
def test_no_grace_kills_the_whole_group_at_once(by_pid: bool) -> None:
    proc, grandchild = _tree(_TREE)
    t0 = time.monotonic()
    kill_tree(proc.pid if by_pid else proc)
    assert time.monotonic() - t0 < 0.5
    assert proc.wait(5) == -signal.SIGKILL
    assert _gone(grandchild)


def test_grace_sends_sigterm_first() -> None:
    proc, grandchild = _tree(_TREE)
    kill_tree(proc, grace_s=5.0)
    assert proc.wait(5) == -signal.SIGTERM  # the leader ended on SIGTERM, well within its grace
    assert _gone(grandchild)


def test_grace_ends_in_sigkill_for_a_process_deaf_to_sigterm() -> None:
    proc, grandchild = _tree(_DEAF)
    t0 = time.monotonic()
    kill_tree(proc, grace_s=0.3)
    assert 0.25 < time.monotonic() - t0 < 3
    assert proc.wait(5) == -signal.SIGKILL
    assert _gone(grandchild)


def test_a_group_already_gone_is_not_an_error() -> None:
    proc = subprocess.Popen(["true"], start_new_session=True)
    proc.wait(5)
    kill_tree(proc)
    kill_tree(proc, grace_s=1.0)
    kill_tree(proc.pid)


async def test_an_asyncio_process_from_a_thread() -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(300)",
                                                start_new_session=True)
    t0 = time.monotonic()
    await asyncio.to_thread(kill_tree, proc, 5.0)
    assert await proc.wait() == -signal.SIGTERM and time.monotonic() - t0 < 3


def test_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    assert log_tail(log) == "(no log)"
    log.write_bytes(b"")
    assert log_tail(log) == "(empty log)"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(50)) + b"bad \xff byte\n\n\n")
    assert log_tail(log, 3) == "line 48\nline 49\nbad \ufffd byte"
    assert log_tail(log, 100).splitlines()[0] == "line 0"
    offset = len(b"".join(b"line %d\n" % i for i in range(49)))
    assert log_tail(log, 10, start=offset) == "line 49\nbad \ufffd byte"
    assert log_tail(log, 10, start=log.stat().st_size) == "(empty log)"
