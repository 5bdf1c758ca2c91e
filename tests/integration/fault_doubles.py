"""Fault-injecting doubles for the run-level fault tests, on loopback only: an OpenAI-compatible stub that
can refuse the key (401), answer with headers (Retry-After), or stall a streaming response; and a private
Docker engine the tests may kill and restart (started by sandboxes/ensure_engine.sh, on its own socket and
data folder, so the engine other work uses is never touched)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from agentbench.testing.http1 import read_request
from agentbench.testing.openai_stub import OpenAIStub, Reply, _default_reply

ROOT = Path(__file__).resolve().parents[2]


class FaultStub(OpenAIStub):
    """OpenAIStub plus:
    - `faults` items may be (status, message, headers) (e.g. a 429 with Retry-After);
    - `key`: requests without `Authorization: Bearer <key>` get 401 (also `GET /models`);
      `refuse_after=n`: from the (n+1)-th chat request on, every request gets 401 (a key revoked mid-run);
    - `stall=n`: the next n chat requests get a 200 event-stream that sends one chunk and then nothing;
      `stall_all`: every chat request stalls.
    `GET /models` answers like an OpenAI server. Counts `chat_requests`, `models_requests`, `stalled`."""

    def __init__(self, reply: Reply = _default_reply, faults: list | None = None, *, key: str | None = None,
                 refuse_after: int | None = None, stall: int = 0, stall_all: bool = False) -> None:
        super().__init__(reply=reply, faults=faults)
        self.key = key
        self.refuse_after = refuse_after
        self.stall = stall
        self.stall_all = stall_all
        self.chat_requests = self.models_requests = self.stalled = 0
        self._stalled_writers: list[asyncio.StreamWriter] = []
        self._release: asyncio.Event | None = None

    async def start(self) -> None:
        self._release = asyncio.Event()
        await super().start()

    async def stop(self) -> None:
        if self._release is not None:
            self._release.set()
        for writer in self._stalled_writers:
            writer.transport.abort()
        await super().stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                req = await read_request(reader)
                await self._dispatch(writer, req.method, req.path, req.headers, req.body)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def _refused(self, headers: dict[str, str]) -> bool:
        if self.refuse_after is not None and self.chat_requests > self.refuse_after:
            return True
        return self.key is not None and headers.get("authorization") != f"Bearer {self.key}"

    async def _dispatch(self, writer: asyncio.StreamWriter, method: str, path: str, headers: dict[str, str],
                        body: bytes) -> None:
        chat = path.endswith("/chat/completions")
        if chat:
            self.chat_requests += 1
        if path.endswith("/models"):
            self.models_requests += 1
        if (chat or path.endswith("/models")) and self._refused(headers):
            message = {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                 "code": "invalid_api_key"}}
            return self._send(writer, 401, json.dumps(message).encode())
        if path.endswith("/models"):
            return self._send(writer, 200, json.dumps({"object": "list", "data": [
                {"id": self.model, "object": "model", "owned_by": "stub"}]}).encode())
        if chat and self.faults and isinstance(self.faults[0], tuple) and len(self.faults[0]) == 3:
            status, message, extra = self.faults.pop(0)
            self.requests += 1
            payload = json.dumps({"error": {"message": message}}).encode()
            head = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
            writer.write(f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\n"
                         f"{head}connection: keep-alive\r\n\r\n".encode() + payload)
            return None
        if chat and (self.stall_all or self.stall > 0):
            self.stall = max(0, self.stall - 1)
            self.stalled += 1
            self.requests += 1
            chunk = {"id": "stall", "object": "chat.completion.chunk", "created": int(time.time()), "model": self.model,
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Thinking"},
                                  "finish_reason": None}]}
            data = b"data: " + json.dumps(chunk).encode() + b"\n\n"
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                         + f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
            self._stalled_writers.append(writer)
            assert self._release is not None
            await self._release.wait()  # never another byte (until stop() aborts the connection)
            return None
        return await self._respond(writer, method, path, body)


def gaia_answers() -> dict[str, str]:
    from agentbench.suites.loader import load_suite

    _, tasks = load_suite("gaia-mini")
    return {t.prompt: t.expected.answer for t in tasks}


def answering(messages: list[dict]) -> str:
    """The stub reply that solves a gaia-mini task: its reference answer, looked up by the prompt."""
    answers = gaia_answers()
    user = next((m["content"] for m in messages if m["role"] == "user" and m["content"] in answers), None)
    return f"FINAL ANSWER: {answers.get(user, 'unknown')}"


# -- a private Docker engine ------------------------------------------------------------------------------

ENSURE_ENGINE = ROOT / "sandboxes" / "ensure_engine.sh"


class PrivateEngine:
    """A dockerd of the test's own, started by sandboxes/ensure_engine.sh with DOCKER_HOST pointing at a
    socket in `folder` and its own data-root / exec-root / pidfile, no bridge and no iptables rules, so
    killing it touches nothing else. `kill()` SIGKILLs the dockerd this object started (by its pidfile);
    `start()` runs ensure_engine.sh again; `shutdown()` stops it for good and removes its folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.socket = self.folder / "docker.sock"
        self.pidfile = self.folder / "dockerd.pid"
        self.host = f"unix://{self.socket}"
        self.env = {**os.environ, "DOCKER_HOST": self.host}

    @property
    def script_env(self) -> dict[str, str]:
        args = (f"--storage-driver=overlay2 --data-root={self.folder / 'data'} --exec-root={self.folder / 'exec'} "
                f"--pidfile={self.pidfile} --bridge=none --iptables=false --ip6tables=false")
        # its own network namespace: a second dockerd in the host's namespace deletes the shared engine's
        # docker0 bridge when it starts, even with --bridge=none (measured); sandboxes run without network
        return {**self.env, "AGENTBENCH_DOCKERD_ARGS": args, "AGENTBENCH_DOCKERD_PREFIX": "unshare --net",
                "AGENTBENCH_CACHE": str(self.folder / "cache"),
                "AGENTBENCH_ENGINE_WAIT_S": "60"}

    def start(self) -> None:
        proc = subprocess.run(["bash", str(ENSURE_ENGINE)], env=self.script_env, capture_output=True, text=True,
                              timeout=120)
        if proc.returncode != 0 or not self.answers():
            raise RuntimeError(f"the private engine did not start: {proc.stderr[-3000:]}")

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def answers(self) -> bool:
        proc = subprocess.run(["docker", "info", "--format", "{{.ID}}"], env=self.env, capture_output=True,
                              timeout=20)
        return proc.returncode == 0

    def kill(self) -> int:
        pid = self.pid()
        assert pid is not None, "no dockerd of ours to kill"
        os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 20
        while time.time() < deadline and self.answers():
            time.sleep(0.1)
        return pid

    def docker(self, *args: str, timeout: float = 300, input_: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", *args], env=self.env, capture_output=True, timeout=timeout, input=input_)

    def load_image_from(self, tag: str) -> None:
        """Copy an image from the default engine into this one (docker save | docker load)."""
        save = subprocess.Popen(["docker", "save", tag], env={k: v for k, v in os.environ.items()
                                                             if k != "DOCKER_HOST"}, stdout=subprocess.PIPE)
        load = subprocess.run(["docker", "load"], env=self.env, stdin=save.stdout, capture_output=True, timeout=600)
        save.stdout.close()
        save.wait(60)
        if save.returncode != 0 or load.returncode != 0:
            raise RuntimeError(f"could not copy {tag}: {load.stderr.decode()[-2000:]}")

    def containers(self, label: str) -> list[str]:
        out = self.docker("ps", "-a", "-q", "--filter", f"label={label}", timeout=60)
        return out.stdout.decode().split()

    def shutdown(self) -> None:
        pid = self.pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)  # stops its containers, unmounts, exits
            except ProcessLookupError:
                pass
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.2)
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                  if len(line.split()) > 1 and line.split()[1].startswith(str(self.folder))]
        for mount in sorted(mounts, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)
