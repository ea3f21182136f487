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
``status_<code>`` (that HTTP status with Google's error JSON, e.g. ``status_429``).

Every request is recorded with its lower-cased headers and decoded JSON body.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SCENARIO_HEADER = "x-fake-scenario"
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


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the server read it; header names lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeGemini:
    """Serves the Gemini API on ``127.0.0.1``, on a free port, in a daemon thread."""

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

    def _response_id(self) -> str:
        return f"fake-response-{next(self._ids):08d}"

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pools expect

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                headers = {k.lower(): v for k, v in self.headers.items()}
                server._record(ReceivedRequest("POST", self.path, headers, body))
                scenario = headers.get(SCENARIO_HEADER, "text")
                if scenario.startswith("status_"):
                    self._send_error(int(scenario.removeprefix("status_")))
                    return
                path = self.path.split("?", 1)[0]
                model, _, method = path.rsplit("models/", 1)[-1].partition(":")
                response_id = server._response_id()
                if method == "generateContent":
                    self._send_json(200, response(scenario, model, response_id))
                elif method == "streamGenerateContent":
                    self._send_events(stream_chunks(scenario, model, response_id))
                elif method == "batchEmbedContents":
                    count = len(body.get("requests") or [None])
                    self._send_json(200, {"embeddings": [{"values": EMBEDDING}] * count})
                elif method == "embedContent":
                    self._send_json(
                        200,
                        {
                            "embedding": {"values": EMBEDDING},
                            "usageMetadata": {"promptTokenCount": EMBED_TOKENS},
                        },
                    )
                elif method == "predict":
                    count = len(body.get("instances") or [None])
                    prediction = {
                        "embeddings": {
                            "values": EMBEDDING,
                            "statistics": {"token_count": EMBED_TOKENS, "truncated": False},
                        }
                    }
                    self._send_json(
                        200,
                        {
                            "predictions": [prediction] * count,
                            "metadata": {"billableCharacterCount": 20},
                        },
                    )
                else:
                    self._send_error(404)

            def _send_json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _send_error(self, status: int) -> None:
                name = STATUS_NAMES.get(status, "UNKNOWN")
                payload = {"error": {"code": status, "message": f"fake {name}", "status": name}}
                self._send_json(status, payload)

            def _send_events(self, chunks: list[dict[str, Any]]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for chunk in chunks:
                        event = f"data: {json.dumps(chunk)}\r\n\r\n".encode()
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client stopped reading: fine

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


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
