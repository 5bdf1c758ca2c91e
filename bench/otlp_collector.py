"""A minimal OTLP/HTTP collector on loopback for the benches: POST /v1/traces keeps the request (answering
200 with an empty ExportTraceServiceResponse); GET /stats decodes what it kept and returns the counts of
requests, traces and spans as JSON. Decoding waits for /stats so that the collector's own work does not
compete with the measured run for the machine's cores. Run as `python bench/otlp_collector.py PORT_FILE`:
it writes its port there."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.spans = 0
        self.traces: set[bytes] = set()
        self.bodies: list[bytes] = []


def make_handler(counts: Counts):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (ExportTraceServiceRequest,
                                                                          ExportTraceServiceResponse)

    empty = ExportTraceServiceResponse().SerializeToString()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _reply(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != "/v1/traces":
                return self._reply(404, b"", "text/plain")
            with counts.lock:
                counts.requests += 1
                counts.bodies.append(body)
            self._reply(200, empty, "application/x-protobuf")

        def do_GET(self) -> None:
            with counts.lock:
                for body in counts.bodies:
                    request = ExportTraceServiceRequest.FromString(body)
                    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
                    counts.spans += len(spans)
                    counts.traces.update(s.trace_id for s in spans)
                counts.bodies.clear()
                body = json.dumps({"requests": counts.requests, "spans": counts.spans,
                                   "traces": len(counts.traces)}).encode()
            self._reply(200, body, "application/json")

    return Handler


def main() -> None:
    counts = Counts()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(counts))
    Path(sys.argv[1]).write_text(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
