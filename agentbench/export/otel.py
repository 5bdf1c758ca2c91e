"""OTLP export of a run's traces (OTLP over HTTP/protobuf; spans also as opentelemetry-sdk ReadableSpans).

`export_run(store, endpoint)` sends every stored try of a finished run as one trace each (the mapping is
agentbench/export/otel_spans.py), in requests of about `batch_spans` spans; the live export during a run
(otel_live.py) sends the same spans through the same `encode` and `OtlpSender`. Headers a collector wants
(Langfuse's `Authorization`, Honeycomb's team key) come from the standard environment variables
`OTEL_EXPORTER_OTLP_TRACES_HEADERS` / `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,k2=v2`), never from the config,
so no secret is stored with the run. The request bytes come from otlp_wire.py (the SDK's encoder gives the
same message at three times the cost); heavy imports (the SDK, httpx) happen inside the functions.
"""

from __future__ import annotations

import functools
import os
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agentbench.config.schema import otlp_traces_url
from agentbench.export.otel_spans import RunInfo, SpanSpec, TryInfo, attempt_spans, run_info
from agentbench.redact import split_userinfo
from agentbench.store import RunStore

HEADER_ENV = ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS")  # later wins
SCOPE = "agentbench"
RETRY_STATUSES = frozenset({429, 502, 503, 504})  # OTLP/HTTP: the collector is busy, try again later
BATCH_SPANS = 2000  # spans per request, at most
BATCH_CHARS = 4_000_000  # text per request, about (content exports: a collector's request limit is a few MB)


class ExportError(RuntimeError):
    """The collector could not be reached or refused the spans (the message names the URL)."""


@dataclass
class ExportStats:
    traces: int = 0
    spans: int = 0
    span_events: int = 0
    requests: int = 0
    bytes: int = 0
    seconds: float = 0.0


@functools.lru_cache(maxsize=1)
def agentbench_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("agentbench")
    except metadata.PackageNotFoundError:
        return "unknown"


def env_headers(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The OTLP headers the standard environment variables ask for (`k=v,k2=v2`, values URL-encoded)."""
    from opentelemetry.util.re import parse_env_headers

    environ = os.environ if environ is None else environ
    headers: dict[str, str] = {}
    for name in HEADER_ENV:
        if environ.get(name):
            headers.update(parse_env_headers(environ[name], liberal=True))
    return headers


def encode(specs: Iterable[SpanSpec], resource: Mapping[str, Any]) -> bytes:
    """An OTLP ExportTraceServiceRequest (protobuf bytes) of `specs` under one resource (otlp_wire.py). Two
    such requests concatenated are one request with both (protobuf merges repeated fields): the live
    export batches that way."""
    from agentbench.export.otlp_wire import encode_request

    return encode_request(specs, resource, SCOPE, str(resource.get("service.version", "")))


def readable_spans(specs: Iterable[SpanSpec], resource: Mapping[str, Any]) -> list[Any]:
    """The same spans as opentelemetry-sdk `ReadableSpan`s, for any SDK `SpanExporter` (gRPC, console)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

    res = Resource(dict(resource))
    scope = InstrumentationScope(SCOPE, str(resource.get("service.version", "")))
    kinds = {"internal": SpanKind.INTERNAL, "client": SpanKind.CLIENT, "server": SpanKind.SERVER}
    codes = {"unset": StatusCode.UNSET, "ok": StatusCode.OK, "error": StatusCode.ERROR}
    sampled = TraceFlags(TraceFlags.SAMPLED)
    out = []
    for s in specs:
        trace_id = int(s.trace_id, 16)
        context = SpanContext(trace_id, int(s.span_id, 16), is_remote=False, trace_flags=sampled)
        parent = (SpanContext(trace_id, int(s.parent_id, 16), is_remote=False, trace_flags=sampled)
                  if s.parent_id else None)
        status = Status(codes[s.status], s.status_message or None) if s.status == "error" else Status(codes[s.status])
        out.append(ReadableSpan(
            s.name, context=context, parent=parent, resource=res, attributes=s.attributes,
            events=[Event(e.name, e.attributes, e.time_ns, limit=None) for e in s.events], kind=kinds[s.kind],
            status=status, start_time=s.start_ns, end_time=s.end_ns, instrumentation_scope=scope))
    return out


@functools.lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """One TLS context per process (loading the CA certificates costs tens of ms per client)."""
    return ssl.create_default_context()


class OtlpSender:
    """POSTs encoded requests to a collector's `/v1/traces`; a failure is an ExportError naming the URL.
    `send(body, retry_s=...)` retries a busy collector (429, 502-504; Phoenix answers 503 while its ingest
    queue is full), honouring Retry-After, for up to `retry_s`; one that does not answer fails at once."""

    def __init__(self, endpoint: str, timeout_s: float = 10.0, headers: Mapping[str, str] | None = None) -> None:
        import httpx

        self.url = otlp_traces_url(endpoint)
        self.shown = split_userinfo(self.url)[0]  # what messages name: a password in the URL masked
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0)),
                                    verify=_tls() if self.url.startswith("https:") else False,  # http: no TLS
                                    headers={"Content-Type": "application/x-protobuf",
                                             **(env_headers() if headers is None else headers)})

    def send(self, body: bytes, retry_s: float = 0.0) -> None:
        import httpx

        deadline, wait = time.monotonic() + retry_s, 0.25
        while True:
            try:
                resp = self._client.post(self.url, content=body)
            except httpx.HTTPError as exc:
                raise ExportError(f"the OTLP collector at {self.shown} does not answer "
                                  f"({type(exc).__name__}: {exc})") from exc
            if resp.status_code < 300:
                return
            if resp.status_code in RETRY_STATUSES:
                asked = resp.headers.get("retry-after", "")
                pause = float(asked) if asked.replace(".", "", 1).isdigit() else wait
                if time.monotonic() + pause < deadline:
                    time.sleep(pause)
                    wait = min(wait * 2, 5.0)
                    continue
            raise ExportError(f"the OTLP collector at {self.shown} refused the spans: HTTP {resp.status_code} "
                              f"{resp.text[:300]!r}")

    def close(self) -> None:
        self._client.close()


def store_info(store: RunStore, content: bool | None = None, service_name: str | None = None) -> RunInfo:
    return run_info(store.meta, content=content, service_name=service_name, version=agentbench_version())


def text_size(spans: Iterable[SpanSpec]) -> int:
    """About how many characters of text the spans carry (what makes a request big)."""
    return sum(len(v) for s in spans for v in s.attributes.values() if isinstance(v, str))


def export_run(store: RunStore, endpoint: str, *, content: bool | None = None, service_name: str | None = None,
               batch_spans: int = BATCH_SPANS, timeout_s: float = 30.0, retry_s: float = 120.0,
               sender: OtlpSender | None = None) -> ExportStats:
    """Send every stored try of the run as one trace each (docs/tracing.md). `content` (prompts, replies,
    outputs) defaults to the run's `tracing.export_content`. A busy collector is retried for up to
    `retry_s` per request; one that fails raises ExportError."""
    from agentbench.export.store_rows import tries

    t0 = time.perf_counter()
    info = store_info(store, content, service_name)
    redact = store.redactor.text
    own = sender is None
    sender = sender or OtlpSender(endpoint, timeout_s)
    stats = ExportStats()
    batch: list[SpanSpec] = []
    chars = 0

    def flush() -> None:
        nonlocal chars
        if batch:
            body = encode(batch, info.resource)
            sender.send(body, retry_s)
            stats.requests += 1
            stats.bytes += len(body)
            batch.clear()
            chars = 0

    try:
        for row in tries(store):
            spans = attempt_spans(info, row.record, TryInfo(row.id, row.try_, row.t_start, row.t_end),
                                  store.events(row.id), redact)
            stats.traces += 1
            stats.spans += len(spans)
            stats.span_events += sum(len(s.events) for s in spans)
            if batch and (len(batch) + len(spans) > batch_spans or (info.content and chars > BATCH_CHARS)):
                flush()
            batch.extend(spans)
            if info.content:
                chars += text_size(spans)
        flush()
    finally:
        if own:
            sender.close()
    stats.seconds = time.perf_counter() - t0
    return stats
