"""The host side of the command server's wire (exec_server.py documents the format): requests out, answers
in, over the container's attached stdin/stdout, which Docker frames (stdout and stderr multiplexed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from agentbench.sandbox.base import render_parts


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


@dataclass(frozen=True)
class Frame:
    """One answer as it came (bytes): a command's kept output, or a file tool's data (`out_head`) and failure."""

    id: int
    code: int
    timed_out: bool
    out_head: bytes
    out_tail: bytes
    out_total: int
    err_head: bytes
    err_tail: bytes
    err_total: int

    def answer(self) -> Answer:
        """As a command's answer: text, the marker where bytes were dropped."""
        return Answer(id=self.id, code=self.code, timed_out=self.timed_out,
                      stdout=render_parts(self.out_head, self.out_tail, self.out_total),
                      stderr=render_parts(self.err_head, self.err_tail, self.err_total),
                      truncated=self.out_total > len(self.out_head) + len(self.out_tail)
                      or self.err_total > len(self.err_head) + len(self.err_tail))


def parse_frame(buffer: bytearray) -> Frame | None:
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
    return Frame(rid, code, bool(timed_out), parts[0], parts[1], out_total, parts[2], parts[3], err_total)


def parse_answer(buffer: bytearray) -> Answer | None:
    """Cut one complete command answer off the front of `buffer`; None while it is incomplete."""
    frame = parse_frame(buffer)
    return None if frame is None else frame.answer()


def run_request(request_id: int, cmd: str, cwd: str, timeout_s: float, max_bytes: int) -> bytes:
    cwd_b, cmd_b = cwd.encode(), cmd.encode()
    return f"run {request_id} {timeout_s} {max_bytes} {len(cwd_b)} {len(cmd_b)}\n".encode() + cwd_b + cmd_b


def read_request(request_id: int, path: str, timeout_s: float, max_bytes: int) -> bytes:
    path_b = path.encode()
    return f"read {request_id} {timeout_s} {max_bytes} {len(path_b)}\n".encode() + path_b


def write_request(request_id: int, path: str, data: bytes, timeout_s: float) -> bytes:
    path_b = path.encode()
    return f"write {request_id} {timeout_s} {len(path_b)} {len(data)}\n".encode() + path_b + data


def file_failure(frame: Frame) -> tuple[int, int] | None:
    """(errno, size or -1) of a file tool's failure; None when it succeeded; errno 0 when it did not say why
    (its child killed: the timeout, the OOM killer)."""
    if frame.code == 0 and not frame.timed_out:
        return None
    fields = frame.err_head.split()
    if frame.code == 1 and len(fields) == 2 and all(f.lstrip(b"-").isdigit() for f in fields):
        return int(fields[0]), int(fields[1])
    return 0, -1


class Channel:
    """The attached stdin (requests) and stdout (answers, framed by Docker) of the command server."""

    def __init__(self, attached: Any) -> None:
        self._attached = attached  # docker-py's SocketIO; keep it referenced so the socket stays open
        self._sock = getattr(attached, "_sock", attached)
        self._frames = bytearray()
        self._stdout = bytearray()
        self.stderr_tail = bytearray()

    def send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def receive(self) -> Frame:
        while (answer := parse_frame(self._stdout)) is None:
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
