"""The `local` sandbox: a fresh temp directory and `bash -c` subprocesses on the host.

For development only: it does NOT isolate. Commands run as the current user, can read and write
anything the user can, and reach the network. What it does do: a scrubbed environment (no host
variables beyond PATH and `keep_env`, so API keys do not leak), one process group per command,
killed on timeout and after the command returns (no leftover background jobs), bounded output, and
a workdir that is always removed when the sandbox closes, cancellation included.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Callable

from pydantic import Field

from agentbench.config.schema import CommandLimits
from agentbench.proc import kill_tree
from agentbench.protocols import ExecResult, Sandbox, SandboxError, Task
from agentbench.sandbox.base import TIMEOUT_EXIT_CODE, OutputBuffer, read_capped, request_timeout, run_shielded

_READ_CHUNK = 64 * 1024
_DRAIN_GRACE_S = 1.0  # after the process group is killed, how long to wait for the pipes to reach EOF

_warned = False


class LocalSandboxWarning(UserWarning):
    """Emitted once per process when a local (non-isolating) sandbox provider is created."""


class LocalSandboxConfig(CommandLimits):
    """The limits every backend takes (`CommandLimits`, from the experiment's `sandbox` section), plus:"""

    path: str = Field("/usr/local/bin:/usr/bin:/bin", description="PATH inside the sandbox")
    keep_env: list[str] = Field(default_factory=list,
                                description="host environment variables passed through by name (default none)")


def _rmtree(path: str) -> None:
    """Remove `path`, making read-only directories writable as needed; retry briefly for dying writers."""

    def _onerror(func, p, _exc) -> None:  # noqa: ANN001 - shutil's callback signature
        try:
            os.chmod(os.path.dirname(p), 0o700)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, 0o700)
            func(p)
        except FileNotFoundError:
            pass

    for attempt in range(3):
        try:
            shutil.rmtree(path, onerror=_onerror)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if attempt == 2:
                warnings.warn(f"local sandbox: could not remove {path}: {exc}", LocalSandboxWarning, stacklevel=2)
                return
            time.sleep(0.1)


class LocalSandbox(Sandbox):
    """A workdir on the host; `exec` runs `bash -c` there. Created by `LocalSandboxProvider.open`."""

    def __init__(self, workdir: str, config: LocalSandboxConfig) -> None:
        self.workdir = workdir
        self._config = config
        self._groups: set[int] = set()  # process groups (leader pids) of commands not yet finished
        self._closed = False
        env = {name: os.environ[name] for name in config.keep_env if name in os.environ}
        env.update(PATH=config.path, HOME=workdir, TMPDIR=os.path.join(workdir, ".tmp"), LANG="C.UTF-8",
                   PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
        self._env = env

    # -- paths -------------------------------------------------------------------------------------

    def _resolve(self, path: str) -> Path:
        """Absolute real path for `path` (relative to the workdir); SandboxError if it leaves the workdir."""
        p = Path(path)
        full = os.path.realpath(p if p.is_absolute() else Path(self.workdir, p))
        if os.path.commonpath([full, self.workdir]) != self.workdir:
            raise SandboxError(f"path escapes the sandbox workdir: {path!r}")
        return Path(full)

    # -- commands ----------------------------------------------------------------------------------

    async def exec(self, cmd: str, timeout: float | None = None, cwd: str | None = None) -> ExecResult:
        if self._closed:
            raise SandboxError("sandbox is closed")
        limit = request_timeout(timeout, self._config.command_timeout_s)
        run_dir = self.workdir if cwd is None else os.path.join(self.workdir, cwd)  # absolute cwd replaces workdir
        t0 = time.monotonic()
        if not os.path.isdir(run_dir):
            return ExecResult(exit_code=1, stderr=f"agentbench: cwd is not a directory: {cwd}\n",
                              duration_s=time.monotonic() - t0)
        if not os.path.isdir(self._env["TMPDIR"]):  # the agent may have removed it
            os.makedirs(self._env["TMPDIR"], exist_ok=True)
        loop = asyncio.get_running_loop()
        try:
            transport, proto = await loop.subprocess_exec(
                lambda: _Protocol(loop), "bash", "-c", cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, cwd=run_dir, env=self._env, start_new_session=True)
        except OSError as exc:
            raise SandboxError(f"local sandbox could not start bash: {exc}") from exc
        pgid = transport.get_pid()  # start_new_session: the leader's pid is the group id
        self._groups.add(pgid)
        out, err = OutputBuffer(self._config.max_output_bytes), OutputBuffer(self._config.max_output_bytes)
        readers = [asyncio.create_task(_drain(proto.stdout, out)), asyncio.create_task(_drain(proto.stderr, err))]
        timed_out = False
        try:
            try:
                # not `Process.wait()`: that also waits for the pipes, which background jobs may hold open
                async with asyncio.timeout(limit):
                    await proto.exited.wait()
            except TimeoutError:
                timed_out = True
            kill_tree(pgid)  # the timed-out command, or background jobs it left behind
            await proto.exited.wait()
            if not all(reader.done() for reader in readers):
                await asyncio.wait(readers, timeout=_DRAIN_GRACE_S)
        finally:  # also on cancellation: nothing the command started survives it
            kill_tree(pgid)
            self._groups.discard(pgid)
            for reader in readers:
                reader.cancel()
            transport.close()
        returncode = transport.get_returncode()
        code = returncode if returncode is not None else -signal.SIGKILL
        if timed_out:
            code = TIMEOUT_EXIT_CODE
        elif code < 0:  # killed by a signal: report as a shell would (128 + signal)
            code = 128 - code
        return ExecResult(exit_code=code, stdout=out.text(), stderr=err.text(), duration_s=time.monotonic() - t0,
                          truncated=out.truncated or err.truncated, timed_out=timed_out)

    # -- files -------------------------------------------------------------------------------------

    async def read_file(self, path: str) -> bytes:
        """FileTooLargeError past `max_read_bytes` (as every backend); the read is bounded by it, so it needs
        no timeout of its own."""
        target = self._resolve(path)
        return await asyncio.to_thread(read_capped, target, self._config.max_read_bytes)

    async def write_file(self, path: str, data: bytes) -> None:
        target = self._resolve(path)

        def _write() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

        await asyncio.to_thread(_write)

    # -- lifecycle ---------------------------------------------------------------------------------

    def _kill_all(self) -> None:
        self._closed = True
        for pgid in list(self._groups):
            kill_tree(pgid)
        self._groups.clear()


class _Protocol(asyncio.subprocess.SubprocessStreamProtocol):
    """asyncio's stream protocol, plus an event set as soon as the process exits (pipes may stay open)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=_READ_CHUNK, loop=loop)
        self.exited = asyncio.Event()

    def process_exited(self) -> None:
        super().process_exited()
        self.exited.set()


async def _drain(stream: asyncio.StreamReader | None, buf: OutputBuffer) -> None:
    if stream is None:
        return
    while chunk := await stream.read(_READ_CHUNK):
        buf.feed(chunk)


NOT_ISOLATED = ("the `local` sandbox does NOT isolate: agent commands run on this host as your user, with "
                "your files and network. Use it for development only.")


class LocalSandboxProvider:
    """Opens `LocalSandbox`es in fresh temp dirs. Says that it does not isolate: through `warn` (a line; the
    runner passes one, so once per run), else as a LocalSandboxWarning once per process."""

    name = "local"
    isolates = False  # conformance skips its isolation checks, with this as the reason

    def __init__(self, config: LocalSandboxConfig | None = None, warn: Callable[[str], None] | None = None) -> None:
        global _warned
        self.config = config or LocalSandboxConfig()
        if warn is not None:
            warn(NOT_ISOLATED)
        elif not _warned:
            _warned = True
            warnings.warn(f"agentbench: {NOT_ISOLATED}", LocalSandboxWarning, stacklevel=2)

    def prepare(self, tasks: list[Task]) -> dict[str, str]:
        """Nothing to build: the local sandbox runs on this host as it is. Environments built per task
        (SWE-bench repos with their dependencies) exist only as Docker images."""
        built = sorted({t.id for t in tasks if t.swe is not None})
        if built:
            raise SandboxError(f"{len(built)} task(s) need a built environment (e.g. {built[0]}): "
                               f"use the docker sandbox backend")
        return {}

    async def aclose(self) -> None:
        """Every sandbox is cleaned up when it closes; nothing is left in flight."""

    @asynccontextmanager
    async def open(self, task: Task) -> AsyncIterator[LocalSandbox]:
        workdir = os.path.realpath(tempfile.mkdtemp(prefix="agentbench-"))
        sandbox = LocalSandbox(workdir, self.config)
        try:
            _copy_inputs(task, workdir)
            yield sandbox
        finally:
            sandbox._kill_all()  # synchronous: runs even if this task is being cancelled
            await run_shielded(asyncio.to_thread(_rmtree, workdir))


def _copy_inputs(task: Task, workdir: str) -> None:
    """Copy the task's input files into `workdir` by basename; SandboxError if one is missing or clashes."""
    seen: set[str] = set()
    for src in task.inputs.files:
        name = src.name
        if name in seen:
            raise SandboxError(f"task {task.id}: two input files named {name!r}")
        seen.add(name)
        dest = os.path.join(workdir, name)
        try:
            if src.is_dir():
                shutil.copytree(src, dest, symlinks=True)
            else:
                shutil.copy2(src, dest)
        except OSError as exc:
            raise SandboxError(f"task {task.id}: cannot copy input {src}: {exc}") from exc
