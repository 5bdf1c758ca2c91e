"""Backend-neutral helpers for sandbox implementations (local today, Docker later).

- `OutputBuffer`: bounded, incremental capture of one output stream (keeps the head and the tail,
  counts and drops the middle), so an endless `yes` never grows memory.
- `truncate_output`: the same rule as a pure function over a finished byte string.
- `truncation_marker` / `TRUNCATION_MARKER_RE`: the one marker every backend inserts where bytes were dropped.
- `run_shielded`: run a cleanup awaitable to completion even if the caller is cancelled meanwhile.
- `TIMEOUT_EXIT_CODE`: the exit code of a command killed at its timeout, on every backend.
- `read_capped(path, limit)`: a file's bytes if there are at most `limit` of them, else FileTooLargeError
  (the rule of the Docker command server's `read`, which keeps its own copy).
- `request_timeout(timeout, default)`: the timeout one command or file tool gets (a graph's inf, nan or
  negative value made sane); `MAX_TIMEOUT_S` the longest.

Text (not byte streams) is clipped by `agentbench.text.clip`; `exec_server.py` keeps its own copy of
`OutputBuffer`'s rule (`Bounded`), since it runs stdlib-only inside containers.
"""

from __future__ import annotations

import asyncio
import errno
import math
import os
import re
import stat
from typing import Awaitable, TypeVar

from agentbench.protocols import FileTooLargeError

T = TypeVar("T")

#: `ExecResult.exit_code` of a command killed at its timeout (`timed_out=True`), as coreutils `timeout`.
TIMEOUT_EXIT_CODE = 124

#: The longest timeout one command or file tool gets (a day): what a graph asks past it is cut to it.
MAX_TIMEOUT_S = 86_400.0


def request_timeout(timeout: float | None, default: float) -> float:
    """`timeout` (None: `default`) within [0, MAX_TIMEOUT_S]; nan is `default`."""
    value = default if timeout is None or math.isnan(timeout) else timeout
    return min(max(value, 0.0), MAX_TIMEOUT_S)


def read_capped(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of `path` if at most `limit`: a regular file larger is refused by its size before any read,
    anything else once `limit` + 1 bytes came (a device, a file growing meanwhile); a FIFO does not block."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        if stat.S_ISREG(info.st_mode) and info.st_size > limit:
            raise FileTooLargeError(str(path), limit, info.st_size)
        data = bytearray()
        while len(data) <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - len(data)))
            if not chunk:
                break
            data += chunk
        if len(data) > limit:
            raise FileTooLargeError(str(path), limit)
        return bytes(data)
    finally:
        os.close(fd)


#: Matches the marker inserted where output was dropped; group 1 is the number of bytes dropped.
TRUNCATION_MARKER_RE = re.compile(r"\n\[\.\.\. agentbench: (\d+) bytes truncated \.\.\.\]\n")


def truncation_marker(dropped: int) -> str:
    """The text inserted where `dropped` bytes of output were discarded."""
    return f"\n[... agentbench: {dropped} bytes truncated ...]\n"


def decode(data: bytes) -> str:
    """Decode command output: UTF-8, invalid bytes replaced (never raises)."""
    return data.decode("utf-8", errors="replace")


class OutputBuffer:
    """Keep at most `max_bytes` of a stream: the first half and the last half, dropping the middle.

    Feed chunks as they arrive with `feed`; `text()` renders head + marker + tail (marker only when
    something was dropped). Memory stays bounded by `max_bytes` plus one chunk.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.max_bytes = max_bytes
        self._head_limit = max_bytes // 2
        self._tail_limit = max_bytes - self._head_limit
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if not chunk or self._tail_limit == 0:
            return
        if len(chunk) >= self._tail_limit:
            self._tail = bytearray(chunk[-self._tail_limit:])
        else:
            self._tail += chunk
            excess = len(self._tail) - self._tail_limit
            if excess > 0:
                del self._tail[:excess]

    @property
    def dropped(self) -> int:
        """Bytes received but not kept."""
        return self.total - len(self._head) - len(self._tail)

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def text(self) -> str:
        return render_parts(bytes(self._head), bytes(self._tail), self.total)


def render_parts(head: bytes, tail: bytes, total: int) -> str:
    """Text of a stream of `total` bytes of which `head` and `tail` were kept: the marker goes between them
    when bytes were dropped (the one rendering every backend uses, whichever side did the keeping)."""
    dropped = total - len(head) - len(tail)
    if dropped <= 0:
        return decode(head + tail)
    return decode(head) + truncation_marker(dropped) + decode(tail)


def truncate_output(data: bytes, max_bytes: int) -> tuple[str, bool]:
    """Decode `data`, keeping at most `max_bytes` (head and tail halves). Returns (text, truncated)."""
    buf = OutputBuffer(max_bytes)
    buf.feed(data)
    return buf.text(), buf.truncated


async def run_shielded(aw: Awaitable[T]) -> T:
    """Await `aw` to completion even if the calling task is cancelled while waiting (cleanup code).

    A cancellation that arrives meanwhile is held back and re-raised once `aw` has finished, so the
    caller still sees it (and `asyncio.timeout` still turns it into `TimeoutError`).
    """
    task = asyncio.ensure_future(aw)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():  # the cleanup itself was cancelled (e.g. loop shutdown): nothing to wait for
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError()
    return result
