"""A fault-injecting HTTP proxy for tests: sits on loopback in front of a real OpenAI-compatible server.

    proxy = FaultProxy("http://127.0.0.1:8000")
    await proxy.start()              # proxy.base_url -> http://127.0.0.1:<port>/v1
    proxy.fail(3, status=500)        # the next 3 requests get HTTP 500 (429, 503, ...) without reaching the server
    proxy.down()                     # every request has its connection dropped, as if the server died ...
    proxy.up()                       # ... until it is back
    await proxy.stop()

Everything else is forwarded as is, streaming responses included (chunked). Counts what it saw:
`requests` (all), `forwarded`, `faults`.
"""

from __future__ import annotations

import asyncio

import httpx

from agentbench.testing.http1 import read_request

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection", "upgrade"}


class FaultProxy:
    def __init__(self, upstream: str, host: str = "127.0.0.1") -> None:
        self.upstream = upstream.rstrip("/").removesuffix("/v1")
        self.host = host
        self.port = 0
        self.requests = self.forwarded = self.faults = 0
        self._fail: list[int] = []
        self._down = False
        self._server: asyncio.AbstractServer | None = None
        self._client: httpx.AsyncClient | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def fail(self, n: int, status: int = 500) -> None:
        self._fail += [status] * n

    def down(self) -> None:
        self._down = True

    def up(self) -> None:
        self._down = False

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(600.0))
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._client is not None:
            await self._client.aclose()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                method, path, headers, body = await read_request(reader)
                self.requests += 1
                if self._down:
                    self.faults += 1
                    writer.transport.abort()  # connection reset, as from a dead server
                    return
                if self._fail and path.startswith("/v1/"):
                    self.faults += 1
                    status = self._fail.pop(0)
                    payload = b'{"error": {"message": "injected fault", "type": "agentbench_fault_proxy"}}'
                    writer.write(f"HTTP/1.1 {status} Injected\r\ncontent-type: application/json\r\n"
                                 f"content-length: {len(payload)}\r\n\r\n".encode() + payload)
                    await writer.drain()
                    continue
                await self._forward(writer, method, path, headers, body)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _forward(self, writer: asyncio.StreamWriter, method: str, path: str, headers: dict[str, str],
                       body: bytes) -> None:
        assert self._client is not None
        self.forwarded += 1
        out = {k: v for k, v in headers.items() if k not in _HOP}
        try:
            async with self._client.stream(method, self.upstream + path, headers=out, content=body) as resp:
                head = [f"HTTP/1.1 {resp.status_code} {resp.reason_phrase}"]
                head += [f"{k}: {v}" for k, v in resp.headers.items() if k.lower() not in _HOP]
                head += ["transfer-encoding: chunked", "", ""]
                writer.write("\r\n".join(head).encode("latin-1"))
                async for chunk in resp.aiter_raw():
                    if self._down:  # the server "dies" mid-response
                        writer.transport.abort()
                        return
                    if chunk:
                        writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        await writer.drain()
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except httpx.HTTPError:
            writer.transport.abort()
