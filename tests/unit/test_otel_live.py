"""The live OTLP sink (agentbench/export/otel_live.py) against a real HTTP peer: a loopback collector from
the stdlib, in a thread, that answers what each test needs. A collector that refuses spans (4xx) loses
that batch, counted and said once, and the traces behind it still go; 413 splits a batch down to one
trace; a busy one (503) keeps the traces and is retried after its Retry-After; each kind of trouble is
reported once on its own; a dead export thread is reported and the sink stops queueing."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from agentbench.export.otel_live import LiveOtlpSink
from agentbench.events import AttemptEnd, AttemptStart, Event
from agentbench.protocols import AttemptRecord
from agentbench.store import RunStore

Answer = tuple[int, dict[str, str], bytes]


class Collector:
    """POST /v1/traces: records (time, trace ids, task ids) of each request and answers `answer(request)`."""

    def __init__(self) -> None:
        self.requests: list[tuple[float, set[bytes], set[str]]] = []
        self.answer: Callable[[tuple[float, set[bytes], set[str]]], Answer] = lambda req: (200, {}, b"")
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                msg = ExportTraceServiceRequest.FromString(body)
                spans = [s for rs in msg.resource_spans for ss in rs.scope_spans for s in ss.spans]
                tasks = {a.value.string_value for s in spans for a in s.attributes if a.key == "agentbench.task.id"}
                req = (time.monotonic(), {s.trace_id for s in spans}, tasks)
                collector.requests.append(req)
                status, headers, reply = collector.answer(req)
                self.send_response(status)
                for key, value in {"Content-Length": str(len(reply)), **headers}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self._server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def collector():
    c = Collector()
    yield c
    c.stop()


@pytest.fixture
def store(tmp_path):
    s = RunStore.in_dir(tmp_path)
    s.set_meta("config", {"name": "x", "graph": "null"})
    yield s
    s.close()


def attempt(store: RunStore, task: str) -> tuple[int, AttemptRecord, list[Event]]:
    record = AttemptRecord(task_id=task, epoch=0, status="failed")
    events = [AttemptStart(seq=0, t_start=1.0, t_end=1.0), AttemptEnd(seq=1, t_start=2.0, t_end=2.0, status="failed")]
    return store.add_attempt(record, events, 1.0, 2.0), record, events


def hand(sink: LiveOtlpSink, store: RunStore, *tasks: str) -> None:
    for task in tasks:
        attempt_id, record, events = attempt(store, task)
        sink.attempt_stored(attempt_id, record, events, 1.0, 2.0)


def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert check()


def closed_in(sink: LiveOtlpSink) -> float:
    t0 = time.monotonic()
    sink.close()
    return time.monotonic() - t0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_batch_is_dropped_said_once_and_the_traces_behind_it_go(store, collector):
    collector.answer = lambda req: ((400, {}, b"bad spans: unknown field 7") if "t-bad" in req[2] else (200, {}, b""))
    notes: list[str] = []
    sink = LiveOtlpSink(store.path, collector.url, store.redactor.text, notes.append, flush_timeout_s=3.0)
    hand(sink, store, "t-bad")
    until(lambda: sink.refused == 1)
    hand(sink, store, "t-bad", "t-ok-1", "t-ok-2")  # one batch: refused whole, the good ones with it
    until(lambda: len(collector.requests) >= 2)
    hand(sink, store, "t-ok-3")
    assert closed_in(sink) < 5.0
    refusals = [n for n in notes if "refuses spans" in n]
    assert len(refusals) == 1 and "HTTP 400" in refusals[0] and "bad spans: unknown field 7" in refusals[0]
    assert not any("kept" in n or "does not answer" in n for n in notes), notes
    assert sink.sent == 1 and sink.refused == 4 and sink.dropped == 4  # a 400 drops the whole batch, not retried
    assert [sorted(r[2]) for r in collector.requests] == [["t-bad"], ["t-bad", "t-ok-1", "t-ok-2"], ["t-ok-3"]]
    assert any("4 of 5 attempts' traces did not reach" in n and "(4 refused by it)" in n for n in notes), notes


def test_413_splits_the_batch_in_halves_down_to_one_trace(store, collector):
    def answer(req):
        too_large = len(req[1]) > 1 or "t-huge" in req[2]
        return (413, {}, b"request entity too large") if too_large else (200, {}, b"")

    collector.answer = answer
    notes: list[str] = []
    sink = LiveOtlpSink(store.path, collector.url, store.redactor.text, notes.append, flush_timeout_s=3.0)
    hand(sink, store, "t-1", "t-2", "t-3", "t-huge")  # one batch (within BATCH_DELAY_S)
    until(lambda: sink.sent + sink.refused == 4)
    assert closed_in(sink) < 5.0
    assert [len(r[1]) for r in collector.requests] == [4, 2, 1, 1, 2, 1, 1]  # each half once, down to one
    assert collector.requests[-1][2] == {"t-huge"}
    assert sink.sent == 3 and sink.refused == 1
    refusals = [n for n in notes if "refuses spans" in n]
    assert len(refusals) == 1 and "HTTP 413" in refusals[0] and "request entity too large" in refusals[0]


def test_a_busy_collector_keeps_the_traces_and_is_retried_after_its_retry_after(store, collector):
    collector.answer = lambda req: ((503, {"Retry-After": "2"}, b"ingest queue full") if len(collector.requests) == 1
                                    else (200, {}, b""))
    notes: list[str] = []
    sink = LiveOtlpSink(store.path, collector.url, store.redactor.text, notes.append, flush_timeout_s=3.0)
    hand(sink, store, "t-1")
    until(lambda: sink.sent == 1)
    assert closed_in(sink) < 5.0
    assert [r[2] for r in collector.requests] == [{"t-1"}, {"t-1"}]  # the same trace, again
    assert collector.requests[1][0] - collector.requests[0][0] >= 1.9  # Retry-After 2 (the backoff alone: 1 s)
    down = [n for n in notes if "answers HTTP 503" in n]
    assert len(down) == 1 and "ingest queue full" in down[0] and "kept" in down[0]
    assert not any("refuses" in n for n in notes) and sink.dropped == 0
    assert not any("did not reach" in n for n in notes), notes


def test_each_kind_of_trouble_is_said_once_on_its_own(store):
    def redact(text: str) -> str:  # fault injection: this try cannot be encoded
        if "t-poison" in text:
            raise ValueError("cannot redact this")
        return text

    notes: list[str] = []
    sink = LiveOtlpSink(store.path, f"http://127.0.0.1:{free_port()}", redact, notes.append, flush_timeout_s=1.0)
    hand(sink, store, "t-poison")
    until(lambda: any("could not be encoded" in n for n in notes))
    hand(sink, store, "t-1", "t-poison")  # an outage after an encode error is still said
    until(lambda: any("does not answer" in n for n in notes))
    assert closed_in(sink) < 3.5
    assert sum("could not be encoded" in n for n in notes) == 1
    assert sum("does not answer" in n for n in notes) == 1 and "kept" in notes[1]
    assert any("3 of 3 attempts' traces did not reach" in n for n in notes), notes
    assert sink.sent == 0 and sink.dropped == 2


class BrokenSender:
    """Fault injection: a sender that fails in a way the sink does not expect."""

    def post(self, body: bytes) -> tuple[int | None, str, float | None]:
        raise RuntimeError("boom")

    def close(self) -> None:
        pass


def test_a_dead_export_thread_is_said_once_and_the_sink_stops_queueing(store, tmp_path):
    notes: list[str] = []
    sink = LiveOtlpSink(store.path, "http://127.0.0.1:9", store.redactor.text, notes.append,
                        sender=BrokenSender(), flush_timeout_s=3.0)  # type: ignore[arg-type]
    hand(sink, store, "t-1")
    until(lambda: sink.dead and bool(notes))
    assert notes == [f"tracing: live OTLP export stopped: RuntimeError: boom; the run goes on; export after the "
                     f"fact with `agentbench export otel {tmp_path}`"]
    attempt_id, record, events = attempt(store, "t-2")
    slowest = 0.0
    for _ in range(2000):  # more than the queue holds: never blocks, never raises, queues nothing
        t0 = time.perf_counter()
        sink.attempt_stored(attempt_id, record, events, 1.0, 2.0)
        slowest = max(slowest, time.perf_counter() - t0)
    assert slowest < 0.05 and sink._queue.empty()
    assert closed_in(sink) < 1.0
    assert notes[1:] == [f"tracing: 2001 of 2001 attempts' traces did not reach http://127.0.0.1:9/v1/traces; "
                         f"`agentbench export otel {tmp_path} --endpoint URL` sends the run (the same trace ids)"]
