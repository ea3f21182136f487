"""The requests every ASGI server test sends to ``server_apps/fastapi_app.py``, and what it checks.

One server per test module: the requests go out, the server is stopped by a signal, and the tests
read what the OTLP receiver got.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from llmtrace_agent.toolkit import semconv
from tests.support.fake_openai import FakeOpenAI, Reply, chat_chunks
from tests.support.otlp_receiver import OTLPReceiver, ReceivedSpan
from tests.support.servers import TracedServer

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@dataclass
class Exchange:
    """What the scenario sent and got back."""

    statuses: dict[str, int] = field(default_factory=dict)
    bodies: dict[str, bytes] = field(default_factory=dict)


def send_requests(server: TracedServer, fake_openai: FakeOpenAI) -> Exchange:
    exchange = Exchange()

    def call(key: str, method: str, path: str, headers: dict[str, str] | None = None) -> None:
        status, body = server.request(method, path, headers)
        exchange.statuses[key] = status
        exchange.bodies[key] = body

    call("health", "GET", "/health")
    call(
        "ask",
        "POST",
        "/ask/weather?secret=1",
        {
            "traceparent": TRACEPARENT,
            "baggage": "session.id=sess-42,user.id=user-7",
            "user-agent": "scenario/1.0",
        },
    )
    call("async", "GET", "/api/async/news")
    call("background", "POST", "/background")
    call("stream", "GET", "/stream")
    call("sse", "GET", "/sse")
    call("boom", "GET", "/boom")

    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{server.port}/ws/lobby") as socket:
        socket.send("hello over a socket")
        exchange.bodies["ws"] = socket.recv(timeout=10).encode()

    # A client that leaves in the middle of a slow streamed answer.
    pieces = tuple(f"piece {index} " for index in range(20))
    fake_openai.reply(Reply(events=chat_chunks("gpt-4o-slow", pieces=pieces), delay=0.1))
    exchange.bodies["disconnect"] = server.read_first_bytes_then_disconnect("/sse-slow", 5)
    time.sleep(1.0)  # the server notices at its next write
    return exchange


def server_span(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    found = [s for s in spans if s.kind == "SERVER" and s.name == name]
    assert len(found) == 1, (name, [(s.name, s.kind) for s in spans])
    return found[0]


def llm_span(spans: list[ReceivedSpan], model: str) -> ReceivedSpan:
    found = [s for s in spans if s.attributes.get(semconv.GEN_AI_REQUEST_MODEL) == model]
    assert len(found) == 1, (model, [s.name for s in spans])
    return found[0]


def collect(receiver: OTLPReceiver, count: int) -> list[ReceivedSpan]:
    """Every span received, once at least ``count`` SERVER and LLM spans arrived."""
    receiver.wait_for_spans(
        count,
        10,
        lambda s: s.kind == "SERVER" or semconv.GEN_AI_OPERATION_NAME in s.attributes,
    )
    return list(receiver.spans)
