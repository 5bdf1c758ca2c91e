"""Live OTLP export during a run (`tracing.otlp_endpoint`): an `AttemptSink` whose `attempt_stored` only
queues the stored try (bounded, never blocks); a background thread maps it to spans (the same mapping
and ids as `agentbench export otel`, otel_spans.py), encodes it and POSTs batches to the collector.

Nothing here fails or slows the run; each kind of trouble is reported once (through `note`, on the run's
event loop). A collector that is down (no answer, HTTP 408, 429 or 5xx): the encoded traces wait in a
bounded buffer (`MAX_PENDING_BYTES`; the oldest go first when it is full) and are sent when it answers
again (retried with backoff up to `RETRY_MAX_S`, or after its Retry-After). A collector that refuses
spans (any other answer below 500): that batch is dropped and counted, never retried; on 413 it is split
in two and each half tried once, down to one trace. A trace that cannot be encoded is dropped. An export
thread that dies stops the sink (`attempt_stored` then does nothing). `close()` flushes for at most
`FLUSH_TIMEOUT_S` (one last try when the collector is down) and says how many attempts' traces did not
arrive; `agentbench export otel RUN_DIR` sends them after the run, with the same ids.
"""

from __future__ import annotations

import asyncio
import itertools
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
from agentbench.export.otel import OtlpSender, agentbench_version, encode
from agentbench.export.otel_spans import RunInfo, TryInfo, attempt_spans, run_info
from agentbench.protocols import AttemptRecord, Event
from agentbench.redact import split_userinfo
from agentbench.store import RunStore

QUEUE_ATTEMPTS = 1000  # stored tries waiting to be mapped; past that new ones are dropped (and counted)
MAX_PENDING_BYTES = 64 << 20  # encoded traces waiting for the collector
MAX_REQUEST_BYTES = 4 << 20  # one POST carries up to this much (several attempts at once)
BATCH_DELAY_S = 0.5  # a stored try waits up to this long for others to share its POST
RETRY_MAX_S = 15.0  # backoff cap while the collector does not answer
RETRY_AFTER_MAX_S = 60.0  # a collector's Retry-After is honoured up to this
FLUSH_TIMEOUT_S = 10.0  # close(): at most this long for what is still queued
BUSY_STATUSES = frozenset({408, 429})  # with 5xx and no answer at all: the collector is down, try again
REPLY_CHARS = 200  # of the collector's reply, in the note
_STOP = object()


class LiveSender(OtlpSender):
    """One POST and what came of it, never waiting: (HTTP status, or None when the collector does not answer;
    its reply or the error; its Retry-After in seconds, or None)."""

    def post(self, body: bytes) -> tuple[int | None, str, float | None]:
        import httpx

        try:
            resp = self._client.post(self.url, content=body)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}", None
        asked = resp.headers.get("retry-after", "").strip()
        return (resp.status_code, resp.text[:REPLY_CHARS],
                float(asked) if asked.replace(".", "", 1).isdigit() else None)


class LiveOtlpSink:
    """See the module doc. `sender` and the limits are parameters so tests can make them small."""

    def __init__(self, store_path: Path, endpoint: str, redact: Callable[[str], str], note: Callable[[str], None],
                 *, content: bool | None = None, service_name: str | None = None, sender: LiveSender | None = None,
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
        self._reported: set[str] = set()  # the kinds said once: down, refused, encode, died
        self._closed = False
        self.dead = False  # the export thread has ended (it died, or close() stopped it): nothing is queued
        self.stored = 0  # tries handed to the sink
        self.sent = 0  # tries whose trace the collector accepted
        self.dropped = 0  # tries lost: queue or buffer full, refused, not encodable, or the thread died
        self.refused = 0  # tries whose trace the collector refused (4xx), of `dropped`
        self.spans_sent = 0
        self._pending_bytes = 0
        self._info: RunInfo | None = None
        self._thread = threading.Thread(target=self._work, name="agentbench-otlp", daemon=True)
        self._thread.start()

    # -- the driver's side (on the event loop: return at once) ------------------------------------
    def attempt_stored(self, attempt_id: int, record: AttemptRecord, events: list[Event], t_start: float,
                       t_end: float) -> None:
        self.stored += 1
        if self.dead:
            self.dropped += 1
            return
        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                pass
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
            refused = f" ({self.refused} refused by it)" if self.refused else ""
            self._say(f"tracing: {lost} of {self.stored} attempts' traces did not reach {self.url}{refused}; "
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

    def _report(self, kind: str, text: str) -> None:
        if kind not in self._reported:
            self._reported.add(kind)
            self._say(text)

    def _work(self) -> None:
        reader = _Reader(self._store_path)
        try:
            self._loop_until_closed(reader)
        except Exception as exc:  # never silent: the sink stops, the run goes on
            self.dead = True
            self._drain()
            self._report("died", f"tracing: live OTLP export stopped: {type(exc).__name__}: {exc}; the run goes "
                                 f"on; export after the fact with `agentbench export otel {self._run_dir}`")
        finally:
            self.dead = True
            reader.close()

    def _drain(self) -> None:
        """Let go of the queued tries (their events) once the thread is dead; they count as dropped."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP:
                self.dropped += 1

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
                asked = self._send(pending)
                now = time.monotonic()
                if asked is None:  # the oldest batch is settled (sent, or refused and dropped)
                    backoff, next_send, since = 1.0, 0.0, now
                else:  # the collector is down: wait its Retry-After, or back off
                    next_send = now + (min(asked, RETRY_AFTER_MAX_S) if asked > 0 else backoff)
                    backoff = min(backoff * 2, RETRY_MAX_S)
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
            self._report("encode", f"tracing: a trace could not be encoded ({type(exc).__name__}: {exc}); "
                                   f"the run goes on without it")
            return
        pending.append((body, len(spans)))
        self._pending_bytes += len(body)
        while self._pending_bytes > self._max_pending and len(pending) > 1:  # the oldest go first
            old, _ = pending.popleft()
            self._pending_bytes -= len(old)
            self.dropped += 1

    def _send(self, pending: deque[tuple[bytes, int]]) -> float | None:
        """POST the oldest pending traces (up to MAX_REQUEST_BYTES, one request): None when they are settled,
        else the collector is down (they stay) and this is its Retry-After (0: none)."""
        count, size = 0, 0
        for body, _ in pending:
            if count and size + len(body) > MAX_REQUEST_BYTES:
                break
            count, size = count + 1, size + len(body)
        return self._deliver(pending, count)

    def _deliver(self, pending: deque[tuple[bytes, int]], count: int) -> float | None:
        """POST the oldest `count` pending traces as one request (concatenated requests are one request:
        protobuf merges repeated fields). Sent or refused, they leave `pending` (None); a 413 splits them in
        two, each half tried once, down to one trace; while the collector is down they stay (its Retry-After)."""
        if time.monotonic() >= self._deadline:
            return 0.0  # close() has waited long enough: stop here
        if self._sender is None:
            self._sender = LiveSender(self._endpoint, timeout_s=5.0)
        status, reply, asked = self._sender.post(b"".join(body for body, _ in itertools.islice(pending, count)))
        if status is not None and status < 300:
            self._settle(pending, count, sent=True)
            return None
        if status is None or status in BUSY_STATUSES or status >= 500:
            why = f"does not answer ({reply})" if status is None else f"answers HTTP {status} {self._redact(reply)!r}"
            self._report("down", f"tracing: the OTLP collector at {self.url} {why}; the run goes on, its traces "
                                 f"are kept (up to {self._max_pending >> 20} MiB) and sent when the collector "
                                 f"takes them")
            return asked or 0.0
        if status == 413 and count > 1:  # too large: each half once (a half that is still too large splits)
            half = count // 2
            first = self._deliver(pending, half)
            return first if first is not None else self._deliver(pending, count - half)
        self._settle(pending, count, sent=False)
        self._report("refused", f"tracing: the OTLP collector at {self.url} refuses spans: HTTP {status} "
                                f"{self._redact(reply)!r}; the run goes on, the traces it refuses are dropped "
                                f"(counted at the end), not retried")
        return None

    def _settle(self, pending: deque[tuple[bytes, int]], count: int, sent: bool) -> None:
        for _ in range(count):
            body, n_spans = pending.popleft()
            self._pending_bytes -= len(body)
            if sent:
                self.sent += 1
                self.spans_sent += n_spans
            else:
                self.refused += 1
                self.dropped += 1


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
