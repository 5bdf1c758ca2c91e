"""The Docker sandbox: one fresh container per attempt, from a locally built image, isolated by default.

Isolation (each configurable): no network, memory / CPU / pids limits, a non-root user, every
capability dropped, no-new-privileges. Commands run in their own session inside the container; a
command past its timeout has its whole process tree killed there, and the container keeps answering.
Files go in and out with put_archive / get_archive. Every container carries the `agentbench` label,
so `agentbench sandbox prune` finds leftovers.
"""

from __future__ import annotations

import asyncio
import io
import json
import shlex
import tarfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from contextlib import asynccontextmanager
from pathlib import Path, PurePosixPath
from typing import Any, AsyncIterator, Callable

from pydantic import BaseModel

from agentbench.config.schema import DockerSettings
from agentbench.protocols import ExecResult, Sandbox, SandboxError, Task
from agentbench.sandbox.base import TIMEOUT_EXIT_CODE, render_parts, run_shielded
from agentbench.sandbox.images import ImageBuildError
from agentbench.sandbox.registry import ImagePullError

LABEL = "agentbench"
_ANSWER_GRACE_S = 15.0  # past a command's own timeout, a silent container counts as dead
_SERVER_SOURCE = (Path(__file__).with_name("exec_server.py")).read_text(encoding="utf-8")
#: The container's main process: agentbench's command server (needs python3 in the image, which every
#: recipe has). -I: ignore the image's PYTHON* variables; -S: skip site (starts faster).
SERVER_COMMAND = ["python3", "-I", "-S", "-c", _SERVER_SOURCE]


class DockerSandboxConfig(DockerSettings):
    """The experiment's Docker settings (`DockerSettings`: command limits and isolation), plus:"""

    workdir: str = "/workspace"


def _tar_of(files: dict[str, bytes], uid: int = 1000, gid: int = 1000) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), 0o644, uid, gid, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def split_frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Cut the whole frames off the front of Docker's multiplexed attach stream (8-byte header: stream
    type, three zero bytes, big-endian payload size); what remains in `buffer` is an incomplete frame."""
    frames = []
    while len(buffer) >= 8:
        size = int.from_bytes(buffer[4:8], "big")
        if len(buffer) < 8 + size:
            break
        frames.append((buffer[0], bytes(buffer[8:8 + size])))
        del buffer[:8 + size]
    return frames


class Answer(BaseModel):
    """One command's answer from the command server (see exec_server.py for the wire format)."""

    id: int
    code: int
    timed_out: bool
    stdout: str
    stderr: str
    truncated: bool


def parse_answer(buffer: bytearray) -> Answer | None:
    """Cut one complete answer off the front of `buffer`; None while it is incomplete."""
    end = buffer.find(b"\n")
    if end < 0:
        return None
    rid, code, timed_out, *sizes = (int(field) for field in bytes(buffer[:end]).split())
    out_head, out_tail, out_total, err_head, err_tail, err_total = sizes
    body_len = out_head + out_tail + err_head + err_tail
    if len(buffer) < end + 1 + body_len:
        return None
    body = bytes(buffer[end + 1:end + 1 + body_len])
    del buffer[:end + 1 + body_len]
    cuts = [0, out_head, out_head + out_tail, out_head + out_tail + err_head, body_len]
    parts = [body[cuts[i]:cuts[i + 1]] for i in range(4)]
    return Answer(id=rid, code=code, timed_out=bool(timed_out),
                  stdout=render_parts(parts[0], parts[1], out_total), stderr=render_parts(parts[2], parts[3], err_total),
                  truncated=out_total > out_head + out_tail or err_total > err_head + err_tail)


def run_request(request_id: int, cmd: str, cwd: str, timeout_s: float, max_bytes: int) -> bytes:
    cwd_b, cmd_b = cwd.encode(), cmd.encode()
    return f"run {request_id} {timeout_s} {max_bytes} {len(cwd_b)} {len(cmd_b)}\n".encode() + cwd_b + cmd_b


class _Channel:
    """The attached stdin (requests) and stdout (answers, framed by Docker) of the command server."""

    def __init__(self, attached: Any) -> None:
        self._attached = attached  # docker-py's SocketIO; keep it referenced so the socket stays open
        self._sock = getattr(attached, "_sock", attached)
        self._frames = bytearray()
        self._stdout = bytearray()
        self.stderr_tail = bytearray()

    def send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def receive(self) -> Answer:
        while (answer := parse_answer(self._stdout)) is None:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise EOFError("the sandbox's command stream closed")
            self._frames += chunk
            for stream, payload in split_frames(self._frames):
                if stream == 2:
                    self.stderr_tail = (self.stderr_tail + payload)[-2000:]
                else:
                    self._stdout += payload
        return answer

    def close(self) -> None:
        for closer in (lambda: self._sock.shutdown(2), self._sock.close, self._attached.close):
            try:
                closer()
            except Exception:  # already closed
                pass


class DockerSandbox(Sandbox):
    def __init__(self, api: Any, container_id: str, channel: _Channel, config: DockerSandboxConfig,
                 workdir: str | None = None) -> None:
        self._api = api
        self.container_id = container_id
        self._channel = channel
        self._config = config
        self._lock = asyncio.Lock()
        self._next_id = 0
        self._broken: str | None = None
        self.workdir = workdir or config.workdir

    def _path(self, path: str) -> PurePosixPath:
        p = PurePosixPath(path)
        return p if p.is_absolute() else PurePosixPath(self.workdir) / p

    def _call(self, request_id: int, request: bytes) -> Answer:
        try:
            self._channel.send(request)
            while True:
                answer = self._channel.receive()
                if answer.id == request_id:
                    return answer  # (an older id is the late answer of a cancelled command)
        except (OSError, EOFError, ValueError) as exc:
            detail = self._channel.stderr_tail.decode("utf-8", "replace").strip()
            self._broken = (f"docker sandbox {self.container_id[:12]} stopped answering (container killed or out "
                            f"of memory?): {type(exc).__name__}: {exc}" + (f"; server said: {detail}" if detail else ""))
            raise SandboxError(self._broken) from exc

    def _kill(self, request_id: int) -> None:
        try:
            self._channel.send(f"kill {request_id}\n".encode())
        except OSError:  # the container is gone: nothing left to kill
            pass

    async def exec(self, cmd: str, timeout: float | None = None, cwd: str | None = None) -> ExecResult:
        if self._broken:
            raise SandboxError(self._broken)
        limit = max(self._config.command_timeout_s if timeout is None else timeout, 0)
        workdir = str(self._path(cwd)) if cwd else self.workdir
        async with self._lock:
            self._next_id += 1
            request_id = self._next_id
            request = run_request(request_id, cmd, workdir, limit, self._config.max_output_bytes)
            t0 = time.monotonic()
            future = asyncio.ensure_future(asyncio.to_thread(self._call, request_id, request))
            try:
                answer = await asyncio.wait_for(asyncio.shield(future), timeout=limit + _ANSWER_GRACE_S)
            except TimeoutError:
                self._broken = (f"docker sandbox {self.container_id[:12]} gave no answer {_ANSWER_GRACE_S:.0f}s past "
                                f"the command's {limit:.0f}s timeout")
                self._channel.close()
                raise SandboxError(self._broken) from None
            except asyncio.CancelledError:  # the command must not outlive the attempt
                self._kill(request_id)
                await run_shielded(asyncio.wait([future], timeout=5))
                if not future.done():  # its late answer would reach the next command: retire the channel
                    self._broken = f"docker sandbox {self.container_id[:12]}: a cancelled command did not stop"
                    self._channel.close()
                raise
        return ExecResult(exit_code=TIMEOUT_EXIT_CODE if answer.timed_out else answer.code, stdout=answer.stdout,
                          stderr=answer.stderr, duration_s=time.monotonic() - t0, truncated=answer.truncated,
                          timed_out=answer.timed_out)

    async def read_file(self, path: str) -> bytes:
        target = self._path(path)
        try:
            stream, _ = await asyncio.to_thread(self._api.get_archive, self.container_id, str(target))
            raw = b"".join(stream)
        except Exception as exc:
            if "404" in str(exc) or "No such" in str(exc) or "Could not find" in str(exc):
                raise FileNotFoundError(str(target)) from exc
            raise SandboxError(f"docker get_archive {target}: {exc}") from exc
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            member = tar.next()
            if member is None or not member.isfile():
                raise FileNotFoundError(str(target))
            return tar.extractfile(member).read()

    async def write_file(self, path: str, data: bytes) -> None:
        target = self._path(path)
        parent = str(target.parent)
        result = await self.exec(f"mkdir -p {shlex.quote(parent)}", timeout=30)
        if result.exit_code != 0:
            raise SandboxError(f"cannot create {parent} in the sandbox: {result.stderr.strip()}")
        ok = await asyncio.to_thread(self._api.put_archive, self.container_id, parent, _tar_of({target.name: data}))
        if not ok:
            raise SandboxError(f"docker put_archive {target} failed")


class DockerSandboxProvider:
    """`resolve_image(recipe_name) -> tag` builds the image on first use (agentbench.sandbox.images)."""

    name = "docker"

    def __init__(self, client: Any, config: DockerSandboxConfig, resolve_image: Callable[[str], str],
                 labels: dict[str, str] | None = None,
                 resolve_env: Callable[[dict[str, Any]], str] | None = None) -> None:
        self._client = client
        self._config = config
        self._resolve_image = resolve_image
        self._resolve_env = resolve_env
        self._labels = {LABEL: "1", **(labels or {})}
        self._images: dict[str, str] = {}
        # Containers are removed off the attempt's critical path (the next attempt starts meanwhile);
        # aclose() waits for every removal. Non-daemon threads: an exiting interpreter still finishes them.
        self._remover = ThreadPoolExecutor(max_workers=2, thread_name_prefix="agentbench-remove")
        self._removals: set[Future[None]] = set()

    def prepare(self, tasks: list[Task]) -> dict[str, str]:
        """Remove this run's leftovers (a killed run being resumed), then build (or find) every image the
        run needs before its attempts start, once. An environment that cannot be built or pulled does not
        stop the run: its task id maps to the reason (the build log's tail) in the result."""
        extra = {k: v for k, v in self._labels.items() if k != LABEL}
        if extra:
            prune(self._client, extra)
        failed: dict[str, str] = {}
        for task in {t.id: t for t in tasks}.values():
            if task.sandbox.recipe is None:
                self._image(task)  # our own recipes: a failure is the installation's, it stops the run
                continue
            try:
                self._image(task)
            except (ImageBuildError, ImagePullError, OSError, RuntimeError) as exc:
                failed[task.id] = str(exc)
        return failed

    def _image(self, task: Task) -> str:
        recipe = task.sandbox.recipe
        key = task.sandbox.image if recipe is None else json.dumps(recipe, sort_keys=True)
        if key not in self._images:
            if recipe is None:
                self._images[key] = self._resolve_image(task.sandbox.image)
            elif self._resolve_env is None:
                raise SandboxError(f"task {task.id} needs a built environment ({task.sandbox.image}) and this "
                                   f"docker provider has no environment builder")
            else:
                self._images[key] = self._resolve_env(recipe)
        return self._images[key]

    def _create(self, task: Task) -> tuple[str, _Channel]:
        """Create the container, attach to its command server's stdin/stdout, start it."""
        cfg, api = self._config, self._client.api
        host_config = api.create_host_config(
            init=True, auto_remove=True, network_mode=cfg.network, mem_limit=cfg.memory, memswap_limit=cfg.memory,
            nano_cpus=int(cfg.cpus * 1e9), pids_limit=cfg.pids_limit,
            cap_drop=["ALL"] if cfg.drop_capabilities else None,
            security_opt=["no-new-privileges"] if cfg.no_new_privileges else None)
        workdir = task.sandbox.workdir or cfg.workdir
        container_id = api.create_container(
            self._image(task), SERVER_COMMAND, user=cfg.user, working_dir=workdir,
            stdin_open=True, labels={**self._labels, f"{LABEL}.task": task.id},
            # HOME outside a task's own workdir (a repo): caches written there must not become its diff
            environment={"HOME": cfg.workdir if workdir == cfg.workdir else "/tmp", "LANG": "C.UTF-8"},
            host_config=host_config)["Id"]
        try:
            channel = _Channel(api.attach_socket(container_id, params={"stdin": 1, "stdout": 1, "stderr": 1,
                                                                       "stream": 1}))
            api.start(container_id)
        except BaseException:
            _remove(api, container_id)
            raise
        return container_id, channel

    @asynccontextmanager
    async def open(self, task: Task) -> AsyncIterator[DockerSandbox]:
        api = self._client.api
        try:
            container_id, channel = await asyncio.to_thread(self._create, task)
        except SandboxError:
            raise
        except Exception as exc:
            raise SandboxError(f"cannot start a docker container for {task.id}: {type(exc).__name__}: {exc}") from exc
        try:
            if task.inputs.files:
                files = {p.name: p.read_bytes() for p in task.inputs.files}
                if not await asyncio.to_thread(api.put_archive, container_id, self._config.workdir, _tar_of(files)):
                    raise SandboxError(f"cannot copy the attachments of {task.id} into the container")
            sandbox = DockerSandbox(api, container_id, channel, self._config, task.sandbox.workdir)
            for command in task.sandbox.setup:
                result = await sandbox.exec(command, timeout=max(self._config.command_timeout_s, 300))
                if result.exit_code != 0:
                    raise SandboxError(f"sandbox setup for {task.id} failed: `{command}` exited {result.exit_code}: "
                                       f"{(result.stderr or result.stdout).strip()[-500:]}")
            yield sandbox
        finally:  # synchronous, so it runs even when the attempt is being cancelled
            channel.close()  # EOF: the command server kills what runs and exits; the engine auto-removes
            self._schedule_removal(container_id)

    def _schedule_removal(self, container_id: str) -> None:
        future = self._remover.submit(_remove, self._client.api, container_id)
        self._removals.add(future)
        future.add_done_callback(self._removals.discard)

    def wait_removals(self) -> None:
        """Block until every container this provider opened is removed."""
        futures_wait(list(self._removals))

    async def aclose(self) -> None:
        if self._removals:
            await asyncio.to_thread(self.wait_removals)


def _remove(api: Any, container_id: str) -> None:
    """Remove the container; a 404 (already gone) or 409 (the engine's auto-remove is under way) is fine."""
    try:
        api.remove_container(container_id, force=True)
    except Exception as exc:
        if getattr(getattr(exc, "response", None), "status_code", None) == 409:  # auto-remove under way
            try:
                api.wait(container_id, timeout=30, condition="removed")
            except Exception:  # gone before we could wait for it
                pass


def prune(client: Any, labels: dict[str, str] | None = None) -> int:
    """Remove every container carrying our label (and these labels, when given); returns how many."""
    wanted = [LABEL] + [f"{k}={v}" for k, v in (labels or {}).items()]
    leftovers = client.containers.list(all=True, filters={"label": wanted})
    for container in leftovers:
        _remove(client.api, container.id)
    return len(leftovers)
