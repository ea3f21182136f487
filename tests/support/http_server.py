"""A loopback HTTP/1.1 server for HTTP-client tests that records every request it receives.

The path chooses the answer, so concurrent clients need no shared set-up:

- ``/status/<code>``: that status, empty body
- ``/redirect/<n>``: 302 to ``/redirect/<n-1>``; ``/redirect/0`` answers 200
- ``/delay/<seconds>``: 200 after sleeping
- ``/close``: closes the connection without answering
- anything else: 200 with body ``ok``

Any method is accepted (``PROPFIND``, lower-case ``get``…). Tests compare the ``traceparent``
the server received with the spans the OTLP receiver got.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the server read it; header names lower-cased."""

    method: str
    path: str
    headers: dict[str, str]


class RecordingHTTPServer:
    """Serves on ``127.0.0.1``, on a free port, in a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._http.daemon_threads = True
        self.port: int = self._http.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def url(self, path: str = "/") -> str:
        """The absolute URL of ``path`` on this server."""
        return self.base_url + path

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def only_request(self) -> ReceivedRequest:
        """The one request received since the last ``clear`` (fails if there were others)."""
        received = self.requests
        assert len(received) == 1, f"expected one request, got {received}"
        return received[0]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as clients' connection pools expect

            def __getattr__(self, name: str) -> Any:
                if name.startswith("do_"):  # every method, whatever its spelling
                    return self._answer
                raise AttributeError(name)

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                server._record(
                    ReceivedRequest(
                        self.command, self.path, {k.lower(): v for k, v in self.headers.items()}
                    )
                )
                status, headers, body = 200, {}, b"ok"
                parts = self.path.split("?", 1)[0].strip("/").split("/")
                if parts[0] == "close":
                    self.close_connection = True
                    return
                if parts[0] == "status":
                    status, body = int(parts[1]), b""
                elif parts[0] == "redirect" and int(parts[1]) > 0:
                    status, body = 302, b""
                    headers["Location"] = f"/redirect/{int(parts[1]) - 1}"
                elif parts[0] == "delay":
                    time.sleep(float(parts[1]))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def refused_url(path: str = "/") -> str:
    """A loopback URL nothing listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def traceparent_ids(traceparent: str) -> tuple[str, str]:
    """(trace id, parent span id) of a W3C ``traceparent`` header, as the receiver spells them."""
    version, trace_id, span_id, _flags = traceparent.split("-")
    assert version == "00", traceparent
    return trace_id, span_id
