"""Live OTLP export during a run (`tracing.otlp_endpoint`): an `AttemptSink` whose `attempt_stored` only
queues the stored try (bounded, never blocks); a background thread maps it to spans (the same mapping
and ids as `agentbench export otel`, otel_spans.py), encodes it and POSTs batches to the collector.

A collector that does not answer never fails or slows the run: it is reported once (through `note`, on
the run's event loop), the encoded traces wait in a bounded buffer (`MAX_PENDING_BYTES`; the oldest go
first when it is full) and are sent when it answers again (retried with backoff up to `RETRY_MAX_S`).
`close()` flushes for at most `FLUSH_TIMEOUT_S` (one last try when the collector is down) and says how
many attempts' traces did not arrive; `agentbench export otel RUN_DIR` sends them after the run, with
the same ids.
"""

from __future__ import annotations

import asyncio
import json
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentbench.config.schema import ExperimentConfig, otlp_traces_url
from agentbench.export.otel import ExportError, OtlpSender, agentbench_version, encode
from agentbench.export.otel_spans import RunInfo, TryInfo, attempt_spans, run_info
from agentbench.protocols import AttemptRecord, Event
from agentbench.redact import split_userinfo
from agentbench.store import RunStore

QUEUE_ATTEMPTS = 1000  # stored tries waiting to be mapped; past that new ones are dropped (and counted)
MAX_PENDING_BYTES = 64 << 20  # encoded traces waiting for the collector
MAX_REQUEST_BYTES = 4 << 20  # one POST carries up to this much (several attempts at once)
BATCH_DELAY_S = 0.5  # a stored try waits up to this long for others to share its POST
RETRY_MAX_S = 15.0  # backoff cap while the collector does not answer
FLUSH_TIMEOUT_S = 10.0  # close(): at most this long for what is still queued
_STOP = object()


class LiveOtlpSink:
    """See the module doc. `sender` and the limits are parameters so tests can make them small."""

    def __init__(self, store_path: Path, endpoint: str, redact: Callable[[str], str], note: Callable[[str], None],
                 *, content: bool | None = None, service_name: str | None = None, sender: OtlpSender | None = None,
                 max_pending_bytes: int = MAX_PENDING_BYTES, flush_timeout_s: float = FLUSH_TIMEOUT_S,
                 run_dir: Path | None = None) -> None:
        self.url = split_userinfo(otlp_traces_url(endpoint))[0]  # for messages: a password in it masked
        self._store_path = Path(store_path)
        self._run_dir = run_dir or self._store_path.parent
        self._redact = redact
        self._note = note
        self._content = content
        self._service_name = service_name
        self._endpoint = endpoint
        self._sender = sender  # made on the export thread when first needed (the driver never waits for it)
        self._max_pending = max_pending_bytes
        self._flush_timeout_s = flush_timeout_s
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_ATTEMPTS)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = threading.Event()
        self._deadline = float("inf")
        self._reported = False
        self._closed = False
        self.stored = 0  # tries handed to the sink
        self.sent = 0  # tries whose trace the collector accepted
        self.dropped = 0  # tries lost: queue or buffer full, or unsent at close
        self.spans_sent = 0
        self._pending_bytes = 0
        self._info: RunInfo | None = None
        self._thread = threading.Thread(target=self._work, name="agentbench-otlp", daemon=True)
        self._thread.start()

    # -- the driver's side (on the event loop: return at once) ------------------------------------
    def attempt_stored(self, attempt_id: int, record: AttemptRecord, events: list[Event], t_start: float,
                       t_end: float) -> None:
        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                pass
        self.stored += 1
        try:
            self._queue.put_nowait((attempt_id, record, list(events), t_start, t_end))
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        """Flush (bounded by `flush_timeout_s`), stop the thread, and say what did not arrive."""
        if self._closed:
            return
        self._closed = True
        self._deadline = time.monotonic() + self._flush_timeout_s
        self._closing.set()
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:
            pass  # the thread sees `_closing` at its next wake-up
        self._thread.join(self._flush_timeout_s + 2.0)
        if not self._thread.is_alive() and self._sender is not None:  # else a daemon stuck in a request
            self._sender.close()
        lost = self.stored - self.sent
        if lost > 0:
            self._say(f"tracing: {lost} of {self.stored} attempts' traces did not reach {self.url}; "
                      f"`agentbench export otel {self._run_dir} --endpoint URL` sends the run (the same trace ids)",
                      direct=True)

    # -- the export thread ------------------------------------------------------------------------
    def _say(self, text: str, direct: bool = False) -> None:
        loop = self._loop
        if not direct and loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._note, text)
                return
            except RuntimeError:
                pass
        self._note(text)

    def _work(self) -> None:
        reader = _Reader(self._store_path)
        try:
            self._loop_until_closed(reader)
        except Exception as exc:  # never silent: the sink stops, the run goes on
            self._report(f"tracing: the live export stopped ({type(exc).__name__}: {exc}); "
                         f"`agentbench export otel {self._run_dir}` sends the run afterwards")
        finally:
            reader.close()

    def _loop_until_closed(self, reader: _Reader) -> None:
        pending: deque[tuple[bytes, int]] = deque()  # (one try's encoded request, its spans)
        backoff, next_send, last_try, since = 1.0, 0.0, False, 0.0  # since: when the oldest pending came

        def due() -> float:  # when the pending traces go: a batch waits BATCH_DELAY_S, a down collector longer
            full = self._pending_bytes >= MAX_REQUEST_BYTES
            return next_send if full else max(next_send, since + BATCH_DELAY_S)

        while True:
            closing = self._closing.is_set()
            wait = None if not pending else max(0.0, due() - time.monotonic())  # None: until a try comes
            for item in self._take(0.0 if closing else wait):
                if not pending:
                    since = time.monotonic()
                self._encode(reader, item, pending)
            now = time.monotonic()
            if pending and (now >= due() or (closing and not last_try)):
                if self._send(pending):
                    backoff, next_send, since = 1.0, 0.0, now
                else:
                    next_send, backoff = now + backoff, min(backoff * 2, RETRY_MAX_S)
                    last_try = closing  # closing: one try while the collector is down, then give up
            if closing and ((self._queue.empty() and (not pending or last_try)) or now >= self._deadline):
                return

    def _take(self, wait: float | None) -> list[Any]:
        """The next queued tries (up to 256): waits up to `wait` s for the first (None: until one comes)."""
        items: list[Any] = []
        try:
            first = self._queue.get(timeout=wait) if wait != 0.0 else self._queue.get_nowait()
        except queue.Empty:
            return items
        while True:
            if first is not _STOP:
                items.append(first)
            if len(items) >= 256:
                return items
            try:
                first = self._queue.get_nowait()
            except queue.Empty:
                return items

    def _encode(self, reader: _Reader, item: tuple, pending: deque[tuple[bytes, int]]) -> None:
        attempt_id, record, events, t0, t1 = item
        try:
            if self._info is None:
                self._info = run_info(reader.meta, content=self._content, service_name=self._service_name,
                                      version=agentbench_version())
            spans = attempt_spans(self._info, record, TryInfo(attempt_id, reader.try_of(attempt_id), t0, t1),
                                  events, self._redact)
            body = encode(spans, self._info.resource)
        except Exception as exc:  # a fault here must not take the run down: the trace is lost, said once
            self.dropped += 1
            self._report(f"tracing: a trace could not be encoded ({type(exc).__name__}: {exc})")
            return
        pending.append((body, len(spans)))
        self._pending_bytes += len(body)
        while self._pending_bytes > self._max_pending and len(pending) > 1:  # the oldest go first
            old, _ = pending.popleft()
            self._pending_bytes -= len(old)
            self.dropped += 1

    def _send(self, pending: deque[tuple[bytes, int]]) -> bool:
        """POST the oldest pending traces (up to MAX_REQUEST_BYTES, one request); whether it went."""
        count, size, spans = 0, 0, 0
        for body, n_spans in pending:
            if count and size + len(body) > MAX_REQUEST_BYTES:
                break
            count, size, spans = count + 1, size + len(body), spans + n_spans
        if self._sender is None:
            self._sender = OtlpSender(self._endpoint, timeout_s=5.0)
        try:  # concatenated requests are one request (protobuf merges repeated fields)
            self._sender.send(b"".join(pending[i][0] for i in range(count)))
        except ExportError as exc:
            self._report(f"tracing: {exc}; the run goes on, its traces are kept (up to "
                         f"{self._max_pending >> 20} MiB) and sent when the collector answers")
            return False
        for _ in range(count):
            pending.popleft()
        self._pending_bytes -= size
        self.sent += count
        self.spans_sent += spans
        return True

    def _report(self, text: str) -> None:
        if not self._reported:
            self._reported = True
            self._say(text)


class _Reader:
    """The export thread's own read-only view of run.sqlite (never the driver's connection)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True)
        return self._db

    def meta(self, key: str) -> Any:
        row = self._conn().execute("SELECT value FROM run WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def try_of(self, attempt_id: int) -> int:
        row = self._conn().execute("SELECT try FROM attempt WHERE id = ?", (attempt_id,)).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


def live_sink(cfg: ExperimentConfig, store: RunStore, note: Callable[[str], None] = print) -> LiveOtlpSink:
    """The runner's sink for `tracing.otlp_endpoint` (the endpoint must be set)."""
    if not cfg.tracing.otlp_endpoint:
        raise ValueError("tracing.otlp_endpoint is not set")
    return LiveOtlpSink(store.path, cfg.tracing.otlp_endpoint, store.redactor.text, note,
                        content=cfg.tracing.export_content, service_name=cfg.tracing.service_name)
