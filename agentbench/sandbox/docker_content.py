"""The image's content at a writable path (the workdir, a SWE-bench environment), for filling that path's
tmpfs volume in each new container.

A tmpfs volume starts empty (the engine fills only plain volumes from the image, at ~1 s for a small repo,
and those have no size cap). So the content is exported once per (image, path) — a container created, never
started, and `get_archive(path/.)` — into a tar under a temporary folder, and put into every container of
that image with `put_archive` right after it starts (~0.2 s for 18 MB / 4,000 files, ~0.6 s for 134 MB /
7,700 files on the machine of docs/fault-matrix.md). An empty directory (the `python` image's /workspace)
costs nothing per container. Ownership and modes come from the image; the volume's own root gets the
directory's owner and mode as tmpfs mount options. The exports are kept while their total stays under
`max_bytes` (least recently used dropped first; a dropped export is exported again when needed).
"""

from __future__ import annotations

import os
import tarfile
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentbench.sandbox.docker_config import PAGE

EXPORT_MAX_BYTES = 8 << 30


@dataclass(frozen=True)
class Content:
    """What an image holds at a path: `tar` (None when the directory is empty), the bytes it takes on a tmpfs,
    how many entries, and the directory's owner and mode."""

    tar: Path | None
    size: int
    files: int
    uid: int
    gid: int
    mode: int

    @property
    def owner(self) -> tuple[int, int, int]:
        return self.uid, self.gid, self.mode


def _pages(n: int) -> int:
    return (n + PAGE - 1) // PAGE * PAGE


def _is_missing(exc: Exception) -> bool:
    return getattr(getattr(exc, "response", None), "status_code", None) == 404 or "No such" in str(exc) \
        or "Could not find" in str(exc)


class ContentCache:
    """Exports of (image, path), made on first use and shared by every container of the provider."""

    def __init__(self, api: Any, labels: dict[str, str], max_bytes: int = EXPORT_MAX_BYTES) -> None:
        self._api = api
        self._labels = labels
        self._max_bytes = max_bytes
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._entries: OrderedDict[tuple[str, str], Content | None] = OrderedDict()
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, image: str, path: str) -> Content | None:
        """The content of `image` at `path`; None when the image has no directory there."""
        key = (image, path.rstrip("/") or "/")
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    found = self._entries[key]
                    if found is None or found.tar is None or found.tar.exists():
                        return found
            content = self._export(*key)
            with self._guard:
                self._entries[key] = content
                self._evict()
            return content

    def _folder(self) -> Path:
        with self._guard:
            if self._dir is None:
                self._dir = tempfile.TemporaryDirectory(prefix="agentbench-content-")
            return Path(self._dir.name)

    def _export(self, image: str, path: str) -> Content | None:
        api = self._api
        container_id = api.create_container(image, ["true"], labels=self._labels)["Id"]  # never started
        fd, name = tempfile.mkstemp(suffix=".tar", dir=self._folder())
        tar_path = Path(name)
        try:
            try:
                stream, _ = api.get_archive(container_id, f"{path}/.", chunk_size=1 << 20)
                with os.fdopen(fd, "wb") as out:
                    for chunk in stream:
                        out.write(chunk)
            except Exception as exc:
                if _is_missing(exc):
                    tar_path.unlink(missing_ok=True)
                    return None
                raise
        finally:
            try:
                api.remove_container(container_id, force=True)
            except Exception:  # noqa: BLE001 - gone already; prune would find it otherwise
                pass
        with tarfile.open(tar_path) as tar:
            members = tar.getmembers()
        top = next((m for m in members if m.name in (".", "./")), None)
        if top is not None and not top.isdir():
            tar_path.unlink(missing_ok=True)
            return None
        size = sum(_pages(m.size) if m.isreg() else PAGE for m in members)  # (an upper bound: dirs take none)
        uid, gid, mode = (top.uid, top.gid, top.mode & 0o7777) if top is not None else (0, 0, 0o755)
        if all(m is top for m in members):
            tar_path.unlink(missing_ok=True)
            return Content(None, 0, 0, uid, gid, mode)
        return Content(tar_path, size, len(members), uid, gid, mode)

    def _evict(self) -> None:
        """Drop the least recently used exports past max_bytes (a container still reading one keeps its file
        open, so unlinking is safe)."""
        total = sum(c.size for c in self._entries.values() if c is not None and c.tar is not None)
        for key in list(self._entries):
            if total <= self._max_bytes or len(self._entries) <= 1:
                return
            content = self._entries.pop(key)
            if content is not None and content.tar is not None:
                content.tar.unlink(missing_ok=True)
                total -= content.size

    def close(self) -> None:
        with self._guard:
            self._entries.clear()
            if self._dir is not None:
                self._dir.cleanup()
                self._dir = None
