"""The OTLP session's retries, request by request: which failures are retried, how fast once
the process is exiting, and that it always stops by the deadline.

A loopback server that resets its first connections (or answers 503, or refuses) stands in for
a collector that restarts; the session under test is the one the exporters use.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from llmtrace_agent._pipeline import retry
from tests.resilience.collectors import refused_endpoint


class FlakyServer:
    """Answers 200 over raw HTTP/1.1, after resetting the first ``resets`` connections."""

    def __init__(self, resets: int) -> None:
        self.resets = resets
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1/traces"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            with connection:
                connection.recv(65536)
                if self.connections <= self.resets:  # RST instead of an answer
                    connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    continue
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )

    def close(self) -> None:
        self._listener.close()


@pytest.fixture(autouse=True)
def patient() -> Iterator[None]:
    """Each test starts and ends with no exit under way (the in-process agent may flush)."""
    retry.relax()
    yield
    retry.relax()


def test_reset_connections_are_retried_quickly_while_exiting() -> None:
    server = FlakyServer(resets=2)
    try:
        retry.hurry(time.monotonic() + 2.0)
        retry.note.retried = False
        started = time.monotonic()
        response = retry.RetryingSession().post(server.url, data=b"spans", timeout=1)
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert response.status_code == 200
    assert server.connections == 3
    assert retry.note.retried
    assert elapsed < 0.5  # 50 ms, then 100 ms: not the exporters' 1 s, then 2 s


def test_a_collector_that_stays_down_costs_at_most_the_deadline() -> None:
    retry.hurry(time.monotonic() + 0.6)
    started = time.monotonic()
    with pytest.raises(retry.ExportGaveUp, match="ConnectionRefusedError"):
        retry.RetryingSession().post(refused_endpoint() + "/v1/traces", data=b"x", timeout=5)
    assert time.monotonic() - started < 0.6


def test_an_exit_cuts_a_patient_back_off_short() -> None:
    server = FlakyServer(resets=1)
    session = retry.RetryingSession(window_s=30)
    try:
        threading.Timer(0.1, retry.hurry, [time.monotonic() + 5]).start()
        started = time.monotonic()
        response = session.post(server.url, data=b"spans", timeout=1)
    finally:
        server.close()
    assert response.status_code == 200
    assert time.monotonic() - started < 0.35  # the 0.5 s patient pause was cut at 0.1 s
