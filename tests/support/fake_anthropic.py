"""A loopback server speaking the Anthropic Messages API, for driving the real ``anthropic`` SDK.

Answers ``POST /v1/messages`` (and the same request on the Bedrock ``/model/{model}/invoke`` and
Vertex ``…/models/{model}:rawPredict`` / ``:streamRawPredict`` paths) with a JSON ``Message``, or,
for ``"stream": true``, with the server-sent events the API sends: ``message_start``,
``content_block_start`` / ``content_block_delta`` (``text_delta``, ``input_json_delta``,
``thinking_delta``, ``signature_delta``) / ``content_block_stop``, ``ping``, ``message_delta``,
``message_stop``, and the ``error`` event. Each event is flushed as a chunk of its own.

What the reply holds is chosen by the request's ``x-fake-scenario`` header (see ``SCENARIOS``),
so concurrent clients and subprocesses need no shared set-up: ``text`` (the default), ``tool_use``,
``thinking``, ``stream_error`` (an ``error`` event after the first text delta), or
``status_<code>`` (that HTTP status with Anthropic's error JSON, e.g. ``status_529``). A ``text``
request asking for JSON output (``output_config.format``, as ``messages.parse`` sends) gets
``JSON_TEXT``.

Every request is recorded with its lower-cased headers and decoded JSON body.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SCENARIO_HEADER = "x-fake-scenario"
TEXT = "Hello from the fake Claude."
TEXT_CHUNKS = ("Hello", " from the", " fake Claude.")
# Usage as the API reports it: ``input_tokens`` excludes the cached tokens.
USAGE = {
    "input_tokens": 12,
    "cache_creation_input_tokens": 30,
    "cache_read_input_tokens": 200,
    "output_tokens": 9,
}
TOOL_ID = "toolu_01FakeWeatherCall"
TOOL_NAME = "get_weather"
TOOL_INPUT = {"city": "Paris", "unit": "celsius"}
TOOL_JSON_CHUNKS = ('{"city": ', '"Paris", "u', 'nit": "celsius"}')
JSON_TEXT = '{"city": "Paris", "temperature": 18}'
THINKING = "The user wants a greeting; keep it short."
THINKING_TOKENS = 6
THINKING_CHUNKS = ("The user wants a greeting;", " keep it short.")
SIGNATURE = "EqQBCkYIBxgCKkBfakeSignature"
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
SCENARIOS = ("text", "json", "tool_use", "thinking", "stream_error", "status_<code>")


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the server read it; header names lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeAnthropic:
    """Serves the Messages API on ``127.0.0.1``, on a free port, in a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._ids = itertools.count(1)
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._http.daemon_threads = True
        self.port: int = self._http.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

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

    # --- answers -------------------------------------------------------------------------------

    def _message_id(self) -> str:
        return f"msg_01Fake{next(self._ids):016d}"

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
                scenario = headers.get(SCENARIO_HEADER, "text")
                if scenario == "text" and _wants_json(body):
                    scenario = "json"
                if scenario.startswith("status_"):
                    self._send_error(int(scenario.removeprefix("status_")))
                    return
                model = body.get("model") or _model_from_path(self.path)
                message_id = server._message_id()
                streams = body.get("stream") is True or self.path.endswith(":streamRawPredict")
                if streams:
                    self._send_events(stream_events(scenario, message_id, model))
                else:
                    self._send_json(200, message(scenario, message_id, model))

            def _send_json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("request-id", "req_01FakeRequest")
                self.end_headers()
                self.wfile.write(data)

            def _send_error(self, status: int) -> None:
                error_type = ERROR_TYPES.get(status, "api_error")
                payload = {
                    "type": "error",
                    "error": {"type": error_type, "message": f"fake {error_type}"},
                    "request_id": "req_01FakeRequest",
                }
                self._send_json(status, payload)

            def _send_events(self, events: list[tuple[str, dict[str, Any]]]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("request-id", "req_01FakeRequest")
                self.end_headers()
                try:
                    for name, data in events:
                        chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client stopped reading: fine

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _model_from_path(path: str) -> str:
    """The model of a Bedrock (``/model/{m}/invoke``) or Vertex (``…/models/{m}:…``) request."""
    if path.startswith("/model/"):
        return path.split("/")[2]
    if "/models/" in path:
        return path.split("/models/")[1].split(":")[0]
    return "unknown"


def _wants_json(body: dict[str, Any]) -> bool:
    output_format = (body.get("output_config") or {}).get("format") or body.get("output_format")
    return isinstance(output_format, dict) and output_format.get("type") == "json_schema"


def usage(scenario: str) -> dict[str, Any]:
    """The final usage of the answer (``thinking`` also reports its reasoning tokens)."""
    if scenario == "thinking":
        return {**USAGE, "output_tokens_details": {"thinking_tokens": THINKING_TOKENS}}
    return dict(USAGE)


def content_blocks(scenario: str) -> list[dict[str, Any]]:
    """The content of the complete answer for ``scenario``."""
    if scenario == "tool_use":
        return [
            {"type": "text", "text": "Let me check the weather."},
            {"type": "tool_use", "id": TOOL_ID, "name": TOOL_NAME, "input": TOOL_INPUT},
        ]
    if scenario == "thinking":
        return [
            {"type": "thinking", "thinking": THINKING, "signature": SIGNATURE},
            {"type": "text", "text": TEXT},
        ]
    if scenario == "json":
        return [{"type": "text", "text": JSON_TEXT}]
    return [{"type": "text", "text": TEXT}]


def stop_reason(scenario: str) -> str:
    return "tool_use" if scenario == "tool_use" else "end_turn"


def message(scenario: str, message_id: str, model: str) -> dict[str, Any]:
    """A complete ``Message``, as the API answers a request without ``stream``."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content_blocks(scenario),
        "stop_reason": stop_reason(scenario),
        "stop_sequence": None,
        "usage": {**usage(scenario), "service_tier": "standard"},
    }


def stream_events(scenario: str, message_id: str, model: str) -> list[tuple[str, dict[str, Any]]]:
    """The server-sent events of the streamed answer for ``scenario``, in the API's order.

    As in the API, ``message_start`` carries the input and cache usage (and a placeholder
    ``output_tokens``) and ``message_delta`` the final ``output_tokens`` and ``stop_reason``.
    """
    start = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**USAGE, "output_tokens": 1},
    }
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    index = 0

    def block(opening: dict[str, Any], deltas: list[dict[str, Any]]) -> None:
        nonlocal index
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opening},
            )
        )
        for delta in deltas:
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1

    if scenario == "thinking":
        block(
            {"type": "thinking", "thinking": "", "signature": ""},
            [{"type": "thinking_delta", "thinking": part} for part in THINKING_CHUNKS]
            + [{"type": "signature_delta", "signature": SIGNATURE}],
        )
    if scenario == "tool_use":
        block(
            {"type": "text", "text": ""},
            [{"type": "text_delta", "text": "Let me check the weather."}],
        )
        events.append(("ping", {"type": "ping"}))
        block(
            {"type": "tool_use", "id": TOOL_ID, "name": TOOL_NAME, "input": {}},
            [{"type": "input_json_delta", "partial_json": part} for part in TOOL_JSON_CHUNKS],
        )
    else:
        chunks = (JSON_TEXT,) if scenario == "json" else TEXT_CHUNKS
        deltas = [{"type": "text_delta", "text": part} for part in chunks]
        if scenario == "stream_error":
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": deltas[0]},
                )
            )
            error = {"type": "overloaded_error", "message": "fake overloaded_error"}
            events.append(("error", {"type": "error", "error": error}))
            return events
        events.append(("ping", {"type": "ping"}))
        block({"type": "text", "text": ""}, deltas)
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason(scenario), "stop_sequence": None},
                "usage": {
                    key: value
                    for key, value in usage(scenario).items()
                    if key in ("output_tokens", "output_tokens_details")
                },
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events
