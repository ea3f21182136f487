"""The loopback HTTP server every fake in the tests is built on.

A ``LoopbackServer`` listens on a free port of 127.0.0.1, answers from daemon threads over
HTTP/1.1 keep-alive (as SDK connection pools expect), and records each request it reads. A fake
(of the OpenAI API, of Anthropic's, a plain recording server…) subclasses it and implements
``answer``, writing its response with the ``Exchange`` helpers: JSON, raw bytes, a chunked body
(server-sent events, NDJSON, AWS event streams) or a dropped connection. A ``ScenarioServer``
chooses its reply by a path prefix, a ``QueuedRepliesServer`` answers with the replies a test
queued. ``loopback_fixtures``
declares the pytest fixtures of one such server.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar

import pytest


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the server read it: header names lower-cased, the body decoded from JSON
    when it is JSON (else the raw bytes; None when there was none)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any = None

    @property
    def json(self) -> dict[str, Any]:
        assert isinstance(self.body, dict), self.body
        return self.body


class Exchange(BaseHTTPRequestHandler):
    """One request/response on the wire, with the ways a fake answers it."""

    protocol_version = "HTTP/1.1"  # keep-alive, as clients' connection pools expect
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall between headers and body
    server: _Server

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # every method, whatever its spelling (PROPFIND, get…)
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = ReceivedRequest(self.command, self.path, headers, body)
        self.server.fake._record(request)
        try:
            self.server.fake.answer(self, request)
        except (BrokenPipeError, ConnectionResetError):  # the client went away (cancelled…)
            self.close_connection = True

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        """A complete JSON response."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_body(status, data, "application/json", headers)

    def send_body(
        self,
        status: int,
        data: bytes,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """A complete response with this body (none is written for HEAD)."""
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def start_chunks(
        self, status: int, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        """The head of a chunked response; then ``chunk`` each piece and ``end_chunks``."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def chunk(self, data: bytes) -> None:
        """One chunk, flushed at once so the client sees it arrive on its own."""
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_chunks(self) -> None:
        self.chunk(b"")

    def send_events(self, events: list[str], cut: bool = False) -> None:
        """Server-sent events, each flushed as a chunk of its own; ``cut`` drops the connection
        after the first."""
        self.start_chunks(200, "text/event-stream")
        for number, event in enumerate(events):
            self.chunk(event.encode())
            if cut and number == 0:
                self.drop()
                return
        self.end_chunks()

    def drop(self) -> None:
        """Close the connection abruptly, mid-response."""
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: LoopbackServer) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), Exchange)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (a cancelled call, a stream closed early) are part of the tests.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class LoopbackServer:
    """Serves on ``127.0.0.1``, on a free port, in a daemon thread; subclasses answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._http = _Server(self)
        self.port: int = self._http.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def answer(self, exchange: Exchange, request: ReceivedRequest) -> None:
        """Write the response to ``request``."""
        raise NotImplementedError

    def url(self, path: str = "/") -> str:
        """The absolute URL of ``path`` on this server."""
        return self.origin + path

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def only_request(self) -> ReceivedRequest:
        """The one request received since the last ``clear`` (fails if there were others)."""
        received = self.requests
        assert len(received) == 1, f"expected one request, got {received}"
        return received[0]

    def last_request(self) -> ReceivedRequest:
        received = self.requests
        assert received, f"{type(self).__name__} received no request"
        return received[-1]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._requests.append(request)


Reply = TypeVar("Reply")


class QueuedRepliesServer(LoopbackServer, Generic[Reply]):
    """A fake answering with the replies a test queued, in order (then with its default)."""

    def __init__(self) -> None:
        super().__init__()
        self._replies: deque[Reply] = deque()

    def reply(self, *replies: Reply) -> None:
        """Answer the next requests with these, in order (then plausibly again)."""
        with self._lock:
            self._replies.extend(replies)

    def next_reply(self) -> Reply | None:
        """The next queued reply, or None when the queue is empty."""
        with self._lock:
            return self._replies.popleft() if self._replies else None

    def clear(self) -> None:
        with self._lock:
            self._replies.clear()
        super().clear()


class ScenarioServer(LoopbackServer):
    """A fake whose reply is chosen by a path prefix, ``/scenario/<name>/…`` (``text`` without
    one), so a client only needs its base URL (``scenario_url(name)``); ``status_<code>`` answers
    that HTTP status with ``error_body``. Subclasses implement ``answer_scenario``."""

    error_body: dict[str, Any] = {"message": "fake error"}

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)  # numbers the response ids
        self.base_url = self.origin

    def scenario_url(self, scenario: str = "text") -> str:
        """The server URL a client uses to get ``scenario``'s answers."""
        return f"{self.origin}/scenario/{scenario}"

    def answer(self, exchange: Exchange, request: ReceivedRequest) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        scenario, path = "text", request.path
        if path.startswith("/scenario/"):
            _, _, scenario, path = path.split("/", 3)
            path = "/" + path
        if scenario.startswith("status_"):
            exchange.send_json(int(scenario.removeprefix("status_")), self.error_body)
            return
        self.answer_scenario(exchange, scenario, path, body)

    def answer_scenario(
        self, exchange: Exchange, scenario: str, path: str, body: dict[str, Any]
    ) -> None:
        """Write the response to a request for ``path`` (the prefix removed) in ``scenario``."""
        raise NotImplementedError


Server = TypeVar("Server", bound=LoopbackServer)


def loopback_fixtures(
    name: str, server_class: type[Server], doc: str
) -> tuple[Callable[..., Iterator[Server]], Callable[..., Server]]:
    """The fixtures ``_<name>`` (one ``server_class`` server for the whole session: starting a
    server per test is slow) and ``<name>`` (that server, its requests cleared for the test;
    ``doc`` says what it is). Assign both in a conftest: ``_fake_x, fake_x = loopback_fixtures(…)``.
    """
    session_name = "_" + name

    @pytest.fixture(scope="session", name=session_name)
    def session_server() -> Iterator[Server]:
        server = server_class()
        yield server
        server.close()

    def cleared_server(request: pytest.FixtureRequest) -> Server:
        server: Server = request.getfixturevalue(session_name)
        server.clear()
        return server

    cleared_server.__doc__ = doc
    return session_server, pytest.fixture(name=name)(cleared_server)
