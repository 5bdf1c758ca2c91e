"""A model server agentbench starts and stops itself: own process group, free port, /health wait,
log in the run folder, SIGTERM then SIGKILL. Serves the embedded CPU vLLM and GPU vLLM alike."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import time
from pathlib import Path

import httpx
from pydantic import BaseModel, Field

from agentbench.proc import kill_tree, log_tail

LOG_TAIL_LINES = 30  # lines of the server's log in a ServerStartError


class ServerStartError(RuntimeError):
    """The server did not come up; the message carries the tail of its log."""


class ServerSpec(BaseModel):
    argv: list[str] = Field(description="the command; `{port}` is replaced by the chosen port")
    env: dict[str, str] = Field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int | None = None
    health_path: str = "/health"
    startup_timeout_s: float = 600.0
    stop_timeout_s: float = 20.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _die_with_parent() -> None:
    """In the child: own process group, and SIGTERM when agentbench dies (even by SIGKILL)."""
    os.setpgrp()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class ManagedServer:
    """`async with ManagedServer(spec, log_path) as server:` → `server.base_url` answers /health."""

    def __init__(self, spec: ServerSpec, log_path: Path) -> None:
        self.spec = spec
        self.log_path = log_path
        self.port = spec.port or free_port(spec.host)
        self._proc: asyncio.subprocess.Process | None = None
        self._log = None

    @property
    def root_url(self) -> str:
        return f"http://{self.spec.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root_url + "/v1"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def exit_code(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

    def log_tail(self, lines: int) -> str:
        """The last `lines` lines of the server's log."""
        return log_tail(self.log_path, lines)

    async def wait_exit(self) -> int | None:
        """Until the running server process exits (its exit code); None at once when none runs."""
        proc = self._proc
        return await proc.wait() if proc is not None else None

    async def start(self) -> None:
        """Start (or restart, on the same port) and wait for /health."""
        if not port_free(self.spec.host, self.port):
            raise ServerStartError(f"port {self.port} on {self.spec.host} is taken: another server is listening "
                                   f"there (choose another model.server.port, or leave it unset for a free one)")
        argv = [a.replace("{port}", str(self.port)) for a in self.spec.argv]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self._log.write(f"$ {' '.join(argv)}\n".encode())
        self._log.flush()
        env = {**os.environ, **self.spec.env}
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *argv, stdout=self._log, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
                env=env, preexec_fn=_die_with_parent)
        except OSError as exc:
            raise ServerStartError(f"cannot start {argv[0]}: {exc}") from exc
        await self._wait_healthy()

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.spec.startup_timeout_s
        async with httpx.AsyncClient(timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self._proc.returncode is not None:
                    raise ServerStartError(
                        f"model server exited with code {self._proc.returncode} during start-up; "
                        f"log {self.log_path}:\n{log_tail(self.log_path, LOG_TAIL_LINES)}")
                try:
                    resp = await client.get(self.root_url + self.spec.health_path)
                    if resp.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
        await self.stop()
        raise ServerStartError(f"model server not healthy after {self.spec.startup_timeout_s:.0f} s; "
                               f"log {self.log_path}:\n{log_tail(self.log_path, LOG_TAIL_LINES)}")

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.returncode is None:  # SIGTERM, up to stop_timeout_s, then SIGKILL (the group: stragglers too)
                await asyncio.to_thread(kill_tree, proc, self.spec.stop_timeout_s)
            else:
                kill_tree(proc)  # stragglers in the group of a server that died
            await proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    async def __aenter__(self) -> ManagedServer:
        try:
            await self.start()
        except BaseException:
            await asyncio.shield(self.stop())
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.shield(self.stop())
