"""Collectors that misbehave, for the resilience tests (loopback only).

A refused endpoint (nothing listens), a hanging one (accepts, never answers), and the real
``OTLPReceiver`` made slow or failing for a while through its ``respond`` hook.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

from tests.support.http_server import refused_url


def refused_endpoint() -> str:
    """An OTLP endpoint where connecting is refused (a collector that is down)."""
    return refused_url("").rstrip("/")


class HangingCollector:
    """Accepts connections and reads nothing, answers nothing, until closed."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        self._closed = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.connections.append(connection)

    def close(self) -> None:
        self._closed.set()
        # Wake the blocked accept() before closing: a socket closed under a thread still in
        # accept() leaves that thread on a file descriptor number the process will reuse.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._acceptor.join(5)
        self._listener.close()
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()


def slow(seconds: float) -> Callable[[str], int]:
    """A ``respond`` hook answering 200 after ``seconds``."""

    def respond(path: str) -> int:
        time.sleep(seconds)
        return 200

    return respond


Answer = int | tuple[int, dict[str, str]]


class FailingFirst:
    """A ``respond`` hook answering trace exports with ``statuses`` in turn, then 200.

    An answer is a status or ``(status, headers)``, e.g. ``(429, {"Retry-After": "1"})``.
    """

    def __init__(self, statuses: list[Answer]) -> None:
        self._pending = list(statuses)
        self._lock = threading.Lock()
        self.trace_requests = 0
        self.times: list[float] = []
        """``time.monotonic()`` of each trace export request."""

    def __call__(self, path: str) -> Answer:
        if not path.endswith("/v1/traces"):
            return 200
        with self._lock:
            self.trace_requests += 1
            self.times.append(time.monotonic())
            return self._pending.pop(0) if self._pending else 200
