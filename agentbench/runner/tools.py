"""The `Tools` a graph receives: the attempt's sandbox, with every command traced.

Two rules make the trace honest about whose time and whose fault:
- a call cancelled mid-way (the attempt's time budget) is still recorded, `cancelled: true`, its time up to
  the cancellation counted as sandbox time;
- a failure inside the sandbox call is the sandbox's: anything the backend raises other than `SandboxError`
  and the file results a graph may handle (`FileNotFoundError`, `IsADirectoryError`, `NotADirectoryError`,
  `PermissionError`, `FileTooLargeError`: past sandbox.max_read_bytes) is re-raised as `SandboxError`, so the
  attempt is `error`, not the agent's `failed`.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import contextmanager
from typing import Iterator

from agentbench.events import ExecKind
from agentbench.protocols import ExecResult, FileTooLargeError, Sandbox, SandboxError
from agentbench.tracing.tracer import Tracer

FILE_RESULTS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, FileTooLargeError)


@contextmanager
def sandbox_faults(what: str) -> Iterator[None]:
    """Inside: the backend's own exceptions become SandboxError (file results and SandboxError pass)."""
    try:
        yield
    except (SandboxError, *FILE_RESULTS):
        raise
    except Exception as exc:
        raise SandboxError(f"sandbox {what} failed: {type(exc).__name__}: {exc}") from exc


class SandboxTools:
    def __init__(self, sandbox: Sandbox, tracer: Tracer, command_timeout_s: float | None = None) -> None:
        self._sandbox = sandbox
        self._tracer = tracer
        self._timeout = command_timeout_s

    def _cancelled(self, cmd: str, t0: float, kind: ExecKind) -> None:
        self._tracer.record_exec(cmd, ExecResult(exit_code=-1, duration_s=time.time() - t0), t0, kind=kind,
                                 cancelled=True)

    async def bash(self, cmd: str, timeout: float | None = None) -> ExecResult:
        t0 = time.time()
        try:
            with sandbox_faults("exec"):
                result = await self._sandbox.exec(cmd, timeout=timeout or self._timeout)
        except asyncio.CancelledError:
            self._cancelled(cmd, t0, "bash")
            raise
        self._tracer.record_exec(cmd, result, t0)
        return result

    async def read_file(self, path: str) -> str:
        t0 = time.time()
        try:
            with sandbox_faults("read_file"):
                data = await self._sandbox.read_file(path)
        except asyncio.CancelledError:
            self._cancelled(f"read_file {path}", t0, "read_file")
            raise
        self._tracer.record_exec(f"read_file {path}", ExecResult(exit_code=0, duration_s=time.time() - t0,
                                                                 stdout=f"{len(data)} bytes"), t0, kind="read_file")
        return data.decode("utf-8", errors="replace")

    async def write_file(self, path: str, content: str) -> None:
        t0 = time.time()
        data = content.encode()
        try:
            with sandbox_faults("write_file"):
                await self._sandbox.write_file(path, data)
        except asyncio.CancelledError:
            self._cancelled(f"write_file {path}", t0, "write_file")
            raise
        self._tracer.record_exec(f"write_file {path}", ExecResult(exit_code=0, duration_s=time.time() - t0,
                                                                  stdout=f"{len(content)} chars"), t0,
                                 kind="write_file")
