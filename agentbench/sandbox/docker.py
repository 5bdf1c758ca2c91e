"""The Docker sandbox: one fresh container per attempt, from a locally built image, isolated by default.

Isolation (each configurable; the layout is in docker_config.py): no network (grading sandboxes,
`open_grading`: sandbox.grading_network, see network.py); memory, CPU, pids and
open-files limits; commands run as the agent's uid under a root command server that keeps only CAP_SETUID,
CAP_SETGID and CAP_KILL (the agent cannot signal it), no-new-privileges; a read-only root filesystem, the
attempt's writes held by size-capped tmpfs volumes (the workdir, filled from the image, and /tmp).
Commands run in their own session inside the container; a command past its timeout has its whole process
tree killed there, and the container keeps answering. Files go in and out with put_archive /
get_archive. Every container and volume carries the `agentbench` label, so `agentbench sandbox prune`
finds leftovers.
"""

from __future__ import annotations

import asyncio
import errno
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path, PurePosixPath
from typing import Any, AsyncIterator, Callable

from agentbench.protocols import ExecResult, FileTooLargeError, Sandbox, SandboxError, Task
from agentbench.swe_spec import SweSpec
from agentbench.sandbox.base import TIMEOUT_EXIT_CODE, request_timeout, run_shielded
from agentbench.sandbox.docker_config import (TMP, DockerSandboxConfig, agent_ids, host_config, parse_size, rooms,
                                              tar_of, tmpfs_volume)
from agentbench.sandbox.docker_content import Content, ContentCache
from agentbench.sandbox.docker_wire import (Answer, Channel, Frame, file_failure, parse_answer, read_request,
                                            run_request, split_frames, write_request)
from agentbench.sandbox.images import ImageBuildError
from agentbench.sandbox.network import BRIDGE, grading_network_enabled, machine_has_network
from agentbench.sandbox.official_images import ImagePullError
from agentbench.sandbox.swe_tags import TESTBED_ENV

__all__ = ["Answer", "DockerSandbox", "DockerSandboxConfig", "DockerSandboxProvider", "LABEL", "SERVER_COMMAND",
           "parse_answer", "prune", "run_request", "split_frames"]

LABEL = "agentbench"
_ANSWER_GRACE_S = 15.0  # past a command's own timeout, a silent container counts as dead
_SERVER_SOURCE = (Path(__file__).with_name("exec_server.py")).read_text(encoding="utf-8")
#: The container's main process: agentbench's command server (needs python3 in the image, which every
#: recipe has). -I: ignore the image's PYTHON* variables; -S: skip site (starts faster). The provider adds
#: `--agent UID:GID`: the uid every command drops to.
SERVER_COMMAND = ["python3", "-I", "-S", "-c", _SERVER_SOURCE]


class DockerSandbox(Sandbox):
    def __init__(self, api: Any, container_id: str, channel: Channel, config: DockerSandboxConfig,
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

    def _call(self, request_id: int, request: bytes) -> Frame:
        try:
            self._channel.send(request)
            while True:
                answer = self._channel.receive()
                if answer.id == request_id:
                    return answer  # (an older id is the late answer of a cancelled command)
        except (OSError, EOFError, ValueError) as exc:
            detail = self._channel.stderr_tail.decode("utf-8", "replace").strip()
            self._broken = (f"docker sandbox {self.container_id[:12]} stopped answering ({self._death()}): "
                            f"{type(exc).__name__}: {exc}" + (f"; server said: {detail}" if detail else ""))
            raise SandboxError(self._broken) from exc

    def _death(self) -> str:
        """Why the container stopped answering, as far as the engine still knows."""
        try:
            state = self._api.inspect_container(self.container_id)["State"]
        except Exception:  # noqa: BLE001 - removed already (auto-remove)
            return "the container is gone: killed from outside, or out of memory?"
        if state.get("OOMKilled"):
            return "out of memory: the OOM killer struck in this container and its command server is gone"
        return f"container {state.get('Status')}, exit code {state.get('ExitCode')}"

    def _kill(self, request_id: int) -> None:
        try:
            self._channel.send(f"kill {request_id}\n".encode())
        except OSError:  # the container is gone: nothing left to kill
            pass

    def _limit(self, timeout: float | None) -> float:
        return request_timeout(timeout, self._config.command_timeout_s)

    async def exec(self, cmd: str, timeout: float | None = None, cwd: str | None = None) -> ExecResult:
        limit = self._limit(timeout)
        workdir = str(self._path(cwd)) if cwd else self.workdir
        t0 = time.monotonic()
        answer = (await self._request(lambda rid: run_request(rid, cmd, workdir, limit, self._config.max_output_bytes),
                                      limit)).answer()
        return ExecResult(exit_code=TIMEOUT_EXIT_CODE if answer.timed_out else answer.code, stdout=answer.stdout,
                          stderr=answer.stderr, duration_s=time.monotonic() - t0, truncated=answer.truncated,
                          timed_out=answer.timed_out)

    async def _request(self, build: Callable[[int], bytes], limit: float) -> Frame:
        """Send one request (`build(id)`) and wait for its answer; a cancelled request is killed in the container."""
        if self._broken:
            raise SandboxError(self._broken)
        async with self._lock:
            self._next_id += 1
            request_id = self._next_id
            request = build(request_id)
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
        return answer

    async def read_file(self, path: str) -> bytes:
        """The bytes of `path`, read by the command server as the agent (its permissions; the command
        timeout): FileTooLargeError past `max_read_bytes`, of which no more than that ever reaches this
        process; FileNotFoundError, PermissionError, IsADirectoryError... as the agent's `cat` would meet."""
        target, cap, limit = str(self._path(path)), self._config.max_read_bytes, self._limit(None)
        frame = await self._request(lambda rid: read_request(rid, target, limit, cap), limit)
        self._raise_failure(frame, "read", target)
        return frame.out_head

    async def write_file(self, path: str, data: bytes) -> None:
        """Write `data` at `path` as the agent (parent folders made; a new file is the agent's, mode 0644). The
        agent's own failures are OSErrors, not SandboxErrors: PermissionError where it may not write (the
        read-only root: only the workdir, /tmp and writable_paths take writes; files it does not own),
        ENOSPC past the room there."""
        target, limit = str(self._path(path)), self._limit(None)
        self._raise_failure(await self._request(lambda rid: write_request(rid, target, data, limit), limit),
                            "write", target)

    def _raise_failure(self, frame: Frame, verb: str, target: str) -> None:
        failure = file_failure(frame)
        if failure is None:
            return
        code, size = failure
        if code == errno.EFBIG:
            raise FileTooLargeError(target, self._config.max_read_bytes, size if size >= 0 else None)
        if code == errno.EROFS:
            raise PermissionError(code, f"cannot {verb}: read-only file system (writable: the workdir, {TMP} and "
                                        f"sandbox.writable_paths)", target)
        if code in (errno.ENOSPC, errno.EDQUOT):  # the agent filled it: its failure, not the sandbox's
            raise OSError(errno.ENOSPC, f"cannot {verb}: no space left on device (sandbox.disk_limit / tmp_size)",
                          target)
        if code == errno.EEXIST:  # a file where write_file needs a folder
            raise NotADirectoryError(errno.ENOTDIR, f"cannot {verb}: a parent is not a directory", target)
        if code:
            raise OSError(code, f"cannot {verb}: {os.strerror(code)}", target)  # FileNotFoundError for ENOENT...
        detail = f"timed out after {self._limit(None):.0f}s" if frame.timed_out else f"exit code {frame.code}"
        raise SandboxError(f"docker sandbox {self.container_id[:12]}: {verb}_file {target} failed ({detail}): "
                           f"{frame.err_head[-500:].decode('utf-8', 'replace')}")


class DockerSandboxProvider:
    """`resolve_image(recipe_name) -> tag` builds the image on first use (agentbench.sandbox.images);
    `resolve_env(swe) -> tag` builds (or pulls) a SWE-bench instance's environment (sandbox.swe_images)."""

    name = "docker"
    isolates = True  # conformance runs its isolation checks against it

    def __init__(self, client: Any, config: DockerSandboxConfig, resolve_image: Callable[[str], str],
                 labels: dict[str, str] | None = None,
                 resolve_env: Callable[[SweSpec], str] | None = None) -> None:
        self._client = client
        self._config = config
        self._resolve_image = resolve_image
        self._resolve_env = resolve_env
        self._labels = {LABEL: "1", **(labels or {})}
        self._images: dict[tuple[str, str], str] = {}  # (`recipe`, name) or (`swe`, the SweSpec's JSON) -> tag
        agent_ids(config.user)  # a clear error now, not at the first attempt
        self._content = ContentCache(client.api, self._labels)
        # Containers are removed off the attempt's critical path (the next attempt starts meanwhile);
        # aclose() waits for every removal. Non-daemon threads: an exiting interpreter still finishes them.
        self._grading_network: bool | None = None  # decided at the first grading sandbox
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
            if task.swe is None:
                self._image(task)  # our own recipes: a failure is the installation's, it stops the run
                continue
            try:
                self._image(task)
            except (ImageBuildError, ImagePullError, OSError, RuntimeError) as exc:
                failed[task.id] = str(exc)
        if any(t.swe is not None for t in tasks):
            self.grading_has_network()  # `auto` probes here (a thread), not in the event loop at the first grading
        return failed

    def _image(self, task: Task) -> str:
        swe = task.swe
        key = ("recipe", task.sandbox.image) if swe is None else ("swe", swe.model_dump_json())
        if key not in self._images:
            if swe is None:
                self._images[key] = self._resolve_image(task.sandbox.image)
            elif self._resolve_env is None:
                raise SandboxError(f"task {task.id} needs a built environment ({task.sandbox.image}) and this "
                                   f"docker provider has no environment builder")
            else:
                self._images[key] = self._resolve_env(swe)
        return self._images[key]

    def _writable(self, task: Task, image: str, workdir: str) -> list[tuple[str, Content]]:
        """(path, image content) of every tmpfs volume but /tmp: the workdir (empty when the image has none),
        then writable_paths and, for a SWE-bench environment, the one its eval script reinstalls into (those
        only where the image has them)."""
        cfg = self._config
        if cfg.disk_limit is None:
            return []
        uid, gid = agent_ids(cfg.user)
        found = self._content.get(image, workdir)
        volumes = [(workdir, found or Content(None, 0, 0, uid, gid, 0o755))]
        extra = [*cfg.writable_paths, *([TESTBED_ENV] if task.swe is not None else [])]
        for path in dict.fromkeys(p.rstrip("/") for p in extra):
            if path != workdir.rstrip("/") and (content := self._content.get(image, path)) is not None:
                volumes.append((path, content))
        return volumes

    def _create(self, task: Task, network: str | None = None) -> tuple[str, Channel]:
        """Create the container (`network`: a network mode instead of the config's), attach to its command
        server's stdin/stdout, start it, fill its volumes."""
        cfg, api = self._config, self._client.api
        image = self._image(task)
        workdir = task.sandbox.workdir or cfg.workdir
        uid, gid = agent_ids(cfg.user)
        labels = {**self._labels, f"{LABEL}.task": task.id}
        volumes = self._writable(task, image, workdir)
        room, extra_room = rooms(cfg, len(volumes) - 1)
        mounts = [tmpfs_volume(path, c.size, room if i == 0 else extra_room, c.files, c.owner, labels)
                  for i, (path, c) in enumerate(volumes)]
        if workdir.rstrip("/") != TMP:
            mounts.append(tmpfs_volume(TMP, 0, parse_size(cfg.tmp_size), 0, (0, 0, 0o1777), labels))
        container_id = api.create_container(
            image, [*SERVER_COMMAND, "--agent", f"{uid}:{gid}"], user="0:0", working_dir=workdir,
            stdin_open=True, labels=labels,
            # HOME outside a task's own workdir (a repo): caches written there must not become its diff
            environment={"HOME": cfg.workdir if workdir == cfg.workdir else TMP, "LANG": "C.UTF-8"},
            host_config=host_config(api, cfg if network is None else cfg.model_copy(update={"network": network}),
                                    mounts))["Id"]
        try:
            channel = Channel(api.attach_socket(container_id, params={"stdin": 1, "stdout": 1, "stderr": 1,
                                                                      "stream": 1}))
            api.start(container_id)
            for path, content in volumes:  # a tmpfs volume is filled while mounted: after the start
                self._fill(container_id, image, path, content)
        except BaseException:
            _remove(api, container_id)
            raise
        return container_id, channel

    def _fill(self, container_id: str, image: str, path: str, content: Content) -> None:
        for _ in range(2):
            if content.tar is None:
                return
            try:
                with open(content.tar, "rb") as tar:
                    if not self._client.api.put_archive(container_id, path, tar):
                        raise SandboxError(f"cannot fill {path} from the image {image}")
                return
            except FileNotFoundError:  # the export was dropped meanwhile (ContentCache's limit): export again
                content = self._content.get(image, path) or Content(None, 0, 0, 0, 0, 0)
        raise SandboxError(f"cannot fill {path} from the image {image}: its export keeps disappearing")

    def grading_has_network(self) -> bool:
        """Whether grading sandboxes get the default bridge (sandbox.grading_network; network.py's rule)."""
        if self._grading_network is None:
            self._grading_network = grading_network_enabled(self._config.grading_network, self._config.network,
                                                            machine_has_network)
        return self._grading_network

    def open_grading(self, task: Task) -> AbstractAsyncContextManager[DockerSandbox]:
        """A fresh sandbox for grading `task` (scoring.swebench): as `open`, with the engine's default bridge
        where grading_has_network(). The agent's sandboxes (`open`) keep the config's network."""
        return self.open(task, network=BRIDGE if self.grading_has_network() else None)

    @asynccontextmanager
    async def open(self, task: Task, network: str | None = None) -> AsyncIterator[DockerSandbox]:
        api = self._client.api
        try:
            container_id, channel = await asyncio.to_thread(self._create, task, network)
        except SandboxError:
            raise
        except Exception as exc:
            raise SandboxError(f"cannot start a docker container for {task.id}: {type(exc).__name__}: {exc}") from exc
        try:
            sandbox = DockerSandbox(api, container_id, channel, self._config, task.sandbox.workdir)
            if task.inputs.files:
                files = {p.name: p.read_bytes() for p in task.inputs.files}
                if not await asyncio.to_thread(api.put_archive, container_id, sandbox.workdir,
                                               tar_of(files, *agent_ids(self._config.user))):
                    raise SandboxError(f"cannot copy the attachments of {task.id} into the container")
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
    """Remove the container and its volumes; a 404 (already gone) or 409 (the engine's auto-remove, which
    takes the anonymous volumes too, is under way) is fine."""
    try:
        api.remove_container(container_id, force=True, v=True)
    except Exception as exc:
        if getattr(getattr(exc, "response", None), "status_code", None) == 409:  # auto-remove under way
            try:
                api.wait(container_id, timeout=30, condition="removed")
            except Exception:  # gone before we could wait for it
                pass


def prune(client: Any, labels: dict[str, str] | None = None) -> int:
    """Remove every container carrying our label (and these labels, when given), then the volumes so labelled
    that no container uses any more; returns how many containers."""
    wanted = [LABEL] + [f"{k}={v}" for k, v in (labels or {}).items()]
    leftovers = client.containers.list(all=True, filters={"label": wanted})
    for container in leftovers:
        _remove(client.api, container.id)
    for volume in client.volumes.list(filters={"label": wanted, "dangling": True}):
        try:
            volume.remove(force=True)
        except Exception:  # noqa: BLE001 - in use again, or gone meanwhile
            pass
    return len(leftovers)
