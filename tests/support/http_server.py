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
import time

from tests.support.loopback import Exchange, LoopbackServer, ReceivedRequest

__all__ = ["ReceivedRequest", "RecordingHTTPServer", "refused_url", "traceparent_ids"]


class RecordingHTTPServer(LoopbackServer):
    """Answers by path (see above) and records every request."""

    def __init__(self) -> None:
        super().__init__()
        self.base_url = self.origin

    def answer(self, exchange: Exchange, request: ReceivedRequest) -> None:
        parts = request.path.split("?", 1)[0].strip("/").split("/")
        status, headers, body = 200, {}, b"ok"
        if parts[0] == "close":
            exchange.close_connection = True
            return
        if parts[0] == "status":
            status, body = int(parts[1]), b""
        elif parts[0] == "redirect" and int(parts[1]) > 0:
            status, body = 302, b""
            headers["Location"] = f"/redirect/{int(parts[1]) - 1}"
        elif parts[0] == "delay":
            time.sleep(float(parts[1]))
        exchange.send_body(status, body, headers=headers)


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
