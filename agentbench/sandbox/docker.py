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
import shlex
import tarfile
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import PurePosixPath
from typing import Any, AsyncIterator, Callable, Literal

from pydantic import BaseModel, ConfigDict

from agentbench.protocols import ExecResult, Sandbox, SandboxError, Task
from agentbench.sandbox.base import OutputBuffer, run_shielded

LABEL = "agentbench"
TIMEOUT_EXIT_CODE = 124
_PIDS = "/tmp/.agentbench"

# The wrapper: run the command in its own session, remember its id, wait, then kill whatever the
# command left behind (background jobs would otherwise hold the output stream open).
_WRAPPER = (f'mkdir -p {_PIDS}; setsid bash -c "$1" </dev/null & pid=$!; echo $pid > {_PIDS}/$2; '
            f'wait $pid; code=$?; kill -KILL -- -$pid 2>/dev/null; rm -f {_PIDS}/$2; exit $code')


class DockerSandboxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    network: Literal["none", "bridge"] = "none"
    memory: str = "1g"
    cpus: float = 1.0
    pids_limit: int = 256
    user: str = "1000:1000"
    workdir: str = "/workspace"
    command_timeout_s: float = 60.0
    max_output_bytes: int = 16_384
    drop_capabilities: bool = True
    no_new_privileges: bool = True


def _tar_of(files: dict[str, bytes], uid: int = 1000, gid: int = 1000) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), 0o644, uid, gid, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class DockerSandbox(Sandbox):
    def __init__(self, container: Any, config: DockerSandboxConfig) -> None:
        self._container = container
        self._api = container.client.api
        self._config = config
        self.workdir = config.workdir

    def _path(self, path: str) -> PurePosixPath:
        p = PurePosixPath(path)
        return p if p.is_absolute() else PurePosixPath(self.workdir) / p

    def _run_blocking(self, cmd: list[str], cwd: str, out: OutputBuffer, err: OutputBuffer) -> str:
        try:
            exec_id = self._api.exec_create(self._container.id, cmd, workdir=cwd, user=self._config.user)["Id"]
            for stdout, stderr in self._api.exec_start(exec_id, stream=True, demux=True):
                if stdout:
                    out.feed(stdout)
                if stderr:
                    err.feed(stderr)
        except Exception as exc:  # the engine or the container failed, not the command
            raise SandboxError(f"docker exec failed: {type(exc).__name__}: {exc}") from exc
        return exec_id

    def _kill_tree(self, token: str) -> None:
        script = f"test -f {_PIDS}/{token} && kill -KILL -- -$(cat {_PIDS}/{token}) 2>/dev/null; true"
        try:
            exec_id = self._api.exec_create(self._container.id, ["bash", "-c", script], user=self._config.user)["Id"]
            self._api.exec_start(exec_id)
        except Exception:  # the container is gone: nothing left to kill
            pass

    async def exec(self, cmd: str, timeout: float | None = None, cwd: str | None = None) -> ExecResult:
        limit = self._config.command_timeout_s if timeout is None else timeout
        workdir = str(self._path(cwd)) if cwd else self.workdir
        token = uuid.uuid4().hex
        out, err = OutputBuffer(self._config.max_output_bytes), OutputBuffer(self._config.max_output_bytes)
        t0 = time.monotonic()
        future = asyncio.ensure_future(asyncio.to_thread(
            self._run_blocking, ["bash", "-c", _WRAPPER, "agentbench", cmd, token], workdir, out, err))
        timed_out = False
        try:
            exec_id = await asyncio.wait_for(asyncio.shield(future), timeout=max(limit, 0))
        except TimeoutError:
            timed_out = True
            await asyncio.to_thread(self._kill_tree, token)
            exec_id = await future
        except BaseException:  # cancelled: the command must not outlive the attempt
            await run_shielded(asyncio.to_thread(self._kill_tree, token))
            raise
        try:
            info = await asyncio.to_thread(self._api.exec_inspect, exec_id)
        except Exception as exc:
            raise SandboxError(f"docker exec inspect failed: {exc}") from exc
        code = info.get("ExitCode")
        if code is None:
            raise SandboxError("docker exec returned no exit code (the container may have died)")
        return ExecResult(exit_code=TIMEOUT_EXIT_CODE if timed_out else code, stdout=out.text(), stderr=err.text(),
                          duration_s=time.monotonic() - t0, truncated=out.truncated or err.truncated,
                          timed_out=timed_out)

    async def read_file(self, path: str) -> bytes:
        target = self._path(path)
        try:
            stream, _ = await asyncio.to_thread(self._container.get_archive, str(target))
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
        ok = await asyncio.to_thread(self._container.put_archive, parent, _tar_of({target.name: data}))
        if not ok:
            raise SandboxError(f"docker put_archive {target} failed")


class DockerSandboxProvider:
    """`resolve_image(recipe_name) -> tag` builds the image on first use (agentbench.sandbox.images)."""

    name = "docker"

    def __init__(self, client: Any, config: DockerSandboxConfig, resolve_image: Callable[[str], str],
                 labels: dict[str, str] | None = None) -> None:
        self._client = client
        self._config = config
        self._resolve_image = resolve_image
        self._labels = {LABEL: "1", **(labels or {})}
        self._images: dict[str, str] = {}

    def prepare(self, recipes: set[str]) -> None:
        """Remove this run's leftovers (a killed run being resumed), then build (or find) every image the
        run needs before its attempts start, once."""
        extra = {k: v for k, v in self._labels.items() if k != LABEL}
        if extra:
            prune(self._client, extra)
        for name in sorted(recipes):
            self._image(name)

    def _image(self, recipe: str) -> str:
        if recipe not in self._images:
            self._images[recipe] = self._resolve_image(recipe)
        return self._images[recipe]

    def _create(self, task: Task) -> Any:
        cfg = self._config
        image = self._image(task.sandbox.image)
        return self._client.containers.run(
            image, ["sleep", "infinity"], detach=True, init=True, network_mode=cfg.network, mem_limit=cfg.memory,
            memswap_limit=cfg.memory, nano_cpus=int(cfg.cpus * 1e9), pids_limit=cfg.pids_limit, user=cfg.user,
            working_dir=cfg.workdir, cap_drop=["ALL"] if cfg.drop_capabilities else None,
            security_opt=["no-new-privileges"] if cfg.no_new_privileges else None,
            labels={**self._labels, f"{LABEL}.task": task.id}, environment={"HOME": cfg.workdir, "LANG": "C.UTF-8"})

    @asynccontextmanager
    async def open(self, task: Task) -> AsyncIterator[DockerSandbox]:
        try:
            container = await asyncio.to_thread(self._create, task)
        except SandboxError:
            raise
        except Exception as exc:
            raise SandboxError(f"cannot start a container for {task.id}: {type(exc).__name__}: {exc}") from exc
        try:
            if task.inputs.files:
                files = {p.name: p.read_bytes() for p in task.inputs.files}
                if not await asyncio.to_thread(container.put_archive, self._config.workdir, _tar_of(files)):
                    raise SandboxError(f"cannot copy the attachments of {task.id} into the container")
            yield DockerSandbox(container, self._config)
        finally:
            await run_shielded(asyncio.to_thread(_remove, container))


def _remove(container: Any) -> None:
    try:
        container.remove(force=True)
    except Exception:  # already gone (killed from outside): nothing to clean
        pass


def prune(client: Any, labels: dict[str, str] | None = None) -> int:
    """Remove every container carrying our label (and these labels, when given); returns how many."""
    wanted = [LABEL] + [f"{k}={v}" for k, v in (labels or {}).items()]
    leftovers = client.containers.list(all=True, filters={"label": wanted})
    for container in leftovers:
        _remove(container)
    return len(leftovers)
