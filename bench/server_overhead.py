"""Added cost per request of the server span, for a trivial ASGI and WSGI endpoint.

    python bench/server_overhead.py [REQUESTS_PER_ROUND] [ROUNDS]

The app is called the way a server calls it (an ASGI scope with receive/send, a WSGI environ with
start_response and a body to iterate and close), in this process, so the figure is the agent's
cost and not the network's. Three variants alternate round by round, so machine noise hits them
alike: the bare app, the app under the agent's middleware (``asgi``/``wsgi`` instrumentors, with
the attributes and context handling they record), and the floor: the app under a hand-made
middleware that does what any server span must: extract the incoming ``traceparent``, start one
SERVER span with ``start_as_current_span`` and the same attributes, set the status code.
Spans are recorded by the SDK and exported nowhere (``LLMTRACE_EXPORTER=none``): the
instrumentation alone. Target: the agent's added cost under 2x the floor's.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"bench/1.0"),
    (b"accept", b"*/*"),
    (b"accept-encoding", b"gzip"),
    (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
]


async def asgi_app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def wsgi_app(environ: dict, start_response):  # type: ignore[no-untyped-def]
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


ATTRIBUTES = {
    "http.request.method": "GET",
    "url.path": "/hello",
    "url.scheme": "http",
    "server.address": "127.0.0.1",
    "server.port": 8000,
    "client.address": "127.0.0.1",
    "user_agent.original": "bench/1.0",
    "network.protocol.version": "1.1",
}


def hand_made_asgi(app, tracer):  # type: ignore[no-untyped-def]
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    async def traced(scope, receive, send):  # type: ignore[no-untyped-def]
        carrier = {k.decode(): v.decode() for k, v in scope["headers"]}
        parent = propagate.extract(carrier)
        with tracer.start_as_current_span(
            "GET", parent, kind=SpanKind.SERVER, attributes=ATTRIBUTES
        ) as span:

            async def traced_send(message):  # type: ignore[no-untyped-def]
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await app(scope, receive, traced_send)

    return traced


def hand_made_wsgi(app, tracer):  # type: ignore[no-untyped-def]
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    def traced(environ, start_response):  # type: ignore[no-untyped-def]
        parent = propagate.extract({"traceparent": environ["HTTP_TRACEPARENT"]})
        with tracer.start_as_current_span(
            "GET", parent, kind=SpanKind.SERVER, attributes=ATTRIBUTES
        ) as span:

            def traced_start_response(status, headers, *exc_info):  # type: ignore[no-untyped-def]
                span.set_attribute("http.response.status_code", int(status[:3]))
                return start_response(status, headers, *exc_info)

            return list(app(environ, traced_start_response))

    return traced


def main() -> None:
    per_round = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10

    import llmtrace_agent

    llmtrace_agent.start(exporters=["none"], metrics_exporter="none")
    from opentelemetry import trace

    from llmtrace_agent.instrumentors.asgi.middleware import TracedASGIApp
    from llmtrace_agent.instrumentors.wsgi.middleware import TracedWSGIApp

    tracer = trace.get_tracer("bench")
    agent_tracer = trace.get_tracer("llmtrace_agent.bench")

    def enabled() -> bool:
        return True

    asgi_variants = {
        "bare": asgi_app,
        "agent": TracedASGIApp(asgi_app, agent_tracer, enabled),
        "one hand-made span": hand_made_asgi(asgi_app, tracer),
    }
    wsgi_variants = {
        "bare": wsgi_app,
        "agent": TracedWSGIApp(wsgi_app, agent_tracer, enabled),
        "one hand-made span": hand_made_wsgi(wsgi_app, tracer),
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        pass

    def start_response(status, headers, *exc_info):  # type: ignore[no-untyped-def]
        return None

    async def asgi_round(app) -> None:  # type: ignore[no-untyped-def]
        for _ in range(per_round):
            scope = {
                "type": "http", "http_version": "1.1", "method": "GET", "scheme": "http",
                "path": "/hello", "root_path": "", "query_string": b"", "headers": HEADERS,
                "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
            }  # fmt: skip
            await app(scope, receive, send)

    def wsgi_round(app) -> None:  # type: ignore[no-untyped-def]
        for _ in range(per_round):
            environ = {
                "REQUEST_METHOD": "GET", "PATH_INFO": "/hello", "SCRIPT_NAME": "",
                "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
                "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
                "HTTP_HOST": "127.0.0.1:8000", "HTTP_USER_AGENT": "bench/1.0",
                "HTTP_TRACEPARENT": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "wsgi.url_scheme": "http",
            }  # fmt: skip
            body = app(environ, start_response)
            for _chunk in body:
                pass
            close = getattr(body, "close", None)
            if close is not None:
                close()

    loop = asyncio.new_event_loop()
    for kind, variants, run in (
        ("ASGI", asgi_variants, lambda app: loop.run_until_complete(asgi_round(app))),
        ("WSGI", wsgi_variants, wsgi_round),
    ):
        for app in variants.values():  # warm up
            run(app)
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(rounds):
            for name, app in variants.items():
                start = time.process_time()
                run(app)
                cpu[name].append((time.process_time() - start) / per_round * 1e6)
        bare = statistics.median(cpu["bare"])
        floor = statistics.median(cpu["one hand-made span"]) - bare
        ours = statistics.median(cpu["agent"]) - bare
        print(
            f"{kind}: {rounds} alternating rounds of {per_round} requests, median CPU per request"
        )
        print(f"  bare app            {bare:6.1f} us")
        print(f"  one hand-made span  +{floor:5.1f} us")
        print(f"  agent's server span +{ours:5.1f} us  ({ours / floor:.2f}x the hand-made span)")


if __name__ == "__main__":
    main()
