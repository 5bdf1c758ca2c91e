"""The `Tools` a graph receives: the attempt's sandbox, with every command traced."""

from __future__ import annotations

import time

from agentbench.protocols import ExecResult, Sandbox
from agentbench.tracing.tracer import Tracer


class SandboxTools:
    def __init__(self, sandbox: Sandbox, tracer: Tracer, command_timeout_s: float | None = None) -> None:
        self._sandbox = sandbox
        self._tracer = tracer
        self._timeout = command_timeout_s

    async def bash(self, cmd: str, timeout: float | None = None) -> ExecResult:
        t0 = time.time()
        result = await self._sandbox.exec(cmd, timeout=timeout or self._timeout)
        self._tracer.record_exec(cmd, t0, result.exit_code, result.duration_s, result.stdout, result.stderr,
                                 result.truncated, result.timed_out)
        return result

    async def read_file(self, path: str) -> str:
        t0 = time.time()
        data = await self._sandbox.read_file(path)
        self._tracer.record_exec(f"read_file {path}", t0, 0, time.time() - t0, f"{len(data)} bytes", "",
                                 False, False, kind="read_file")
        return data.decode("utf-8", errors="replace")

    async def write_file(self, path: str, content: str) -> None:
        t0 = time.time()
        await self._sandbox.write_file(path, content.encode())
        self._tracer.record_exec(f"write_file {path}", t0, 0, time.time() - t0, f"{len(content)} chars", "",
                                 False, False, kind="write_file")
