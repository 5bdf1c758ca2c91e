"""Official prebuilt images (SWE-bench's `image` field) pulled from a registry instead of built here.

A SWE-bench row names its environment as `swebench/sweb.eval.x86_64.<instance>:latest`, an image on
Docker Hub. `sandbox.swe_images` chooses what to do with it:

- `build`: ignore it; the caller builds the environment locally (swe_images.py). The engine is not touched.
- `pull`: pull it (from `sandbox.swe_registry` when set, else Docker Hub); any failure raises ImagePullError.
- `auto`: use a local image of that name if the engine has one, else try to pull it; when that fails,
  log one line and return None, so the caller builds locally. A pull that fails because the registry
  does not answer (DNS, connection refused, timeouts: `registry_unreachable`) marks that registry down
  for the rest of the process (`RegistryReach`, one per process by default): one line says so, and
  later rows do not ask it again (offline, a 500-row suite costs one failed pull, not 500).

`qualified(image, registry)` is the name pulled: the image itself for Docker Hub, `REGISTRY/IMAGE:TAG`
for another registry (a mirror, or a loopback one in tests). `push_image` puts a local image there
(tests; multi-node runs sharing images).

Pulls and pushes go through the engine's HTTP API with bounded waits: connecting to the engine, each
silence of the engine (no progress message for `idle_timeout_s`), and the whole transfer. The engine
reports an unreachable registry (connection refused) at once; a registry that never answers is cut
short by the idle timeout instead of hanging.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Iterator, Literal
from urllib.parse import quote

import docker
import requests
from docker import auth
from docker.errors import APIError, DockerException, ImageNotFound
from docker.utils import parse_repository_tag
from docker.utils.json_stream import json_stream

from agentbench.sandbox.images import Log, image_exists

SweImageMode = Literal["auto", "pull", "build"]
MODES: tuple[str, ...] = ("auto", "pull", "build")
DEFAULT_TAG = "latest"
DOCKER_HUB = "Docker Hub"
_HUB_PREFIXES = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")
CONNECT_TIMEOUT_S = 10.0  # reaching the engine itself
PULL_IDLE_TIMEOUT_S = 120.0  # the engine said nothing for this long: give up (it reports progress while it works)
PULL_TIMEOUT_S = 3600.0  # a whole pull (SWE-bench images are a few GB)
PUSH_TIMEOUT_S = 3600.0
_REASON_MAX = 400
_QUIET_STATUSES = {"Waiting", "Verifying Checksum", "Preparing"}  # steps between the ones worth a line
#: What the engine says when no registry answered (as opposed to a registry refusing the name).
_UNREACHABLE = re.compile(r"dial tcp|no such host|connection refused|i/o timeout|network is unreachable|"
                          r"no route to host|tls handshake timeout|client\.timeout|server misbehaving|"
                          r"temporary failure in name resolution|no progress from the engine", re.IGNORECASE)


class RegistryError(RuntimeError):
    """Base of ImagePullError and ImagePushError."""

    verb, preposition = "using", "with"

    def __init__(self, image: str | None, registry: str | None, reason: str):
        self.image, self.registry = image, registry
        self.reason = _one_line(reason)
        where = registry or DOCKER_HUB
        what = f"image {image!r}" if image else "an image"
        super().__init__(f"{self.verb} {what} {self.preposition} {where} failed: {self.reason}")


class ImagePullError(RegistryError):
    """An official image could not be pulled: unknown name, registry unreachable, engine error."""

    verb, preposition = "pulling", "from"


class ImagePushError(RegistryError):
    """A local image could not be pushed to a registry."""

    verb, preposition = "pushing", "to"


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 3] + "..."


# ------------------------------------------------------------------------------------------- names

def _normal_registry(registry: str | None) -> str | None:
    if registry is None:
        return None
    host = registry.strip().rstrip("/")
    if not host:
        return None
    if "://" in host:
        raise ValueError(f"a registry is host[:port], without a scheme: {registry!r}")
    return host


def _with_tag(name: str) -> str:
    """`name` with `:latest` added when it has neither a tag nor a digest."""
    if "@" in name:
        return name
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:{DEFAULT_TAG}"


def qualified(image: str, registry: str | None) -> str:
    """The name to pull `image` by: as is for Docker Hub (registry None); else `REGISTRY/IMAGE:TAG`
    (a leading `docker.io/` dropped, the tag kept, `:latest` when there is none, a digest kept)."""
    image = image.strip()
    if not image:
        raise ValueError("an empty image name")
    host = _normal_registry(registry)
    if host is None:
        return image
    for prefix in _HUB_PREFIXES:
        if image.startswith(prefix):
            image = image[len(prefix):]
            break
    return f"{host}/{_with_tag(image)}"


def _split(ref: str) -> tuple[str, str]:
    repo, tag = parse_repository_tag(ref)
    return repo, tag or DEFAULT_TAG


# ------------------------------------------------------------------------------------------ engine

class _EngineRefused(RuntimeError):
    """The engine answered the request itself with an HTTP error (its message is the reason)."""


def _engine_stream(client: docker.DockerClient, path: str, params: dict[str, str], headers: dict[str, Any],
                   idle_timeout_s: float, timeout_s: float) -> Iterator[dict[str, Any]]:
    """POST to the engine and yield its JSON progress messages, with bounded waits (see the module doc).
    Raises TimeoutError, requests errors, or _EngineRefused (the engine's message) on an HTTP error."""
    api = client.api
    url = f"{api.base_url}/v{api.api_version}{path}"
    deadline = time.monotonic() + timeout_s
    response = api.post(url, params=params, headers=headers, stream=True,
                        timeout=(CONNECT_TIMEOUT_S, idle_timeout_s))
    try:
        if response.status_code >= 400:
            try:
                message = response.json().get("message") or response.text
            except ValueError:
                message = response.text
            raise _EngineRefused(f"{message} (engine HTTP {response.status_code})")
        for message in json_stream(response.iter_content(chunk_size=None)):
            if isinstance(message, dict):
                yield message
            if time.monotonic() > deadline:
                raise TimeoutError(f"not done after {timeout_s:.0f} s")
    finally:
        response.close()


def _error_of(message: dict[str, Any]) -> str | None:
    if "error" in message or "errorDetail" in message:
        detail = message.get("errorDetail") or {}
        return str(message.get("error") or detail.get("message") or message)
    return None


class _Progress:
    """Logs one line per (layer, status) change (the uninformative steps left out), and each distinct line
    without a layer once."""

    def __init__(self, ref: str, log: Log):
        self.ref, self.log = ref, log
        self.status: dict[str, str] = {}
        self.seen: set[str] = set()

    def __call__(self, message: dict[str, Any]) -> None:
        status = str(message.get("status") or "").strip()
        if not status:
            return
        layer = str(message.get("id") or "")
        if layer and re.fullmatch(r"[0-9a-f]{12,64}", layer):
            if self.status.get(layer) == status or status in _QUIET_STATUSES:
                return
            self.status[layer] = status
            self.log(f"{self.ref}: layer {layer[:12]}: {status}")
        elif status not in self.seen:
            self.seen.add(status)
            self.log(f"{self.ref}: {status}" + (f" ({layer})" if layer else ""))


def _classify(exc: BaseException, idle_timeout_s: float) -> str:
    silent = (isinstance(exc, requests.exceptions.ReadTimeout)
              or (isinstance(exc, requests.exceptions.ConnectionError) and "read timed out" in str(exc).lower()))
    if silent:
        return f"no progress from the engine for {idle_timeout_s:.0f} s (is the registry answering?)"
    if isinstance(exc, TimeoutError):
        return str(exc)
    if isinstance(exc, requests.exceptions.RequestException):
        return f"engine unreachable: {exc}"
    return str(exc) or exc.__class__.__name__


def pull_image(client: docker.DockerClient, image: str, registry: str | None, log: Log = print,
               idle_timeout_s: float = PULL_IDLE_TIMEOUT_S, timeout_s: float = PULL_TIMEOUT_S) -> str:
    """Pull `qualified(image, registry)` and return that reference (which the engine now has).
    Logs the engine's progress sparingly (one line per layer status change). Raises ImagePullError."""
    if not image or not image.strip():
        raise ImagePullError(None, registry, "the row names no image")
    try:
        ref = qualified(image, registry)
    except ValueError as exc:
        raise ImagePullError(image, registry, str(exc)) from exc
    repo, tag = _split(ref)
    headers: dict[str, Any] = {}
    started = time.monotonic()
    progress = _Progress(ref, log)
    try:
        header = auth.get_config_header(client.api, auth.resolve_repository_name(repo)[0])
        if header:
            headers["X-Registry-Auth"] = header
        for message in _engine_stream(client, "/images/create", {"fromImage": repo, "tag": tag}, headers,
                                      idle_timeout_s, timeout_s):
            error = _error_of(message)
            if error is not None:
                raise ImagePullError(image, registry, error)
            progress(message)
        if not image_exists(client, ref):
            raise ImagePullError(image, registry, f"the engine finished the pull but has no {ref}")
    except ImagePullError:
        raise
    except (APIError, DockerException, requests.exceptions.RequestException, _EngineRefused, TimeoutError,
            OSError, ValueError) as exc:
        raise ImagePullError(image, registry, _classify(exc, idle_timeout_s)) from exc
    log(f"pulled {ref} in {time.monotonic() - started:.1f} s")
    return ref


def registry_unreachable(reason: str) -> bool:
    """Whether a pull failed because the registry did not answer (not because it refused the image)."""
    return bool(_UNREACHABLE.search(reason))


class RegistryReach:
    """The registries found not answering (`None` is Docker Hub), remembered for this object's life: the
    process's by default (`PROCESS_REACH`). Thread-safe."""

    def __init__(self) -> None:
        self._down: dict[str | None, str] = {}
        self._lock = threading.Lock()

    def down(self, registry: str | None) -> str | None:
        """Why `registry` was found not answering, or None."""
        with self._lock:
            return self._down.get(_normal_registry(registry))

    def mark_down(self, registry: str | None, reason: str) -> bool:
        """Remember `registry` as not answering; True the first time."""
        with self._lock:
            key = _normal_registry(registry)
            first = key not in self._down
            self._down.setdefault(key, reason)
            return first


PROCESS_REACH = RegistryReach()


def resolve_official_image(client: docker.DockerClient, image: str | None, mode: SweImageMode,
                           registry: str | None, log: Log = print,
                           reach: RegistryReach = PROCESS_REACH) -> str | None:
    """The local reference of the row's official image, or None when the caller should build locally.

    `build`: None, without touching the engine. `pull`: pull_image (its ImagePullError propagates; a row
    without an image raises too). `auto`: the qualified or the bare name if the engine has either, else a
    pull, unless `reach` knows the registry does not answer; a failed pull logs one line and gives None (a
    registry found not answering: one line for the process, then silence). A row without an image gives
    None (but in `pull`)."""
    if mode not in MODES:
        raise ValueError(f"sandbox.swe_images must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "build":
        return None
    image = (image or "").strip()
    if not image:
        if mode == "pull":
            raise ImagePullError(None, registry, "the row names no image")
        return None
    if mode == "pull":
        return pull_image(client, image, registry, log)
    try:
        candidates = list(dict.fromkeys([qualified(image, registry), image, _with_tag(image)]))
    except ValueError as exc:
        log(f"official image {image} not available ({exc}); building locally")
        return None
    for candidate in candidates:
        try:
            if image_exists(client, candidate):
                return candidate
        except (APIError, DockerException, requests.exceptions.RequestException) as exc:
            log(f"official image {image} not available (engine error: {_one_line(str(exc))}); building locally")
            return None
    if reach.down(registry) is not None:
        return None
    try:
        return pull_image(client, image, registry, log)
    except ImagePullError as exc:
        if not registry_unreachable(exc.reason):
            log(f"official image {image} not available ({exc.reason}); building locally")
        elif reach.mark_down(registry, exc.reason):
            log(f"official image {image} not available ({exc.reason}); {registry or DOCKER_HUB} does not answer: "
                f"every environment is built locally from now on, without asking it again "
                f"(sandbox.swe_images: auto)")
        return None


def push_image(client: docker.DockerClient, local_ref: str, registry: str | None, image: str,
               log: Log | None = None, idle_timeout_s: float = PULL_IDLE_TIMEOUT_S,
               timeout_s: float = PUSH_TIMEOUT_S) -> str:
    """Tag `local_ref` as `qualified(image, registry)` and push it there; returns that reference.
    Raises ImagePushError (a tag this call made is removed again when the push fails)."""
    try:
        ref = qualified(image, registry)
    except ValueError as exc:
        raise ImagePushError(image, registry, str(exc)) from exc
    repo, tag = _split(ref)
    quiet: Log = log if log is not None else (lambda line: None)
    progress = _Progress(ref, quiet)
    made_tag = False
    try:
        made_tag = not image_exists(client, ref)
        try:
            client.api.tag(local_ref, repo, tag, force=True)
        except ImageNotFound as exc:
            made_tag = False
            raise ImagePushError(image, registry, f"no local image {local_ref}") from exc
        # the engine wants some X-Registry-Auth on a push; an empty config ("{}") means anonymous
        header = auth.get_config_header(client.api, auth.resolve_repository_name(repo)[0])
        headers = {"X-Registry-Auth": header or auth.encode_header({})}
        started = time.monotonic()
        for message in _engine_stream(client, f"/images/{quote(repo, safe='/:')}/push", {"tag": tag}, headers,
                                      idle_timeout_s, timeout_s):
            error = _error_of(message)
            if error is not None:
                raise ImagePushError(image, registry, error)
            progress(message)
        quiet(f"pushed {ref} in {time.monotonic() - started:.1f} s")
        return ref
    except ImagePushError:
        _untag(client, ref, made_tag)
        raise
    except (APIError, DockerException, requests.exceptions.RequestException, _EngineRefused, TimeoutError,
            OSError, ValueError) as exc:
        _untag(client, ref, made_tag)
        raise ImagePushError(image, registry, _classify(exc, idle_timeout_s)) from exc


def _untag(client: docker.DockerClient, ref: str, made: bool) -> None:
    if not made:
        return
    try:
        client.images.remove(ref, noprune=True)
    except (APIError, DockerException):
        pass
