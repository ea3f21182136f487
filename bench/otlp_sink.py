"""A loopback OTLP/HTTP receiver that answers at once and counts what it got.

    python bench/otlp_sink.py            # prints "PORT\\n", then serves until stdin closes

It runs in its own process so that decoding exports never competes for the benchmarked
process's GIL. ``GET /stats`` returns ``{"requests", "spans", "bytes"}``; ``POST /reset`` zeroes
them. Spans are counted by decoding each trace export (the only way to know none was lost).
"""

from __future__ import annotations

import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_lock = threading.Lock()
_stats = {"requests": 0, "spans": 0, "bytes": 0}


def _count_spans(body: bytes) -> int:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return sum(
        len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a collector does

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/reset":
            with _lock:
                for key in _stats:
                    _stats[key] = 0
        elif self.path.endswith("/v1/traces"):
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            spans = _count_spans(body)
            with _lock:
                _stats["requests"] += 1
                _stats["spans"] += spans
                _stats["bytes"] += len(body)
        self._reply(b"")

    def do_GET(self) -> None:
        with _lock:
            payload = json.dumps(_stats).encode()
        self._reply(payload, "application/json")

    def _reply(self, payload: bytes, content_type: str = "application/x-protobuf") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # the runner closes our stdin (or dies) when it is done
    server.shutdown()


if __name__ == "__main__":
    main()
