"""One conformance suite every sandbox backend must pass (local and Docker).

Backend-neutral: the checks assume only bash, coreutils and python3 inside the sandbox, and Linux
`/proc` for telling live processes from zombies. The isolation checks (conformance_isolation.py: no
network, the server cannot be signalled, read-only root, size-limited /tmp and workdir, pids, memory and
open-files limits) run for every provider but one that declares `isolates = False`; there they are
skipped, each result saying so, and `format_results` says the backend does not isolate. Use:

    results = await run_conformance(provider, lambda: conformance_task(tmp_dir))
    failed = [r for r in results if not r.passed]

Each check gets a fresh sandbox opened with `async with provider.open(task)`. The environment check
plants nothing itself: the caller plants a secret (e.g. `OPENAI_API_KEY`) in the host environment first.
The truncation check expects a provider whose output limit is far below 10 MB (the default 16 KiB is); the
read check makes a sparse 1 GiB file (no room taken) and expects read_file to refuse it.
"""

from __future__ import annotations

import asyncio
import errno
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

from agentbench.protocols import FileTooLargeError, Sandbox, SandboxProvider, Task, TaskInputs
from agentbench.sandbox.base import TIMEOUT_EXIT_CODE, TRUNCATION_MARKER_RE
from agentbench.sandbox.conformance_isolation import ISOLATION

ATTACHMENT_NAME = "conformance_attachment.txt"
ATTACHMENT_TEXT = "agentbench conformance attachment\n"
UTF8_TEXT = "héllo ✓ 世界 🚀 — ünïcødé\n"
CHECK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[Sandbox], Awaitable[None]]
    isolation: bool = False  # skipped for a provider with `isolates = False`


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool  # a skipped check is not a failure
    detail: str
    duration_s: float
    skipped: bool = False


def conformance_task(tmp_dir: Path | str) -> Task:
    """A task with one small attachment written into `tmp_dir` (the attachment check looks for it)."""
    path = Path(tmp_dir) / ATTACHMENT_NAME
    path.write_text(ATTACHMENT_TEXT, encoding="utf-8")
    return Task(id="conformance", kind="qa", prompt="sandbox conformance", inputs=TaskInputs(files=[path]))


def _show(res: object) -> str:
    return repr(res)[:2000]


# -- checks ----------------------------------------------------------------------------------------


async def echo_stdout(sb: Sandbox) -> None:
    res = await sb.exec("echo hello")
    assert res.exit_code == 0 and res.stdout == "hello\n", f"`echo hello` gave {_show(res)}"
    assert not res.truncated and not res.timed_out, f"flags set on a plain echo: {_show(res)}"
    assert res.duration_s >= 0, f"negative duration: {_show(res)}"


async def stderr_separate(sb: Sandbox) -> None:
    res = await sb.exec("echo out; echo err >&2")
    assert res.stdout == "out\n", f"stdout should be 'out\\n': {_show(res)}"
    assert res.stderr == "err\n", f"stderr should be 'err\\n': {_show(res)}"


async def exit_code(sb: Sandbox) -> None:
    res = await sb.exec("exit 3")
    assert res.exit_code == 3, f"`exit 3` gave exit code {res.exit_code}"
    res = await sb.exec("false")
    assert res.exit_code == 1, f"`false` gave exit code {res.exit_code}"


async def workdir_and_attachment(sb: Sandbox) -> None:
    res = await sb.exec("pwd")
    assert res.stdout.strip() == sb.workdir, f"cwd {res.stdout.strip()!r} is not workdir {sb.workdir!r}"
    res = await sb.exec(f"cat {ATTACHMENT_NAME}")
    assert res.exit_code == 0 and res.stdout == ATTACHMENT_TEXT, f"attachment missing or wrong: {_show(res)}"
    data = await sb.read_file(ATTACHMENT_NAME)
    assert data.decode() == ATTACHMENT_TEXT, f"read_file of the attachment gave {data[:200]!r}"


async def write_then_cat(sb: Sandbox) -> None:
    await sb.write_file("sub/dir/written.txt", b"from write_file\n")
    res = await sb.exec("cat sub/dir/written.txt")
    assert res.exit_code == 0 and res.stdout == "from write_file\n", f"cat after write_file: {_show(res)}"


async def exec_then_read(sb: Sandbox) -> None:
    res = await sb.exec("printf 'from exec\\n' > made.txt")
    assert res.exit_code == 0, f"writing a file with exec failed: {_show(res)}"
    data = await sb.read_file("made.txt")
    assert data == b"from exec\n", f"read_file after exec gave {data!r}"


async def missing_file(sb: Sandbox) -> None:
    try:
        await sb.read_file("no/such/file.txt")
    except FileNotFoundError:
        return
    raise AssertionError("read_file of a missing file did not raise FileNotFoundError")


async def utf8_round_trip(sb: Sandbox) -> None:
    await sb.write_file("utf8.txt", UTF8_TEXT.encode("utf-8"))
    res = await sb.exec("cat utf8.txt")
    assert res.stdout == UTF8_TEXT, f"cat of UTF-8 file gave {res.stdout!r}"
    res = await sb.exec(f"printf '%s' '{UTF8_TEXT.strip()}' > back.txt && cat back.txt")
    assert res.stdout == UTF8_TEXT.strip(), f"UTF-8 in the command line came back as {res.stdout!r}"
    assert (await sb.read_file("back.txt")).decode("utf-8") == UTF8_TEXT.strip(), "read_file lost UTF-8"


async def timeout_kills(sb: Sandbox) -> None:
    t0 = time.monotonic()
    res = await sb.exec("echo started; sleep 30", timeout=1)
    took = time.monotonic() - t0
    assert res.timed_out, f"`sleep 30` with timeout=1 did not time out: {_show(res)}"
    assert res.exit_code == TIMEOUT_EXIT_CODE, f"a timed-out command should exit {TIMEOUT_EXIT_CODE}: {_show(res)}"
    assert took < 3.5, f"timeout=1 took {took:.1f}s to return"
    assert "started" in res.stdout, f"output before the timeout was lost: {_show(res)}"
    res = await sb.exec("echo still here")
    assert res.exit_code == 0 and res.stdout == "still here\n", f"sandbox dead after a timeout: {_show(res)}"


_ALIVE = ("p=$(cat {f}); s=$(cut -d')' -f2 /proc/$p/stat 2>/dev/null | cut -d' ' -f2); "
          "if kill -0 $p 2>/dev/null && [ \"$s\" != Z ] && [ \"$s\" != X ]; then echo alive; else echo dead; fi")


async def _wait_dead(sb: Sandbox, pid_file: str, what: str) -> None:
    for _ in range(20):
        res = await sb.exec(_ALIVE.format(f=pid_file))
        if res.stdout.strip() == "dead":
            return
        await asyncio.sleep(0.1)
    pid = (await sb.read_file(pid_file)).decode().strip()
    raise AssertionError(f"{what} (pid {pid}) is still running")


async def timeout_kills_background(sb: Sandbox) -> None:
    res = await sb.exec("(sleep 300 & echo $! > bg.pid; wait)", timeout=1)
    assert res.timed_out, f"command did not time out: {_show(res)}"
    await _wait_dead(sb, "bg.pid", "a background child of a timed-out command")


async def background_after_exit(sb: Sandbox) -> None:
    t0 = time.monotonic()
    res = await sb.exec("sleep 300 > /dev/null 2>&1 & echo $! > left.pid; echo done", timeout=20)
    assert res.exit_code == 0 and res.stdout == "done\n", f"{_show(res)}"
    assert time.monotonic() - t0 < 5, "exec waited for a background job"
    res = await sb.exec("sleep 300 & echo $! > left2.pid; echo done", timeout=20)  # still holding stdout
    assert res.exit_code == 0 and "done" in res.stdout, f"{_show(res)}"
    assert time.monotonic() - t0 < 10, "exec waited for a background job that holds stdout"
    await _wait_dead(sb, "left.pid", "a background job left by a finished command")
    await _wait_dead(sb, "left2.pid", "a background job (holding stdout) left by a finished command")


async def output_truncated(sb: Sandbox) -> None:
    res = await sb.exec("yes | head -c 10000000", timeout=30)
    assert res.exit_code == 0 and not res.timed_out, f"{_show(res)}"
    assert res.truncated, "10 MB of output was not marked truncated"
    match = TRUNCATION_MARKER_RE.search(res.stdout)
    assert match, f"no truncation marker in stdout (head: {res.stdout[:200]!r})"
    assert len(res.stdout.encode()) < 1_000_000, f"stdout kept {len(res.stdout)} chars of 10 MB"
    kept = len(res.stdout.encode()) - len(match.group(0))
    assert kept + int(match.group(1)) == 10_000_000, "kept + dropped bytes do not add up to the output size"


async def endless_output_bounded(sb: Sandbox) -> None:
    res = await sb.exec("yes agentbench", timeout=2)
    assert res.timed_out and res.exit_code == TIMEOUT_EXIT_CODE, f"endless output was not stopped: {_show(res)}"
    assert res.truncated and TRUNCATION_MARKER_RE.search(res.stdout), f"endless output not truncated: {_show(res)}"
    assert len(res.stdout.encode()) < 1_000_000, f"kept {len(res.stdout)} chars of endless output"
    res = await sb.exec("echo next")
    assert res.stdout == "next\n", f"sandbox dead after endless output: {_show(res)}"


async def python3_available(sb: Sandbox) -> None:
    res = await sb.exec("python3 -c 'import sys; print(sys.version_info[0])'")
    assert res.exit_code == 0 and res.stdout.strip() == "3", f"python3 not usable: {_show(res)}"


async def no_host_secrets(sb: Sandbox) -> None:
    res = await sb.exec("env -0")
    assert res.exit_code == 0, f"`env` failed: {_show(res)}"
    names = [item.split("=", 1)[0] for item in res.stdout.split("\0") if item]
    leaked = [n for n in names if n.endswith(("_API_KEY", "_TOKEN"))]
    assert not leaked, f"secrets leaked into the sandbox environment: {leaked}"


async def relative_cwd(sb: Sandbox) -> None:
    res = await sb.exec("mkdir -p nested/deeper")
    assert res.exit_code == 0, f"{_show(res)}"
    res = await sb.exec("pwd && echo here > marker.txt", cwd="nested/deeper")
    assert res.exit_code == 0, f"{_show(res)}"
    assert res.stdout.splitlines()[0] == f"{sb.workdir.rstrip('/')}/nested/deeper", f"pwd gave {res.stdout!r}"
    assert await sb.read_file("nested/deeper/marker.txt") == b"here\n", "file written in relative cwd not found"


async def read_file_bounded(sb: Sandbox) -> None:
    """Bytes come back as written (every byte value); a sparse 1 GiB file (free to make) is refused past the
    cap (`max_read_bytes`, at most 256 MiB) with FileTooLargeError and its size, and the sandbox goes on."""
    await sb.write_file("binary.bin", bytes(range(256)) * 4)
    assert await sb.read_file("binary.bin") == bytes(range(256)) * 4, "read_file changed binary bytes"
    res = await sb.exec("truncate -s 1G sparse.bin")
    assert res.exit_code == 0, f"{_show(res)}"
    try:
        data = await sb.read_file("sparse.bin")
    except FileTooLargeError as exc:
        assert exc.errno == errno.EFBIG and exc.size == 1 << 30, f"FileTooLargeError without the size: {exc!r}"
    else:
        raise AssertionError(f"read_file of a 1 GiB file returned {len(data)} bytes: it must be refused")
    assert (await sb.exec("echo on")).stdout == "on\n", "the sandbox stopped after a refused read"


CHECKS: list[Check] = [Check(fn.__name__, fn) for fn in (
    echo_stdout, stderr_separate, exit_code, workdir_and_attachment, write_then_cat, exec_then_read,
    missing_file, utf8_round_trip, timeout_kills, timeout_kills_background, background_after_exit,
    output_truncated, endless_output_bounded, python3_available, no_host_secrets, relative_cwd, read_file_bounded,
)] + [Check(fn.__name__, fn, isolation=True) for fn in ISOLATION]


def not_isolating(provider: SandboxProvider) -> str | None:
    """Why the isolation checks are skipped for `provider` (it declares `isolates = False`), else None."""
    if getattr(provider, "isolates", True):
        return None
    return f"skipped: the `{getattr(provider, 'name', type(provider).__name__)}` backend does not isolate " \
           f"(isolates = False)"


async def run_check(provider: SandboxProvider, task: Task, check: Check) -> CheckResult:
    """Run one check in a fresh sandbox; any exception (not only AssertionError) is a failure. An isolation
    check against a provider that does not isolate is skipped (passed, `skipped`, the reason as detail)."""
    reason = not_isolating(provider) if check.isolation else None
    if reason is not None:
        return CheckResult(check.name, True, reason, 0.0, skipped=True)
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            async with provider.open(task) as sandbox:
                await check.run(sandbox)
    except AssertionError as exc:
        return CheckResult(check.name, False, str(exc) or "assertion failed", time.monotonic() - t0)
    except TimeoutError:
        return CheckResult(check.name, False, f"check did not finish in {CHECK_TIMEOUT_S:.0f}s",
                           time.monotonic() - t0)
    except Exception as exc:  # noqa: BLE001 - report every failure, keep running the others
        detail = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
        return CheckResult(check.name, False, detail, time.monotonic() - t0)
    return CheckResult(check.name, True, "", time.monotonic() - t0)


async def run_conformance(provider: SandboxProvider, make_task: Callable[[], Task],
                          checks: list[Check] | None = None) -> list[CheckResult]:
    """Run every check (or `checks`) against `provider`, one fresh sandbox each, in order."""
    try:
        return [await run_check(provider, make_task(), check) for check in (checks or CHECKS)]
    finally:
        await provider.aclose()


def format_results(results: list[CheckResult]) -> str:
    """A readable table of results, failures with their detail; skipped checks say why, and a backend whose
    isolation checks were skipped is named as not isolating, first and last."""
    skipped = [r for r in results if r.skipped]
    lines = []
    if skipped:
        lines.append(f"NOT ISOLATING: {skipped[0].detail.removeprefix('skipped: ')}; its {len(skipped)} "
                     f"isolation check(s) were skipped. Do not run untrusted agents with it.")
    for r in results:
        if r.skipped:
            lines.append(f"SKIP {r.name} ({r.detail})")
            continue
        lines.append(f"{'PASS' if r.passed else 'FAIL'} {r.name} ({r.duration_s:.2f}s)")
        if not r.passed:
            lines.extend("    " + line for line in r.detail.splitlines())
    if skipped:
        lines.append(f"this backend does NOT isolate ({len(skipped)} isolation checks skipped)")
    return "\n".join(lines)
