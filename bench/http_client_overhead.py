"""Per-request cost of the requests instrumentation: GETs to a loopback server, with and without.

    python bench/http_client_overhead.py [REQUESTS_PER_ROUND] [ROUNDS]

One client process, the agent started in it exporting over OTLP/HTTP to a loopback receiver
(the batch exporter thread included). Rounds alternate between patched and unpatched requests
(the instrumentors' own ``uninstrument``/``instrument``), so machine noise hits both alike; the
medians are compared. The server and the receiver run in another process, off the client's GIL.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs (40 ms each)

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self) -> None:  # the OTLP receiver: accept and discard
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


def main() -> None:
    per_round = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        port = server.stdout.readline().strip()  # type: ignore[union-attr]
        import llmtrace_agent

        llmtrace_agent.start(
            exporters=["otlp"], otlp_endpoint=f"http://127.0.0.1:{port}", metrics_exporter="none"
        )
        import requests

        from llmtrace_agent import agent

        assert agent.registry is not None
        instrumentors = [
            (agent.registry.statuses[name].instrumentor, sys.modules[name])
            for name in ("requests", "urllib3")
        ]
        session = requests.Session()
        url = f"http://127.0.0.1:{port}/"
        for _ in range(500):  # warm up: connection, SDK, caches
            session.get(url)
        timings: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(rounds):
            for patched in (False, True):
                for instrumentor, module in instrumentors:
                    if patched:
                        instrumentor.instrument(module)  # type: ignore[union-attr]
                    else:
                        instrumentor.uninstrument(module)  # type: ignore[union-attr]
                start = time.perf_counter()
                for _ in range(per_round):
                    session.get(url)
                timings[patched].append((time.perf_counter() - start) / per_round * 1e6)
        llmtrace_agent.shutdown()
        plain, traced = statistics.median(timings[False]), statistics.median(timings[True])
        print(f"{rounds} alternating rounds of {per_round} requests.get, median per request:")
        print(f"  not instrumented {plain:7.1f} us")
        print(f"  instrumented     {traced:7.1f} us  (+{traced - plain:.1f} us)")
    finally:
        server.terminate()


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        main()
