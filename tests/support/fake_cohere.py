"""A loopback server speaking Cohere's v2 API, for driving the real ``cohere`` SDK.

Answers ``POST /v2/chat`` with a JSON chat response or, for ``"stream": true``, with the v2
server-sent events (``message-start``, ``content-start`` / ``content-delta`` / ``content-end``,
``tool-plan-delta``, ``tool-call-start`` / ``tool-call-delta`` / ``tool-call-end``,
``message-end`` with the finish reason and usage), each flushed as a chunk of its own;
``POST /v2/embed`` and ``POST /v2/rerank`` with their JSON responses.

What the reply holds is chosen by a path prefix, so a client only needs its ``base_url``
(``url(scenario)``): ``/scenario/<name>/v2/…`` with ``text`` (the default, also without a
prefix), ``tool_calls``, ``cut`` (a stream whose connection drops after the first event), or
``status_<code>`` (that HTTP status with an error JSON). Every request is recorded.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TEXT = "Hello from the fake Command."
TEXT_CHUNKS = ("Hello", " from the", " fake Command.")
# Usage as Cohere reports it: the billed counts, and the counts including its prompt template.
USAGE = {
    "billed_units": {"input_tokens": 12.0, "output_tokens": 9.0},
    "tokens": {"input_tokens": 210.0, "output_tokens": 11.0},
    "cached_tokens": 0.0,
}
BILLED_INPUT = 12
BILLED_OUTPUT = 9
EMBED_TOKENS = 4
EMBEDDING = [0.25, -0.5, 0.125, 1.0]
TOOL_ID = "get_weather_1byjy32y4hvq"
TOOL_NAME = "get_weather"
TOOL_PLAN = "I will look up the weather in Paris."
TOOL_ARGUMENTS = '{"city":"Paris"}'
TOOL_ARGUMENT_CHUNKS = ('{"city"', ':"Par', 'is"}')


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the server read it; header names lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeCohere:
    """Serves the v2 API on ``127.0.0.1``, on a free port, in a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._ids = itertools.count(1)
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._http.daemon_threads = True
        self.port: int = self._http.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def url(self, scenario: str = "text") -> str:
        """The server URL a client uses to get ``scenario``'s answers."""
        return f"{self.base_url}/scenario/{scenario}"

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

    def _next_id(self) -> str:
        return f"fake-{next(self._ids):08d}-cohere"

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                headers = {k.lower(): v for k, v in self.headers.items()}
                server._record(ReceivedRequest("POST", self.path, headers, body))
                scenario, path = "text", self.path
                if path.startswith("/scenario/"):
                    _, _, scenario, path = path.split("/", 3)
                    path = "/" + path
                if scenario.startswith("status_"):
                    status = int(scenario.removeprefix("status_"))
                    self._send_json(status, {"id": "fake-error", "message": "fake error"})
                    return
                if path.startswith("/v2/embed"):
                    self._send_json(200, embed(body, server._next_id()))
                elif path.startswith("/v2/rerank"):
                    self._send_json(200, rerank(body, server._next_id()))
                elif body.get("stream") is True:
                    self._send_events(stream_events(scenario, server._next_id()), scenario)
                else:
                    self._send_json(200, chat(scenario, server._next_id()))

            def _send_json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _send_events(self, chunks: list[dict[str, Any]], scenario: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for number, event in enumerate(chunks):
                        line = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"
                        self._chunk(line.encode())
                        if scenario == "cut" and number == 0:
                            self.close_connection = True
                            with contextlib.suppress(OSError):
                                self.connection.shutdown(socket.SHUT_RDWR)
                            return
                    self._chunk(b"")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client stopped reading: fine

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def finish_reason(scenario: str) -> str:
    return "TOOL_CALL" if scenario == "tool_calls" else "COMPLETE"


def _message(scenario: str) -> dict[str, Any]:
    if scenario == "tool_calls":
        call = {
            "id": TOOL_ID,
            "type": "function",
            "function": {"name": TOOL_NAME, "arguments": TOOL_ARGUMENTS},
        }
        return {"role": "assistant", "tool_plan": TOOL_PLAN, "tool_calls": [call]}
    return {"role": "assistant", "content": [{"type": "text", "text": TEXT}]}


def chat(scenario: str, response_id: str) -> dict[str, Any]:
    """A complete chat response, as the API answers a request without ``stream``."""
    return {
        "id": response_id,
        "finish_reason": finish_reason(scenario),
        "message": _message(scenario),
        "usage": USAGE,
    }


def stream_events(scenario: str, response_id: str) -> list[dict[str, Any]]:
    """The events of a streamed answer, in the API's order; ``message-end`` has the usage."""
    start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": []}
    events: list[dict[str, Any]] = [
        {"type": "message-start", "id": response_id, "delta": {"message": start}}
    ]
    if scenario == "tool_calls":
        for piece in (TOOL_PLAN[:10], TOOL_PLAN[10:]):
            events.append({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": piece}}})
        call = {"id": TOOL_ID, "type": "function", "function": {"name": TOOL_NAME, "arguments": ""}}
        events.append(
            {"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": call}}}
        )
        for piece in TOOL_ARGUMENT_CHUNKS:
            delta = {"message": {"tool_calls": {"function": {"arguments": piece}}}}
            events.append({"type": "tool-call-delta", "index": 0, "delta": delta})
        events.append({"type": "tool-call-end", "index": 0})
    else:
        opening = {"message": {"content": {"type": "text", "text": ""}}}
        events.append({"type": "content-start", "index": 0, "delta": opening})
        for piece in TEXT_CHUNKS:
            delta = {"message": {"content": {"text": piece}}}
            events.append({"type": "content-delta", "index": 0, "delta": delta})
        events.append({"type": "content-end", "index": 0})
    end = {"finish_reason": finish_reason(scenario), "usage": USAGE}
    events.append({"type": "message-end", "delta": end})
    return events


def embed(body: dict[str, Any], response_id: str) -> dict[str, Any]:
    """An embed response: one vector per text, for each requested type."""
    texts = body.get("texts") or []
    types = body.get("embedding_types") or ["float"]
    return {
        "id": response_id,
        "response_type": "embeddings_by_type",
        "embeddings": {kind: [EMBEDDING for _ in texts] for kind in types},
        "texts": texts,
        "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": EMBED_TOKENS}},
    }


def rerank(body: dict[str, Any], response_id: str) -> dict[str, Any]:
    """A rerank response: the documents in reverse order, best first."""
    count = len(body.get("documents") or [])
    results = [
        {"index": index, "relevance_score": round(0.9 - 0.1 * rank, 2)}
        for rank, index in enumerate(reversed(range(count)))
    ][: body.get("top_n") or count]
    return {
        "id": response_id,
        "results": results,
        "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
    }
