"""Per-request cost of the requests instrumentation: GETs to a loopback server, with and without.

    python bench/http_client_overhead.py [REQUESTS_PER_ROUND] [ROUNDS] [otlp|none]

One client process, the agent started in it exporting over OTLP/HTTP to a loopback receiver
(the batch exporter thread, which encodes and sends the spans, included), or with ``none``
exporting nothing: the instrumentation alone (span start and end, propagation). Rounds alternate
between patched and unpatched requests (the instrumentors' own ``uninstrument``/``instrument``),
so machine noise hits both alike; the medians are compared. The server and the receiver run in
another process, off the client's GIL.
Wall time swings with the machine's load; the client process's CPU time (all its threads, the
exporter's included) is the steadier figure.
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
    exporter = sys.argv[3] if len(sys.argv) > 3 else "otlp"
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        port = server.stdout.readline().strip()  # type: ignore[union-attr]
        import llmtrace_agent

        llmtrace_agent.start(
            exporters=[exporter], otlp_endpoint=f"http://127.0.0.1:{port}", metrics_exporter="none"
        )
        import requests

        from llmtrace_agent._runtime import agent

        assert agent.registry is not None
        instrumentors = [
            (agent.registry.statuses[name].instrumentor, sys.modules[name])
            for name in ("requests", "urllib3")
        ]
        session = requests.Session()
        url = f"http://127.0.0.1:{port}/"
        for _ in range(500):  # warm up: connection, SDK, caches
            session.get(url)
        wall: dict[bool, list[float]] = {True: [], False: []}
        cpu: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(rounds):
            for patched in (False, True):
                for instrumentor, module in instrumentors:
                    if patched:
                        instrumentor.instrument(module)  # type: ignore[union-attr]
                    else:
                        instrumentor.uninstrument(module)  # type: ignore[union-attr]
                start, start_cpu = time.perf_counter(), time.process_time()
                for _ in range(per_round):
                    session.get(url)
                wall[patched].append((time.perf_counter() - start) / per_round * 1e6)
                cpu[patched].append((time.process_time() - start_cpu) / per_round * 1e6)
        llmtrace_agent.shutdown()
        print(
            f"{rounds} alternating rounds of {per_round} requests.get, exporter {exporter},"
            " median per request:"
        )
        for label, figures in (("wall", wall), ("CPU", cpu)):
            plain, traced = statistics.median(figures[False]), statistics.median(figures[True])
            print(
                f"  {label:>4}: {plain:7.1f} us not instrumented, {traced:7.1f} us instrumented"
                f" (+{traced - plain:.1f} us)"
            )
    finally:
        server.terminate()


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        main()
