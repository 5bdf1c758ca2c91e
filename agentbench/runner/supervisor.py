"""Watches the model server while a run goes: samples vLLM's /metrics, restarts a managed server that died.

- Every `metrics_interval_s` the endpoint's /metrics is scraped (only where it is vLLM) and a compact
  sample (time, requests running / waiting, KV-cache usage, token counters) is kept; at the end the
  samples go to the store (`server_metrics_samples`) and the run's counter deltas to `server_metrics`, one
  segment per server lifetime (a restarted server starts its counters at zero again).
- Every second the managed server's process is checked. A dead server is restarted on the same port, so
  requests being retried by the client reach the new one; each restart is stored (`server_restarts`) with
  the tail of the server's log. Past `max_restarts` the run stops with `ServerDied`: finished attempts are
  kept, and `--resume` completes the run.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from agentbench.models import server_metrics
from agentbench.models.server import ManagedServer, ServerStartError, log_tail

SAMPLE_KEYS = ("requests_running", "requests_waiting", "kv_cache_usage", "generation_tokens", "prompt_tokens")


class ServerDied(RuntimeError):
    """The managed model server died more often than `max_restarts` allows."""


class ServerSupervisor:
    def __init__(self, root_url: str, server: ManagedServer | None, *, interval_s: float, max_restarts: int,
                 note: Callable[[str], None] = print, check_s: float = 1.0) -> None:
        self.root_url = root_url
        self.server = server
        self.interval_s = interval_s
        self.max_restarts = max_restarts
        self.check_s = min(check_s, interval_s)
        self.note = note
        self.samples: list[dict[str, float]] = []
        self.segments: list[dict[str, Any]] = []
        self.restarts: list[dict[str, Any]] = []
        self._segment_start: dict[str, float] | None = None
        self._last: dict[str, float] | None = None

    async def start(self) -> None:
        self._segment_start = self._last = await server_metrics.scrape(self.root_url)

    async def watch(self, done: asyncio.Event) -> None:
        """Until `done` is set: sample, and restart the server when it dies (ServerDied past the limit)."""
        next_sample = time.monotonic() + self.interval_s
        while not done.is_set():
            try:
                await asyncio.wait_for(done.wait(), timeout=self.check_s)
                break
            except TimeoutError:
                pass
            if self.server is not None and not self.server.alive():
                await self._restart()
                continue
            if time.monotonic() >= next_sample:
                next_sample = time.monotonic() + self.interval_s
                await self._sample()
        if self.server is not None and not self.server.alive() and len(self.restarts) >= self.max_restarts:
            # it died as the last attempts ended (they failed on it): past the limit, the run must say so
            await self._restart()

    async def _sample(self) -> None:
        scraped = await server_metrics.scrape(self.root_url)
        if scraped is None:
            return
        self._last = scraped
        self.samples.append({"t": time.time(), **{k: scraped[k] for k in SAMPLE_KEYS if k in scraped}})

    def _close_segment(self, after: dict[str, float] | None) -> None:
        if self._segment_start is not None and after is not None:
            self.segments.append({"before": self._segment_start, "after": after,
                                  "delta": server_metrics.delta(self._segment_start, after)})
        self._segment_start = None

    async def _restart(self) -> None:
        assert self.server is not None
        code = self.server.exit_code()
        tail = log_tail(self.server.log_path, 20)
        self._close_segment(self._last)  # counters up to the last sample; the rest died with the server
        self.restarts.append({"t": time.time(), "exit_code": code, "log_tail": tail})
        if len(self.restarts) > self.max_restarts:
            raise ServerDied(f"the model server died (exit code {code}) {len(self.restarts)} times, more than "
                             f"model.server.max_restarts={self.max_restarts}; the run stopped. Finished attempts "
                             f"are kept: complete the run with `agentbench run --resume RUN_DIR`. Last lines of "
                             f"{self.server.log_path}:\n{tail}")
        self.note(f"model server died (exit code {code}); restarting it "
                  f"({len(self.restarts)} of {self.max_restarts} restarts)")
        await self.server.stop()
        try:
            await self.server.start()
        except ServerStartError as exc:
            raise ServerDied(f"the model server died and could not be restarted: {exc}") from exc
        self.note("model server is back")
        await self.start()

    async def finish(self) -> None:
        """Close the last segment with a final scrape (when the server still answers)."""
        after = await server_metrics.scrape(self.root_url)
        self._close_segment(after or self._last)
