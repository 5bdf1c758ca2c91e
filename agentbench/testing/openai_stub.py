"""A tiny OpenAI-compatible chat server on loopback, for fault injection, overhead benchmarks and
running graphs through the real runner with a scripted model.

It replies instantly with scripted text (or a default), streaming or not, always with usage, and can
be told to fail: `faults=[500, 503]` answers the first requests with those statuses, then serves.
A reply may also be a tool call, in OpenAI's `tool_calls` form (streamed as OpenAI streams it: the name
first, the arguments in pieces): `reply` returns `tool_call("bash", command="ls")` (or a `StubReply` with
text and several calls) instead of a string. Not a model: it exists to test agentbench's own code paths
(retries, tracing cost, graphs that bind tools).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from agentbench.testing.http1 import read_request


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class StubReply:
    """A scripted assistant message: text, tool calls, or both."""

    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


def tool_call(name: str, **arguments: Any) -> StubReply:
    """A reply that calls one tool: `tool_call("bash", command="ls")`."""
    return StubReply(tool_calls=(ToolCall(name, arguments),))


Reply = Callable[[list[dict]], "str | StubReply"]


def _default_reply(messages: list[dict]) -> str:
    return "FINAL ANSWER: 42"


class OpenAIStub:
    def __init__(self, reply: Reply = _default_reply, faults: list[int | tuple[int, str]] | None = None,
                 delay_s: float = 0.0,
                 model: str = "stub") -> None:
        self.reply = reply
        self.faults = list(faults or [])
        self.delay_s = delay_s
        self.model = model
        self.requests = 0
        self.seeds: list[int | None] = []
        self.tools_offered: list[list[str]] = []  # per chat request: the names in its `tools`
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.port: int | None = None
        self._server: asyncio.AbstractServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1:`port` (0: a free one, then in `self.port`)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                req = await read_request(reader)
                await self._respond(writer, req.method, req.path, req.body)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # client went away, or the stub is shutting down
        finally:
            writer.close()

    async def _respond(self, writer: asyncio.StreamWriter, method: str, path: str, body: bytes) -> None:
        if path.endswith("/health"):
            return self._send(writer, 200, b"", "text/plain")
        if not path.endswith("/chat/completions"):
            return self._send(writer, 404, b'{"error": "not found"}')
        self.requests += 1
        if self.faults:
            fault = self.faults.pop(0)
            status, message = fault if isinstance(fault, tuple) else (fault, f"injected {fault}")
            return self._send(writer, status, json.dumps({"error": {"message": message}}).encode())
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        req = json.loads(body)
        self.seeds.append(req.get("seed"))
        self.tools_offered.append([t.get("function", {}).get("name") for t in req.get("tools") or []])
        made = self.reply(req.get("messages", []))
        reply = made if isinstance(made, StubReply) else StubReply(content=made)
        calls = [{"id": f"call_{self.requests}_{i}", "type": "function",
                  "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                 for i, c in enumerate(reply.tool_calls)]
        prompt = sum(len(str(m.get("content", "")).split()) for m in req.get("messages", [])) + 1
        completion = max(1, len(reply.content.split()) + sum(len(c["function"]["arguments"].split()) for c in calls))
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        ident = {"id": f"stub-{self.requests}", "created": int(time.time()), "model": self.model}
        finish = "tool_calls" if calls else "stop"
        if not req.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": reply.content}
            if calls:
                message["tool_calls"] = calls
            payload = {**ident, "object": "chat.completion", "usage": usage, "choices": [
                {"index": 0, "finish_reason": finish, "message": message}]}
            return self._send(writer, 200, json.dumps(payload).encode())
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": reply.content}]
        for i, call in enumerate(calls):  # as OpenAI streams them: id and name first, then the arguments in pieces
            args = call["function"]["arguments"]
            half = len(args) // 2
            deltas.append({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                           "function": {"name": call["function"]["name"], "arguments": ""}}]})
            deltas += [{"tool_calls": [{"index": i, "function": {"arguments": piece}}]}
                       for piece in (args[:half], args[half:])]
        chunks = [{**ident, "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": delta, "finish_reason": None}]} for delta in deltas]
        chunks.append({**ident, "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": {}, "finish_reason": finish}]})
        if (req.get("stream_options") or {}).get("include_usage"):
            chunks.append({**ident, "object": "chat.completion.chunk", "choices": [], "usage": usage})
        data = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
        self._send(writer, 200, data, "text/event-stream")

    @staticmethod
    def _send(writer: asyncio.StreamWriter, status: int, body: bytes, ctype: str = "application/json") -> None:
        writer.write(f"HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {len(body)}\r\n"
                     f"connection: keep-alive\r\n\r\n".encode() + body)


class ThreadedStub:
    """Runs an OpenAIStub on its own event loop in a thread (for use from another process's CLI run)."""

    def __init__(self, stub: OpenAIStub) -> None:
        self.stub = stub
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> OpenAIStub:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.stub.start(), self._loop).result(10)
        return self.stub

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.stub.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def main() -> None:
    """`python -m agentbench.testing.openai_stub PORT_FILE`: serve until killed; writes the port."""
    import sys

    async def serve() -> None:
        stub = OpenAIStub(reply=lambda messages: "ok")
        await stub.start()
        with open(sys.argv[1], "w") as fh:
            fh.write(str(stub.port))
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
