"""The pure output-truncation helper shared by every sandbox backend."""

from __future__ import annotations

import asyncio

import pytest

from agentbench.sandbox.base import (TRUNCATION_MARKER_RE, OutputBuffer, run_shielded, truncate_output,
                                     truncation_marker)


def test_under_limit_is_unchanged() -> None:
    assert truncate_output(b"hello\n", 100) == ("hello\n", False)
    assert truncate_output(b"x" * 100, 100) == ("x" * 100, False)
    assert truncate_output(b"", 0) == ("", False)


def test_over_limit_keeps_head_and_tail_with_marker() -> None:
    data = b"A" * 50 + b"M" * 1000 + b"Z" * 50
    text, truncated = truncate_output(data, 100)
    assert truncated
    assert text == "A" * 50 + truncation_marker(1000) + "Z" * 50
    m = TRUNCATION_MARKER_RE.search(text)
    assert m and int(m.group(1)) == 1000


def test_odd_limit_and_zero_limit() -> None:
    text, truncated = truncate_output(b"abcdefghij", 5)  # head 2, tail 3
    assert truncated and text == "ab" + truncation_marker(5) + "hij"
    text, truncated = truncate_output(b"abc", 0)
    assert truncated and text == truncation_marker(3)


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1000, 5000])
def test_chunked_feeding_matches_one_shot(chunk: int) -> None:
    data = bytes(range(256)) * 20
    buf = OutputBuffer(301)
    for i in range(0, len(data), chunk):
        buf.feed(data[i:i + chunk])
    assert (buf.text(), buf.truncated) == truncate_output(data, 301)
    assert buf.total == len(data) and buf.dropped == len(data) - 301


def test_memory_stays_bounded() -> None:
    buf = OutputBuffer(1000)
    for _ in range(2000):
        buf.feed(b"y\n" * 32768)
    assert len(buf._head) + len(buf._tail) == 1000
    assert buf.dropped == 2000 * 65536 - 1000


def test_invalid_utf8_and_split_characters_are_replaced() -> None:
    data = "é".encode() * 10  # 20 bytes; a 5-byte cut splits a character
    text, truncated = truncate_output(data, 5)
    assert truncated and "\ufffd" in text
    assert truncate_output(b"\xff\xfeok", 100) == ("\ufffd\ufffdok", False)


def test_negative_limit_rejected() -> None:
    with pytest.raises(ValueError):
        OutputBuffer(-1)


async def test_run_shielded_finishes_cleanup_despite_cancellation() -> None:
    done = asyncio.Event()

    async def cleanup() -> None:
        await asyncio.sleep(0.2)
        done.set()

    async def body() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            await run_shielded(cleanup())

    task = asyncio.create_task(body())
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.sleep(0.05)
    task.cancel()  # a second cancellation while cleaning up must not cut the cleanup short
    with pytest.raises(asyncio.CancelledError):
        await task
    assert done.is_set()


async def test_run_shielded_returns_value() -> None:
    async def value() -> int:
        return 7

    assert await run_shielded(value()) == 7
