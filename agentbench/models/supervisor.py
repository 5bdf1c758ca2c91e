"""Watches the model server while a run goes: samples vLLM's /metrics, restarts a managed server that died.

- Every `metrics_interval_s` the endpoint's /metrics is scraped (only where it is vLLM: an endpoint without
  it is scraped once, at the start) and a compact sample (time, requests running / waiting, KV-cache usage,
  token counters) is kept, from the start of the run to its end; at the end the samples go to the store
  (`server_metrics_samples`) and the run's counter deltas to `server_metrics`, one segment per server
  lifetime (a restarted server starts its counters at zero again).
- The managed server's process exit is awaited, so a death is seen when it happens. A dead server is
  restarted on the same port, so requests being retried by the client reach the new one, and `up` is
  cleared meanwhile (the runner starts no attempt until the server is back). Every death is stored
  (`server_restarts`) with the tail of the server's log and whether it was restarted (a death as the run
  ends is not). Past `max_restarts` deaths the run stops with `ServerDied`: finished attempts are kept, and
  `--resume` completes the run.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from agentbench.models import server_metrics
from agentbench.models.client import http_client
from agentbench.models.server import ServerStartError
from agentbench.protocols import ModelServer

SAMPLE_KEYS = ("requests_running", "requests_waiting", "kv_cache_usage", "generation_tokens", "prompt_tokens")


class ServerDied(RuntimeError):
    """The managed model server died more often than `max_restarts` allows."""


class ServerSupervisor:
    def __init__(self, root_url: str, server: ModelServer | None, *, interval_s: float, max_restarts: int,
                 note: Callable[[str], None] = print) -> None:
        self.root_url = root_url
        self.server = server
        self.interval_s = interval_s
        self.max_restarts = max_restarts
        self.note = note
        self.up = asyncio.Event()  # set while the server serves; cleared during a restart
        self.up.set()
        self.samples: list[dict[str, float]] = []
        self.segments: list[dict[str, Any]] = []
        self.deaths: list[dict[str, Any]] = []
        self.sampling = False  # the endpoint has vLLM metrics
        self._segment_start: dict[str, float] | None = None
        self._last: dict[str, float] | None = None
        self._http = http_client(timeout=5.0)

    async def start(self) -> None:
        self._segment_start = await self._sample()
        self.sampling = self._segment_start is not None

    async def watch(self, done: asyncio.Event) -> None:
        """Until `done` is set: sample, and restart the server when it dies (ServerDied past the limit)."""
        finished = asyncio.ensure_future(done.wait())
        exited = self._exit_watch()
        try:
            while True:
                ready, _ = await asyncio.wait({f for f in (finished, exited) if f is not None},
                                              timeout=self.interval_s if self.sampling else None,
                                              return_when=asyncio.FIRST_COMPLETED)
                if exited in ready:
                    await self._died(restart=finished not in ready)
                    exited = self._exit_watch()
                elif finished not in ready:
                    await self._sample()
                if finished in ready:
                    return
        finally:
            for future in (finished, exited):
                if future is not None:
                    future.cancel()

    def _exit_watch(self) -> asyncio.Future | None:
        return asyncio.ensure_future(self.server.wait_exit()) if self.server is not None else None

    async def _sample(self) -> dict[str, float] | None:
        scraped = await server_metrics.scrape(self.root_url, self._http)
        if scraped is not None:
            self._last = scraped
            self.samples.append({"t": time.time(), **{k: scraped[k] for k in SAMPLE_KEYS if k in scraped}})
        return scraped

    def _close_segment(self, after: dict[str, float] | None) -> None:
        if self._segment_start is not None and after is not None:
            self.segments.append({"before": self._segment_start, "after": after,
                                  "delta": server_metrics.delta(self._segment_start, after)})
        self._segment_start = None

    async def _died(self, *, restart: bool) -> None:
        assert self.server is not None
        code = self.server.exit_code()
        tail = await asyncio.to_thread(self.server.log_tail, 20)
        self._close_segment(self._last)  # counters up to the last sample; the rest died with the server
        self.deaths.append({"t": time.time(), "exit_code": code, "log_tail": tail, "restarted": restart})
        if len(self.deaths) > self.max_restarts:
            raise ServerDied(f"the model server died (exit code {code}) {len(self.deaths)} times, more than "
                             f"model.server.max_restarts={self.max_restarts}; the run stopped. Finished attempts "
                             f"are kept: complete the run with `agentbench run --resume RUN_DIR`. Last lines of "
                             f"{self.server.log_path}:\n{tail}")
        if not restart:
            self.note(f"model server died (exit code {code}) as the run ended; not restarted")
            return
        self.note(f"model server died (exit code {code}); restarting it "
                  f"({len(self.deaths)} of {self.max_restarts} restarts)")
        self.up.clear()
        await self.server.stop()
        try:
            await self.server.start()
        except ServerStartError as exc:
            raise ServerDied(f"the model server died and could not be restarted: {exc}") from exc
        self.note("model server is back")
        await self.start()
        self.up.set()

    async def finish(self) -> None:
        """Close the last segment with a final scrape (when the server still answers)."""
        try:
            after = await self._sample() if self.sampling else None
            self._close_segment(after or self._last)
        finally:
            await self._http.aclose()
