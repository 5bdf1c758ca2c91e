"""Sandbox images, built on this machine with no registry, tagged by a hash of their recipe and reused.

The chain: `rootfs` (Debian bookworm minbase from `sandboxes/build_base.sh`: debootstrap + `docker
import`) <- `base` <- `python` (Dockerfiles under `sandboxes/<name>/`, each `ARG BASE` / `FROM ${BASE}`).
A recipe names its parent with a `# parent: NAME` comment in its Dockerfile (default: rootfs).

Tags are `agentbench/<name>:<hash>`: the hash covers the recipe folder's files (names, contents,
executable bits) and the parent's hash, so changing `base` retags `python` too; the rootfs hash covers
build_base.sh. `ensure_image(client, name)` builds whatever in the chain is missing, once, and returns
the tag. Every function takes the docker client and, for tests, an optional `recipes_dir`.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import docker
from docker.errors import APIError, DockerException, ImageNotFound

from agentbench._bundled import bundled_dir
from agentbench.sandbox.engine import cache_root

RECIPES_DIR = bundled_dir("sandboxes")  # the repository's sandboxes/, shipped in the wheel
ROOTFS = "rootfs"
BUILD_BASE_SCRIPT = "build_base.sh"
REPOSITORY_PREFIX = "agentbench/"
LABEL_RECIPE = "agentbench.recipe"
LABEL_HASH = "agentbench.recipe-hash"
HASH_LEN = 12
DEFAULT_SUITE = "bookworm"  # the Debian release of `rootfs`; others are `rootfs-<release>`
BUILD_NETWORK_MODE = "host"  # apt-get inside `docker build` needs the mirror; host networking always reaches it
BUILD_TIMEOUT_S = 3600
LOG_TAIL_LINES = 40
_IGNORED = {".git", "__pycache__", ".DS_Store"}
_PARENT_RE = re.compile(r"^#\s*parent:\s*([A-Za-z0-9][A-Za-z0-9_.-]*)\s*$")

Log = Callable[[str], None]


class ImageBuildError(RuntimeError):
    """A sandbox image failed to build; `log_tail` holds the last lines of its build log."""

    def __init__(self, name: str, tag: str, reason: str, log_tail: Iterable[str] = ()):
        self.name, self.tag, self.reason = name, tag, reason
        self.log_tail = list(log_tail)
        tail = "\n".join(f"  | {line}" for line in self.log_tail)
        super().__init__(f"building sandbox image {name!r} ({tag}) failed: {reason}"
                         + (f"\nlast {len(self.log_tail)} lines of the build log:\n{tail}" if tail else ""))


class RecipeError(ValueError):
    """An unknown recipe name or a malformed recipe chain."""


@dataclass(frozen=True)
class ImageInfo:
    recipe: str
    tag: str
    id: str
    size_bytes: int
    created: str
    current: bool  # the tag matches the recipe as it is on disk now


# ----------------------------------------------------------------------------------------- recipes

def _dir(recipes_dir: Path | str | None) -> Path:
    return Path(recipes_dir) if recipes_dir is not None else RECIPES_DIR


def recipe_names(recipes_dir: Path | str | None = None) -> list[str]:
    """The buildable recipes: subfolders of the recipes dir that hold a Dockerfile (rootfs not included)."""
    root = _dir(recipes_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "Dockerfile").is_file())


def recipe_parent(name: str, recipes_dir: Path | str | None = None) -> str | None:
    """The direct parent of a recipe (`# parent: NAME` in its Dockerfile, default rootfs); None for rootfs."""
    if name == ROOTFS:
        return None
    dockerfile = _dir(recipes_dir) / name / "Dockerfile"
    if not dockerfile.is_file():
        known = ", ".join([ROOTFS, *recipe_names(recipes_dir)])
        raise RecipeError(f"unknown sandbox recipe {name!r} (known: {known}; recipes live in {_dir(recipes_dir)})")
    for line in dockerfile.read_text().splitlines():
        m = _PARENT_RE.match(line.strip())
        if m:
            return m.group(1)
    return ROOTFS


def recipe_parents(name: str, recipes_dir: Path | str | None = None) -> list[str]:
    """The ancestors of a recipe, nearest first: recipe_parents("python") == ["base", "rootfs"]."""
    chain: list[str] = []
    current = recipe_parent(name, recipes_dir)
    while current is not None:
        if current == name or current in chain:
            raise RecipeError(f"sandbox recipe {name!r} has a cyclic parent chain: {[name, *chain, current]}")
        chain.append(current)
        current = recipe_parent(current, recipes_dir)
    return chain


def _recipe_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part in _IGNORED or part.endswith((".pyc", "~")) for part in rel.parts):
            continue
        if path.is_file():
            yield path


def recipe_hash(name: str, recipes_dir: Path | str | None = None) -> str:
    """First 12 hex digits of a sha256 over the recipe's files (relative names, executable bits, contents)
    and its parent's hash; for rootfs, over build_base.sh."""
    root = _dir(recipes_dir)
    h = hashlib.sha256()
    if name == ROOTFS:
        script = root / BUILD_BASE_SCRIPT
        if not script.is_file():
            raise RecipeError(f"{script} is missing: cannot build the rootfs image")
        h.update(b"agentbench-rootfs-v1\0")
        h.update(script.read_bytes())
        return h.hexdigest()[:HASH_LEN]
    parent = recipe_parent(name, recipes_dir)
    recipe_parents(name, recipes_dir)  # cycle check before recursing
    h.update(b"agentbench-recipe-v1\0")
    h.update(f"{name}\0{parent}\0{recipe_hash(parent, recipes_dir)}\0".encode())
    folder = root / name
    for path in _recipe_files(folder):
        data = path.read_bytes()
        executable = os.access(path, os.X_OK)
        h.update(f"{path.relative_to(folder).as_posix()}\0{int(executable)}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:HASH_LEN]


def image_tag(name: str, recipes_dir: Path | str | None = None) -> str:
    """`agentbench/<name>:<recipe hash>` (the rootfs too: `agentbench/rootfs:<hash>`)."""
    return f"{REPOSITORY_PREFIX}{name}:{recipe_hash(name, recipes_dir)}"


# ------------------------------------------------------------------------------------------ engine

def image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
        return True
    except ImageNotFound:
        return False


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One builder at a time on this machine (threads and processes): a second caller waits, then finds
    the image built."""
    lock_dir = cache_root() / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "sandbox-images.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _build_rootfs(client: docker.DockerClient, tag: str, root: Path, log: Log, suite: str = DEFAULT_SUITE) -> None:
    script = root / BUILD_BASE_SCRIPT
    tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
    env = {**os.environ, "AGENTBENCH_CACHE": str(cache_root()), "DEBIAN_SUITE": suite}
    try:
        proc = subprocess.Popen(["bash", str(script), tag], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace", env=env)
    except OSError as exc:
        raise ImageBuildError(ROOTFS, tag, f"could not run {script}: {exc}") from exc
    assert proc.stdout is not None
    with proc:
        for line in proc.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            log(line)
    if proc.returncode != 0:
        raise ImageBuildError(ROOTFS, tag, f"{script.name} exited with status {proc.returncode}", tail)
    if not image_exists(client, tag):
        raise ImageBuildError(ROOTFS, tag, f"{script.name} succeeded but the engine has no {tag}: do the docker "
                                           f"CLI and this client talk to different engines (DOCKER_HOST)?", tail)


def _build_recipe(client: docker.DockerClient, name: str, tag: str, parent_tag: str, recipe_hash_: str,
                  root: Path, log: Log, display_name: str | None = None, labels: dict[str, str] | None = None) -> None:
    tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
    pending = ""
    try:
        stream = client.api.build(
            path=str(root / name), tag=tag, buildargs={"BASE": parent_tag}, rm=True, forcerm=True,
            pull=False, decode=True, network_mode=BUILD_NETWORK_MODE, timeout=BUILD_TIMEOUT_S,
            labels={LABEL_RECIPE: display_name or name, LABEL_HASH: recipe_hash_, **(labels or {})},
        )
        for chunk in stream:
            if "error" in chunk or "errorDetail" in chunk:
                detail = chunk.get("errorDetail") or {}
                message = (chunk.get("error") or detail.get("message") or str(chunk)).strip()
                if pending:
                    tail.append(pending)
                raise ImageBuildError(name, tag, message, tail)
            text = chunk.get("stream")
            if text is None and chunk.get("status"):
                text = chunk["status"] + "\n"
            if not text:
                continue
            pending += text
            *lines, pending = pending.split("\n")
            for line in lines:
                line = line.rstrip("\r")
                if line.strip():
                    tail.append(line)
                    log(line)
        if pending.strip():
            tail.append(pending)
            log(pending)
    except (APIError, DockerException) as exc:
        raise ImageBuildError(name, tag, f"engine error: {exc}", tail) from exc
    if not image_exists(client, tag):
        raise ImageBuildError(name, tag, "the build finished but the image is missing", tail)


def ensure_image(client: docker.DockerClient, name: str, log: Log = print,
                 recipes_dir: Path | str | None = None) -> str:
    """The tag of recipe `name`'s current image, building it (and any missing parent, rootfs first) if
    the engine does not have that tag yet. Raises ImageBuildError (with the log tail) or RecipeError."""
    root = _dir(recipes_dir)
    chain = [*reversed(recipe_parents(name, recipes_dir)), name]
    tags = {n: image_tag(n, recipes_dir) for n in chain}
    if image_exists(client, tags[name]):
        return tags[name]
    with _build_lock():
        for i, step in enumerate(chain):
            tag = tags[step]
            if image_exists(client, tag):
                continue
            log(f"building sandbox image {tag} ...")
            started = time.monotonic()
            if step == ROOTFS:
                _build_rootfs(client, tag, root, log)
            else:
                _build_recipe(client, step, tag, tags[chain[i - 1]], recipe_hash(step, recipes_dir), root, log)
            log(f"built {tag} in {time.monotonic() - started:.1f} s")
    return tags[name]


def ensure_rootfs(client: docker.DockerClient, suite: str, log: Log = print,
                  recipes_dir: Path | str | None = None) -> str:
    """The tag of a Debian `suite` rootfs image (bookworm is the recipes' `rootfs`), built if missing."""
    if suite == DEFAULT_SUITE:
        return ensure_image(client, ROOTFS, log=log, recipes_dir=recipes_dir)
    root = _dir(recipes_dir)
    tag = f"{REPOSITORY_PREFIX}{ROOTFS}-{suite}:{hashlib.sha256(f'{recipe_hash(ROOTFS, recipes_dir)}{suite}'.encode()).hexdigest()[:HASH_LEN]}"
    if image_exists(client, tag):
        return tag
    with _build_lock():
        if not image_exists(client, tag):
            log(f"building sandbox image {tag} (debootstrap {suite}) ...")
            _build_rootfs(client, tag, root, log, suite)
    return tag


def build_context_image(client: docker.DockerClient, name: str, tag: str, context: Path, base: str,
                        labels: dict[str, str], log: Log = print) -> str:
    """Build `context` (a folder with a Dockerfile taking `ARG BASE`) as `tag` unless the engine has it."""
    if image_exists(client, tag):
        return tag
    with _build_lock():
        if not image_exists(client, tag):
            log(f"building sandbox image {tag} ...")
            started = time.monotonic()
            _build_recipe(client, context.name, tag, base, tag.rsplit(":", 1)[-1], context.parent, log,
                          display_name=name, labels=labels)
            log(f"built {tag} in {time.monotonic() - started:.1f} s")
    return tag


def list_images(client: docker.DockerClient, recipes_dir: Path | str | None = None) -> list[ImageInfo]:
    """Every image labelled as ours (one row per tag), marking which tags match the recipes on disk."""
    current: dict[str, str] = {}
    for n in [ROOTFS, *recipe_names(recipes_dir)]:
        try:
            current[n] = image_tag(n, recipes_dir)
        except RecipeError:
            pass
    rows: list[ImageInfo] = []
    for image in client.images.list(filters={"label": LABEL_RECIPE}):
        recipe = image.labels.get(LABEL_RECIPE, "?")
        attrs = image.attrs
        for tag in image.tags or ["<none>"]:
            if tag != "<none>" and not tag.startswith(REPOSITORY_PREFIX):
                continue
            rows.append(ImageInfo(recipe=recipe, tag=tag, id=image.short_id.removeprefix("sha256:"),
                                  size_bytes=int(attrs.get("Size") or 0), created=str(attrs.get("Created", "")),
                                  current=current.get(recipe) == tag))
    rows.sort(key=lambda r: (r.recipe, not r.current, r.created), reverse=False)
    return rows
