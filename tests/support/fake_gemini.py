"""A loopback server speaking the Gemini API (and Vertex AI's), for driving the real
``google-genai`` SDK.

Answers ``POST …/models/{model}:generateContent`` with a JSON ``GenerateContentResponse``,
``…:streamGenerateContent?alt=sse`` with server-sent events (``data: {chunk}``, each flushed as a
chunk of its own; usage on every event, cumulative, as the API sends it), and the embedding
calls: ``…:batchEmbedContents`` (Gemini API), ``…:embedContent`` and ``…:predict`` (Vertex AI).
The model is read from the path, whatever prefix the backend puts before ``models/``.

What the reply holds is chosen by the request's ``x-fake-scenario`` header (see ``SCENARIOS``),
so concurrent clients need no shared set-up: ``text`` (the default), ``tool_call`` (a
``functionCall`` part), ``thinking`` (a thought part and ``thoughtsTokenCount``), ``image`` (an
``inlineData`` part), ``stream_error`` (an ``error`` event after the first chunk) or
``status_<code>`` (that HTTP status with Google's error JSON, e.g. ``status_429``). A request
with an ``x-fake-body`` header gets that JSON as it is.

Built on ``tests.support.loopback``: every request is recorded with its lower-cased headers and
decoded JSON body.
"""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

from tests.support.loopback import Exchange, LoopbackServer, ReceivedRequest

SCENARIO_HEADER = "x-fake-scenario"
BODY_HEADER = "x-fake-body"
"""A JSON body to answer with as it is (for a stream: a JSON list of chunks), for odd shapes."""
TEXT = "Hello from the fake Gemini."
TEXT_CHUNKS = ("Hello", " from the", " fake Gemini.")
# Usage as the API reports it: promptTokenCount includes the cached tokens; candidatesTokenCount
# leaves out the thinking tokens (thoughtsTokenCount).
USAGE = {
    "promptTokenCount": 120,
    "cachedContentTokenCount": 100,
    "candidatesTokenCount": 9,
}
THOUGHTS_TOKENS = 7
THOUGHT = "The user wants a greeting; keep it short."
TOOL_NAME = "get_weather"
TOOL_ARGS = {"city": "Paris", "unit": "celsius"}
TOOL_CALL_ID = "call_fake_weather"
IMAGE_BYTES = b"\x89PNG\r\n\x1a\nfake-image-bytes"
EMBEDDING = [0.25, -0.5, 0.125, 1.0]
EMBED_TOKENS = 5
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
SCENARIOS = ("text", "tool_call", "thinking", "image", "stream_error", "status_<code>")


class FakeGemini(LoopbackServer):
    """Serves the Gemini API on ``127.0.0.1``, on a free port, in a daemon thread."""

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)
        self.base_url = self.origin

    def _response_id(self) -> str:
        return f"fake-response-{next(self._ids):08d}"

    def answer(self, exchange: Exchange, request: ReceivedRequest) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        scenario = request.headers.get(SCENARIO_HEADER, "text")
        if scenario.startswith("status_"):
            _send_error(exchange, int(scenario.removeprefix("status_")))
            return
        path = request.path.split("?", 1)[0]
        model, _, method = path.rsplit("models/", 1)[-1].partition(":")
        raw = request.headers.get(BODY_HEADER)
        if raw is not None:  # the test's own body: a response, or a list of stream chunks
            given = json.loads(raw)
            if method == "streamGenerateContent":
                exchange.start_chunks(200, "text/event-stream")
                for chunk in given:
                    exchange.chunk(f"data: {json.dumps(chunk)}\r\n\r\n".encode())
                exchange.end_chunks()
            else:
                exchange.send_json(200, given)
            return
        response_id = self._response_id()
        if method == "generateContent":
            exchange.send_json(200, response(scenario, model, response_id))
        elif method == "streamGenerateContent":
            exchange.start_chunks(200, "text/event-stream")
            for chunk in stream_chunks(scenario, model, response_id):
                exchange.chunk(f"data: {json.dumps(chunk)}\r\n\r\n".encode())
            exchange.end_chunks()
        elif method == "batchEmbedContents":
            count = len(body.get("requests") or [None])
            exchange.send_json(200, {"embeddings": [{"values": EMBEDDING}] * count})
        elif method == "embedContent":
            usage_metadata = {"promptTokenCount": EMBED_TOKENS}
            exchange.send_json(
                200, {"embedding": {"values": EMBEDDING}, "usageMetadata": usage_metadata}
            )
        elif method == "predict":
            count = len(body.get("instances") or [None])
            statistics = {"token_count": EMBED_TOKENS, "truncated": False}
            prediction = {"embeddings": {"values": EMBEDDING, "statistics": statistics}}
            metadata = {"billableCharacterCount": 20}
            exchange.send_json(200, {"predictions": [prediction] * count, "metadata": metadata})
        else:
            _send_error(exchange, 404)


def _send_error(exchange: Exchange, status: int) -> None:
    """Google's error JSON with that HTTP status."""
    name = STATUS_NAMES.get(status, "UNKNOWN")
    exchange.send_json(
        status, {"error": {"code": status, "message": f"fake {name}", "status": name}}
    )


def usage(scenario: str, output_tokens: int = USAGE["candidatesTokenCount"]) -> dict[str, Any]:
    """``usageMetadata`` of an answer (``thinking`` adds ``thoughtsTokenCount``)."""
    found = {**USAGE, "candidatesTokenCount": output_tokens}
    if scenario == "thinking":
        found["thoughtsTokenCount"] = THOUGHTS_TOKENS
    found["totalTokenCount"] = (
        found["promptTokenCount"] + output_tokens + found.get("thoughtsTokenCount", 0)
    )
    return found


def parts(scenario: str) -> list[dict[str, Any]]:
    """The parts of the complete answer for ``scenario``."""
    if scenario == "tool_call":
        call = {"name": TOOL_NAME, "args": TOOL_ARGS, "id": TOOL_CALL_ID}
        return [{"text": "Let me check the weather."}, {"functionCall": call}]
    if scenario == "thinking":
        return [{"text": THOUGHT, "thought": True}, {"text": TEXT}]
    if scenario == "image":
        data = base64.b64encode(IMAGE_BYTES).decode()
        return [{"text": "Here it is."}, {"inlineData": {"mimeType": "image/png", "data": data}}]
    return [{"text": TEXT}]


def response(
    scenario: str, model: str, response_id: str, answer: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A complete ``GenerateContentResponse``, as ``generateContent`` answers."""
    return {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": answer if answer is not None else parts(scenario),
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": usage(scenario),
        "modelVersion": model,
        "responseId": response_id,
    }


def stream_chunks(scenario: str, model: str, response_id: str) -> list[dict[str, Any]]:
    """The server-sent chunks of the streamed answer: text in pieces, the usage growing on each
    chunk (the last one is final), ``finishReason`` on the last one only."""
    pieces: list[list[dict[str, Any]]]
    if scenario in ("text", "stream_error"):
        pieces = [[{"text": text}] for text in TEXT_CHUNKS]
    else:
        pieces = [[part] for part in parts(scenario)]
    chunks = []
    for index, piece in enumerate(pieces, 1):
        chunk = response(scenario, model, response_id, piece)
        chunk["usageMetadata"] = usage(
            scenario, USAGE["candidatesTokenCount"] * index // len(pieces)
        )
        if index < len(pieces):
            del chunk["candidates"][0]["finishReason"]
        chunks.append(chunk)
    if scenario == "stream_error":
        error = {"code": 503, "message": "fake UNAVAILABLE", "status": "UNAVAILABLE"}
        return [chunks[0], {"error": error}]
    return chunks
