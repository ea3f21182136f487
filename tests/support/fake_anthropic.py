"""A loopback server speaking the Anthropic Messages API, for driving the real ``anthropic`` SDK.

Answers ``POST /v1/messages`` (and the same request on the Bedrock ``/model/{model}/invoke`` and
Vertex ``…/models/{model}:rawPredict`` / ``:streamRawPredict`` paths) with a JSON ``Message``, or,
for ``"stream": true``, with the server-sent events the API sends: ``message_start``,
``content_block_start`` / ``content_block_delta`` (``text_delta``, ``input_json_delta``,
``thinking_delta``, ``signature_delta``) / ``content_block_stop``, ``ping``, ``message_delta``,
``message_stop``, and the ``error`` event. Each event is flushed as a chunk of its own.

What the reply holds is chosen by the request's ``x-fake-scenario`` header (see ``SCENARIOS``),
so concurrent clients and subprocesses need no shared set-up: ``text`` (the default), ``tool_use``,
``thinking``, ``stream_error`` (an ``error`` event after the first text delta), ``agent``
(``tool_use`` until the conversation holds a ``tool_result``, then ``text``: an agent loop's
tool call first, final answer after the tool's result), or
``status_<code>`` (that HTTP status with Anthropic's error JSON, e.g. ``status_529``). A ``text``
request asking for JSON output (``output_config.format``, as ``messages.parse`` sends) gets
``JSON_TEXT``.

Every request is recorded with its lower-cased headers and decoded JSON body.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from tests.support.loopback import Exchange, LoopbackServer, ReceivedRequest

SCENARIO_HEADER = "x-fake-scenario"
REQUEST_ID = "req_01FakeRequest"
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
SCENARIOS = ("text", "json", "tool_use", "thinking", "stream_error", "agent", "status_<code>")


class FakeAnthropic(LoopbackServer):
    """Serves the Messages API on ``127.0.0.1``, on a free port, in a daemon thread."""

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)
        self.base_url = self.origin

    def _message_id(self) -> str:
        return f"msg_01Fake{next(self._ids):016d}"

    def answer(self, exchange: Exchange, request: ReceivedRequest) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        scenario = request.headers.get(SCENARIO_HEADER, "text")
        if scenario == "agent":
            scenario = "text" if _has_tool_result(body) else "tool_use"
        if scenario == "text" and _wants_json(body):
            scenario = "json"
        if scenario.startswith("status_"):
            status = int(scenario.removeprefix("status_"))
            error_type = ERROR_TYPES.get(status, "api_error")
            payload = {
                "type": "error",
                "error": {"type": error_type, "message": f"fake {error_type}"},
                "request_id": REQUEST_ID,
            }
            exchange.send_json(status, payload, {"request-id": REQUEST_ID})
            return
        model = body.get("model") or _model_from_path(request.path)
        message_id = self._message_id()
        if body.get("stream") is True or request.path.endswith(":streamRawPredict"):
            headers = {"Cache-Control": "no-cache", "request-id": REQUEST_ID}
            exchange.start_chunks(200, "text/event-stream; charset=utf-8", headers)
            for name, data in stream_events(scenario, message_id, model):
                exchange.chunk(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            exchange.end_chunks()
        else:
            message_body = message(scenario, message_id, model)
            exchange.send_json(200, message_body, {"request-id": REQUEST_ID})


def _model_from_path(path: str) -> str:
    """The model of a Bedrock (``/model/{m}/invoke``) or Vertex (``…/models/{m}:…``) request."""
    if path.startswith("/model/"):
        return path.split("/")[2]
    if "/models/" in path:
        return path.split("/models/")[1].split(":")[0]
    return "unknown"


def _has_tool_result(body: dict[str, Any]) -> bool:
    """Whether the request sends a tool's result back (a ``tool_result`` block in a message)."""
    for item in body.get("messages") or []:
        content = item.get("content") if isinstance(item, dict) else None
        if isinstance(content, list) and any(
            isinstance(block, dict) and block.get("type") == "tool_result" for block in content
        ):
            return True
    return False


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
