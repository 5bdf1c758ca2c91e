"""The local sandbox's own guarantees: cleanup (also on cancellation), path containment, bounded output,
a scrubbed environment, the one-time warning."""

from __future__ import annotations

import asyncio
import os
import time
import warnings
from pathlib import Path

import pytest

import agentbench.sandbox.local as local
from agentbench.protocols import SandboxError, Task
from agentbench.sandbox.base import TRUNCATION_MARKER_RE
from agentbench.sandbox.local import LocalSandboxConfig, LocalSandboxProvider, LocalSandboxWarning

pytestmark = pytest.mark.filterwarnings("ignore::agentbench.sandbox.local.LocalSandboxWarning")

TASK = Task(id="t", kind="qa", prompt="p")


def group_alive(pgid: int) -> bool:
    """True if any non-zombie process is in process group `pgid` (zombies may linger un-reaped)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


async def wait_group_dead(pgid: int, within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not group_alive(pgid):
            return True
        await asyncio.sleep(0.05)
    return not group_alive(pgid)


async def test_workdir_removed_after_close() -> None:
    provider = LocalSandboxProvider()
    async with provider.open(TASK) as sb:
        workdir = sb.workdir
        await sb.write_file("a/b.txt", b"x")
        await sb.exec("chmod -w a")  # read-only dirs must not block cleanup
        assert os.path.isdir(workdir) and Path(workdir).name.startswith("agentbench-")
    assert not os.path.exists(workdir)
    with pytest.raises(SandboxError):
        await sb.exec("true")


async def test_workdir_removed_after_error_in_body() -> None:
    with pytest.raises(RuntimeError):
        async with LocalSandboxProvider().open(TASK) as sb:
            workdir = sb.workdir
            raise RuntimeError("boom")
    assert not os.path.exists(workdir)


async def test_cancel_mid_exec_cleans_up_and_kills_group() -> None:
    provider = LocalSandboxProvider()
    seen: dict[str, str] = {}

    async def attempt() -> None:
        async with provider.open(TASK) as sb:
            seen["workdir"] = sb.workdir
            await sb.exec("echo $$ > pgid; sleep 30 & sleep 30", timeout=60)

    task = asyncio.create_task(attempt())
    pid_file = None
    for _ in range(100):
        await asyncio.sleep(0.05)
        if "workdir" in seen and (Path(seen["workdir"]) / "pgid").exists():
            pid_file = Path(seen["workdir"]) / "pgid"
            if pid_file.read_text().strip():
                break
    assert pid_file is not None
    pgid = int(pid_file.read_text())
    assert group_alive(pgid)
    t0 = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - t0 < 5
    assert not os.path.exists(seen["workdir"])
    assert await wait_group_dead(pgid), f"process group {pgid} survived cancellation"


async def test_cancel_under_asyncio_timeout_becomes_timeout_error() -> None:
    provider = LocalSandboxProvider()
    seen: dict[str, str] = {}
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            async with provider.open(TASK) as sb:
                seen["workdir"] = sb.workdir
                await sb.exec("sleep 30")
    assert not os.path.exists(seen["workdir"])


async def test_path_escape_rejected(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    async with LocalSandboxProvider().open(TASK) as sb:
        for bad in ("../x.txt", "a/../../x.txt", "/etc/passwd", str(outside)):
            with pytest.raises(SandboxError):
                await sb.read_file(bad)
            with pytest.raises(SandboxError):
                await sb.write_file(bad, b"no")
        await sb.exec(f"ln -s {tmp_path} link")
        with pytest.raises(SandboxError):
            await sb.read_file("link/outside.txt")
        # inside the workdir: relative with `..` that stays inside, and absolute paths, are fine
        await sb.write_file("a/../inside.txt", b"ok")
        assert await sb.read_file(os.path.join(sb.workdir, "inside.txt")) == b"ok"
        with pytest.raises(FileNotFoundError):
            await sb.read_file("missing.txt")
    assert not outside.with_name("x.txt").exists()


async def test_endless_output_with_timeout_is_bounded() -> None:
    provider = LocalSandboxProvider(LocalSandboxConfig(max_output_bytes=1000))
    async with provider.open(TASK) as sb:
        t0 = time.monotonic()
        res = await sb.exec("yes", timeout=1)
        assert time.monotonic() - t0 < 3
    assert res.timed_out and res.exit_code == 124 and res.truncated
    match = TRUNCATION_MARKER_RE.search(res.stdout)
    assert match and int(match.group(1)) > 1000
    assert len(res.stdout) - len(match.group(0)) == 1000


async def test_background_job_does_not_block_or_leak() -> None:
    async with LocalSandboxProvider().open(TASK) as sb:
        t0 = time.monotonic()
        res = await sb.exec("sleep 100 & echo $$")
        assert time.monotonic() - t0 < 3 and res.exit_code == 0
        assert await wait_group_dead(int(res.stdout))


async def test_environment_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-planted-secret")
    monkeypatch.setenv("AGENTBENCH_KEEP_ME", "kept")
    provider = LocalSandboxProvider(LocalSandboxConfig(keep_env=["AGENTBENCH_KEEP_ME", "NOT_SET_ANYWHERE"]))
    async with provider.open(TASK) as sb:
        res = await sb.exec("env -0")
        env = dict(item.split("=", 1) for item in res.stdout.split("\0") if item)
        await sb.exec("python3 -c 'import tempfile; open(tempfile.mkstemp()[1], \"w\")'")
    env.pop("PWD", None), env.pop("SHLVL", None), env.pop("_", None)  # set by bash itself
    assert env == {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": sb.workdir, "TMPDIR": f"{sb.workdir}/.tmp",
                   "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
                   "AGENTBENCH_KEEP_ME": "kept"}
    assert "sk-test-planted-secret" not in res.stdout


async def test_attachments_copied_by_basename(tmp_path: Path) -> None:
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "data.csv").write_text("a,b\n")
    task = Task(id="t", kind="qa", prompt="p", inputs={"files": [tmp_path / "deep" / "data.csv"]})
    async with LocalSandboxProvider().open(task) as sb:
        assert await sb.read_file("data.csv") == b"a,b\n"
    missing = Task(id="t", kind="qa", prompt="p", inputs={"files": [tmp_path / "nope.txt"]})
    with pytest.raises(SandboxError):
        async with LocalSandboxProvider().open(missing):
            pass


async def test_bad_cwd_and_signal_exit() -> None:
    async with LocalSandboxProvider().open(TASK) as sb:
        res = await sb.exec("pwd", cwd="does/not/exist")
        assert res.exit_code != 0 and "cwd" in res.stderr
        res = await sb.exec("kill -9 $$")
        assert res.exit_code == 137 and not res.timed_out


def test_warns_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "_warned", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        LocalSandboxProvider()
        LocalSandboxProvider()
    hits = [w for w in caught if issubclass(w.category, LocalSandboxWarning)]
    assert len(hits) == 1 and "NOT isolate" in str(hits[0].message)


def test_declares_it_does_not_isolate_and_says_so_through_the_runners_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Named explicitly (`sandbox.backend: local`), the runner's provider says once per run, as a warning
    line, that it does not isolate; conformance skips its isolation checks (`isolates = False`)."""
    from agentbench.config.schema import SandboxConfig
    from agentbench.sandbox.provider import make_sandbox_provider

    monkeypatch.setattr(local, "_warned", False)
    lines: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        provider = make_sandbox_provider(SandboxConfig(backend="local"), log=lines.append)
    assert provider.isolates is False and LocalSandboxProvider.isolates is False
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "NOT isolate" in lines[0]
    assert not [w for w in caught if issubclass(w.category, LocalSandboxWarning)]  # the line, not a second word
    make_sandbox_provider(SandboxConfig(backend="local"), log=lines.append)  # the next run says it again
    assert len(lines) == 2


def test_auto_never_falls_back_to_local(monkeypatch: pytest.MonkeyPatch) -> None:
    """`auto` (the default) means Docker: no engine answering is a clear error naming how to start one and
    the non-isolating way out, never a silent local sandbox."""
    from agentbench.config.schema import SandboxConfig
    from agentbench.sandbox.provider import SandboxUnavailable, make_sandbox_provider

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/agentbench-test.sock")
    for backend in ("auto", "docker"):
        with pytest.raises(SandboxUnavailable) as raised:
            make_sandbox_provider(SandboxConfig(backend=backend), log=lambda line: None)
        message = str(raised.value)
        assert f"sandbox.backend: {backend}" in message and "no Docker engine answers" in message
        assert "dockerd" in message and "sandbox.backend: local" in message and "NOT isolate" in message


def test_config_forbids_unknown_fields() -> None:
    with pytest.raises(ValueError):
        LocalSandboxConfig(image="python")  # type: ignore[call-arg]
