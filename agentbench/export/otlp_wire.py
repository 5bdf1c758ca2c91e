"""OTLP's protobuf wire format for `SpanSpec`s, written directly (pure; no protobuf runtime).

The live export encodes every stored try on a background thread of the run's own process, so its cost
is the run's cost: encoding through opentelemetry-sdk (`ReadableSpan` + its OTLP encoder) measured
2.3 ms for an attempt of 81 spans, this 0.8 ms (bench/overhead.py's attempts; docs/tracing.md). The
bytes decode to the same `ExportTraceServiceRequest` the SDK's encoder makes of the same spans
(tests/unit/test_otel_spans.py checks it field by field). Field numbers: opentelemetry-proto's
collector/trace/v1 and trace/v1 (ExportTraceServiceRequest > ResourceSpans > ScopeSpans > Span).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any

from agentbench.export.otel_spans import SpanSpec

_FIXED64 = struct.Struct("<Q").pack
_DOUBLE = struct.Struct("<d").pack
_FIXED32 = struct.Struct("<I").pack
KINDS = {"internal": 1, "server": 2, "client": 3}  # Span.SpanKind
CODES = {"unset": 0, "ok": 1, "error": 2}  # Status.StatusCode
SPAN_FLAGS = 0x100 | 0x01  # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE (not remote) | W3C sampled
_KEYS: dict[str, bytes] = {}  # attribute keys repeat on every span: their encoded field, once


def _varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field; `tag` is (field number << 3) | 2, one byte for fields 1-15."""
    return bytes((tag,)) + _varint(len(payload)) + payload


def _any_value(value: Any) -> bytes:
    """AnyValue: string 1, bool 2, int 3, double 4, array 5 (of AnyValue, field 1)."""
    if value is True or value is False:
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        data = value.encode("utf-8", "replace")
        return b"\x0a" + _varint(len(data)) + data
    if isinstance(value, int):
        return b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)  # int64, two's complement
    if isinstance(value, float):
        return b"\x21" + _DOUBLE(value)
    return _field(0x2A, b"".join(_field(0x0A, _any_value(v)) for v in value))


def _key_values(tag: int, attributes: Mapping[str, Any]) -> bytes:
    """Repeated KeyValue (key 1, value 2) as field `tag`."""
    out = []
    for key, value in attributes.items():
        encoded = _KEYS.get(key)
        if encoded is None:
            encoded = _KEYS[key] = _field(0x0A, key.encode())
        body = encoded + _field(0x12, _any_value(value))
        out.append(bytes((tag,)) + _varint(len(body)) + body)
    return b"".join(out)


def _span(s: SpanSpec) -> bytes:
    parts = [b"\x0a\x10" + bytes.fromhex(s.trace_id), b"\x12\x08" + bytes.fromhex(s.span_id)]
    if s.parent_id:
        parts.append(b"\x22\x08" + bytes.fromhex(s.parent_id))
    parts += [_field(0x2A, s.name.encode("utf-8", "replace")), b"\x30" + _varint(KINDS[s.kind]),
              b"\x39" + _FIXED64(s.start_ns), b"\x41" + _FIXED64(s.end_ns), _key_values(0x4A, s.attributes)]
    for event in s.events:  # Event: time 1 (fixed64), name 2, attributes 3
        parts.append(_field(0x5A, b"\x09" + _FIXED64(event.time_ns) + _field(0x12, event.name.encode())
                            + _key_values(0x1A, event.attributes)))
    status = _field(0x12, s.status_message.encode("utf-8", "replace")) if s.status_message else b""
    if s.status != "unset":
        status += b"\x18" + _varint(CODES[s.status])
    parts += [_field(0x7A, status), b"\x85\x01" + _FIXED32(SPAN_FLAGS)]  # status 15, flags 16 (fixed32)
    return _field(0x12, b"".join(parts))  # ScopeSpans.spans = 2


def encode_request(spans: Iterable[SpanSpec], resource: Mapping[str, Any], scope: str, version: str = "") -> bytes:
    """ExportTraceServiceRequest{resource_spans: [{resource, scope_spans: [{scope, spans}]}]}."""
    resource_msg = _field(0x0A, _key_values(0x0A, resource))  # ResourceSpans.resource = 1, attributes = 1
    scope_msg = _field(0x0A, _field(0x0A, scope.encode()) + (_field(0x12, version.encode()) if version else b""))
    scope_spans = _field(0x12, scope_msg + b"".join(_span(s) for s in spans))  # ResourceSpans.scope_spans = 2
    return _field(0x0A, resource_msg + scope_spans)
