"""A model server agentbench starts and stops itself: own process group, free port, /health wait,
log in the run folder, SIGTERM then SIGKILL. Serves the embedded CPU vLLM and GPU vLLM alike.

The log holds no secret: the server's stdout and stderr go to a pipe, and a thread (`RedactedLog`) writes
what comes out of it to the log line by line through a Redactor (agentbench.redact) as it comes, like the
command line it starts with. The Redactor knows the values of the spec's environment variables that
`secret_env` names or whose name looks secret, the values of secret-looking flags in the command, and
what the caller adds (the endpoint: the run's config); so do the start failure messages, which quote the log.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
from pydantic import BaseModel, Field

from agentbench.proc import kill_tree, log_tail
from agentbench.redact import Redactor, arg_secrets, environ_secrets

LOG_TAIL_LINES = 30  # lines of the server's log in a ServerStartError
MAX_LINE = 1 << 20  # a longer run of output without a newline is written (redacted) in pieces of this size


class ServerStartError(RuntimeError):
    """The server did not come up; the message carries the tail of its log."""


class ServerSpec(BaseModel):
    argv: list[str] = Field(description="the command; `{port}` is replaced by the chosen port")
    env: dict[str, str] = Field(default_factory=dict)
    secret_env: list[str] = Field(default_factory=list, description="names of `env` variables whose values "
                                  "are secrets (masked in the log; names that look secret are anyway)")
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


def spec_redactor(spec: ServerSpec) -> Redactor:
    """What a server's log and messages mask: the `secret_env` values, those of variables whose name looks
    secret (VLLM_API_KEY, HF_TOKEN), and the values of secret-looking flags (`--hf-token VALUE`)."""
    found = {spec.env[name] for name in spec.secret_env if spec.env.get(name)} | environ_secrets(spec.env)
    found |= {v if v is not None else spec.argv[i] for i, v in arg_secrets(spec.argv)}
    return Redactor(found)


class RedactedLog:
    """A pipe whose every line is appended, redacted, to the log file by a thread, as it arrives; the thread
    ends (and closes the file) when every writer has closed the pipe. `write_fd` goes to the process."""

    def __init__(self, path: Path, redact: Redactor) -> None:
        self._file = open(path, "ab")
        self._redact = redact
        self._read_fd, self.write_fd = os.pipe()
        self._thread = threading.Thread(target=self._pump, name=f"log {path.name}", daemon=True)

    def write(self, text: str) -> None:
        """A line of our own (the command), before the pump starts."""
        self._file.write(self._redact.text(text).encode())
        self._file.flush()

    def start(self) -> None:
        """After the process started with `write_fd`: close our copy of it and pump."""
        os.close(self.write_fd)
        self._thread.start()

    def _pump(self) -> None:
        pending = b""
        try:
            while chunk := os.read(self._read_fd, 1 << 16):
                pending += chunk
                cut = pending.rfind(b"\n") + 1 or (len(pending) if len(pending) >= MAX_LINE else 0)
                if cut:
                    self._out(pending[:cut])
                    pending = pending[cut:]
            self._out(pending)
        finally:
            os.close(self._read_fd)
            self._file.close()

    def _out(self, data: bytes) -> None:
        if data:
            self._file.write(self._redact.text(data.decode("utf-8", errors="replace")).encode())
            self._file.flush()

    def drain(self, timeout_s: float) -> None:
        """Wait (up to `timeout_s`) until all the process wrote is in the file (it exited, the pipe is shut)."""
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def abandon(self) -> None:
        """The process never started: close both ends and the file."""
        for fd in (self.write_fd, self._read_fd):
            os.close(fd)
        self._file.close()


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

    def __init__(self, spec: ServerSpec, log_path: Path, redactor: Redactor | None = None) -> None:
        self.spec = spec
        self.log_path = log_path
        self.port = spec.port or free_port(spec.host)
        self.redactor = spec_redactor(spec).merge(*([redactor] if redactor is not None else []))
        self._proc: asyncio.subprocess.Process | None = None
        self._log: RedactedLog | None = None

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
        """The last `lines` lines of the server's log (all an exited server wrote, up to 5 s for it to arrive)."""
        if self._log is not None and not self.alive():
            self._log.drain(5.0)
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
        log = RedactedLog(self.log_path, self.redactor)
        log.write(f"$ {' '.join(argv)}\n")
        env = {**os.environ, **self.spec.env}
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *argv, stdout=log.write_fd, stderr=log.write_fd, stdin=asyncio.subprocess.DEVNULL,
                env=env, preexec_fn=_die_with_parent)
        except OSError as exc:
            log.abandon()
            raise ServerStartError(self.redactor.text(f"cannot start {argv[0]}: {exc}")) from exc
        log.start()
        self._log = log
        await self._wait_healthy()

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.spec.startup_timeout_s
        async with httpx.AsyncClient(timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self._proc.returncode is not None:
                    tail = await asyncio.to_thread(self.log_tail, LOG_TAIL_LINES)
                    raise ServerStartError(self.redactor.text(
                        f"model server exited with code {self._proc.returncode} during start-up; "
                        f"log {self.log_path}:\n{tail}"))
                try:
                    resp = await client.get(self.root_url + self.spec.health_path)
                    if resp.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
        await self.stop()
        raise ServerStartError(self.redactor.text(
            f"model server not healthy after {self.spec.startup_timeout_s:.0f} s; "
            f"log {self.log_path}:\n{log_tail(self.log_path, LOG_TAIL_LINES)}"))

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.returncode is None:  # SIGTERM, up to stop_timeout_s, then SIGKILL (the group: stragglers too)
                await asyncio.to_thread(kill_tree, proc, self.spec.stop_timeout_s)
            else:
                kill_tree(proc)  # stragglers in the group of a server that died
            await proc.wait()
        if self._log is not None:  # the group is dead: the pipe shuts, the thread writes the rest and ends
            await asyncio.to_thread(self._log.drain, 5.0)
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
