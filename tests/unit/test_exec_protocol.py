"""The wire format between the Docker sandbox and its in-container command server (pure functions)."""

from __future__ import annotations

from agentbench.sandbox import exec_server
from agentbench.sandbox.base import truncation_marker
from agentbench.sandbox.docker import parse_answer, run_request, split_frames


def test_requests_round_trip_in_pieces() -> None:
    wire = run_request(7, "echo 'héllo'\nprintf x", "/workspace/sub dir", 2.5, 100) + b"kill 7\n"
    buffer = bytearray()
    seen = []
    for i in range(len(wire)):  # the server may receive any split of the stream
        buffer += wire[i:i + 1]
        seen += exec_server.parse_requests(buffer)
    assert seen == [("run", 7, 2.5, 100, "/workspace/sub dir".encode(), "echo 'héllo'\nprintf x".encode()),
                    ("kill", 7)]
    assert buffer == bytearray()


def test_answer_round_trip_with_truncation() -> None:
    out, err = exec_server.Bounded(10), exec_server.Bounded(10)
    out.feed(b"0123456789abcdef")  # 16 bytes into 10: head 5, tail 5, 6 dropped
    err.feed("é\n".encode())
    wire = exec_server.encode_answer(3, 2, False, out, err) + b"4 0 1"  # and the start of the next answer
    buffer = bytearray(wire)
    answer = parse_answer(buffer)
    assert answer is not None and answer.id == 3 and answer.code == 2 and not answer.timed_out
    assert answer.stdout == "01234" + truncation_marker(6) + "bcdef" and answer.truncated
    assert answer.stderr == "é\n"
    assert buffer == bytearray(b"4 0 1") and parse_answer(buffer) is None


def test_incomplete_answer_waits_for_more() -> None:
    out, err = exec_server.Bounded(100), exec_server.Bounded(100)
    out.feed(b"hello")
    wire = exec_server.encode_answer(1, 0, True, out, err)
    buffer = bytearray(wire[:-1])
    assert parse_answer(buffer) is None and len(buffer) == len(wire) - 1
    buffer += wire[-1:]
    answer = parse_answer(buffer)
    assert answer is not None and answer.timed_out and answer.stdout == "hello" and not answer.truncated


def test_split_frames_keeps_partial_frame() -> None:
    frame = lambda stream, data: bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data  # noqa: E731
    buffer = bytearray(frame(1, b"out") + frame(2, b"err!") + frame(1, b"partial")[:-2])
    assert split_frames(buffer) == [(1, b"out"), (2, b"err!")]
    assert len(buffer) == 8 + len(b"partial") - 2
