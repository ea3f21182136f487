"""Real web servers started under ``llmtrace-run`` for the server-span tests, stopped by signal."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from tests.support.agent import clean_env
from tests.support.otlp_receiver import OTLPReceiver


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Starts a command with SIGINT and SIGTERM at their default action, as a terminal or a process
# manager would: a test run started in the background of a non-interactive shell (as CI may be)
# inherits SIGINT ignored, and a dev server (flask run, runserver) would then ignore Ctrl-C.
WITH_DEFAULT_SIGNALS = [
    sys.executable,
    "-c",
    "import os, signal, sys\n"
    "for s in (signal.SIGINT, signal.SIGTERM): signal.signal(s, signal.SIG_DFL)\n"
    "os.execv(sys.argv[1], sys.argv[1:])",
]


class TracedServer:
    """``llmtrace-run <command>`` serving on ``port`` in ``cwd``, exporting to ``receiver``.

    The launcher execs the command, so ``process.pid`` is the server's (master's) pid.
    """

    def __init__(
        self,
        command: list[str],
        port: int,
        receiver: OTLPReceiver,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        ready_path: str = "/",
    ) -> None:
        self.port = port
        # An unlinked file: nothing is left behind in /tmp (a suite run starts hundreds of servers).
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (open as long as the server object)
        settings = {
            "LLMTRACE_RAISE_INTERNAL_ERRORS": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            # Nothing leaves before the server stops: only the flush at exit can deliver the spans.
            "OTEL_BSP_SCHEDULE_DELAY": "60000",
            "OTEL_METRICS_EXPORTER": "none",
            "PYTHONPATH": str(cwd),
            "PYTHONFAULTHANDLER": "1",  # a server that hangs shows where (see ``stop``)
        }
        settings.update(env or {})
        self.process = subprocess.Popen(
            [*WITH_DEFAULT_SIGNALS, sys.executable, "-m", "llmtrace_agent", "--", *command],
            env=clean_env(settings),
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready(ready_path)

    def wait_ready(self, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited {self.process.returncode}:\n{self.output}")
            try:
                self.get(path, timeout=1.0)
                return
            except OSError:
                time.sleep(0.1)
        self.stop(signal.SIGKILL)
        raise AssertionError(f"server not ready after {timeout}s:\n{self.output}")

    @property
    def output(self) -> str:
        # pread leaves the offset the server writes at (shared with this descriptor) alone.
        fd = self._log.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, bytes]:
        """One HTTP/1.1 request on a fresh connection: (status, body)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def get(self, path: str, headers: Mapping[str, str] | None = None, timeout: float = 10.0):  # type: ignore[no-untyped-def]
        return self.request("GET", path, headers, timeout=timeout)

    def read_first_bytes_then_disconnect(self, path: str, count: int = 1) -> bytes:
        """Start a streamed GET, read ``count`` body bytes, then drop the connection."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode())
            received = b""
            while b"\r\n\r\n" not in received or len(received.split(b"\r\n\r\n", 1)[1]) < count:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                received += chunk
            return received
        finally:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``signum`` to the server (its master), wait for it to exit: its return code."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signum)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGABRT)  # faulthandler: every thread's stack
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            raise AssertionError(f"server ignored signal {signum}:\n{self.output}") from None
