"""Background processes agentbench starts itself (model servers, dockerd, the loopback registry, sandbox
commands): `kill_tree`, the one owner of killing a process and everything it left running, and
`log_tail`, the one owner of "the last lines of the log such a process wrote".

A leaf: imports nothing from agentbench. The one copy allowed elsewhere is `kill_group` in
`agentbench/sandbox/exec_server.py`, which runs inside containers and must stay stdlib-only.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

#: A process started in a session (or process group) of its own, so that its pid is its group's id.
Leader = int | subprocess.Popen[Any] | asyncio.subprocess.Process

_POLL_S = 0.02


def _signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to process group `pgid`; False when the group is gone (or not ours to signal)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _leader_alive(leader: Leader) -> bool:
    if isinstance(leader, subprocess.Popen):
        return leader.poll() is None
    if isinstance(leader, asyncio.subprocess.Process):
        return leader.returncode is None  # set by the event loop: call kill_tree from a thread
    try:
        os.kill(leader, 0)  # an unreaped child still counts: pass its Popen / Process where there is one
    except (ProcessLookupError, PermissionError):
        return False
    return True


def kill_tree(proc_or_pid: Leader, grace_s: float = 0.0) -> None:
    """Kill the process group led by `proc_or_pid`, and with it whatever the leader left running.

    `grace_s` <= 0: SIGKILL the group at once (never blocks). `grace_s` > 0: SIGTERM the group, wait up to
    `grace_s` seconds for the leader to exit, then SIGKILL the group in any case (stragglers). The wait
    blocks: async code runs it with `asyncio.to_thread` (an asyncio Process's exit is seen through its
    loop). A group already gone is not an error. The caller still reaps the leader (`wait()`)."""
    pgid = proc_or_pid if isinstance(proc_or_pid, int) else proc_or_pid.pid
    if grace_s > 0 and _signal_group(pgid, signal.SIGTERM):
        deadline = time.monotonic() + grace_s
        while _leader_alive(proc_or_pid) and time.monotonic() < deadline:
            time.sleep(_POLL_S)
    _signal_group(pgid, signal.SIGKILL)


def log_tail(path: Path | str, lines: int = 20, start: int = 0) -> str:
    """The last `lines` lines written to the log at `path` after byte offset `start` (UTF-8, invalid
    bytes replaced; trailing blank lines dropped): "(no log)" when it cannot be read, "(empty log)" when
    nothing was written."""
    try:
        with open(path, "rb") as fh:
            fh.seek(start)
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"
