"""A loopback server speaking Mistral's chat and embeddings API, for driving the real
``mistralai`` SDK.

Answers ``POST /v1/chat/completions`` with a JSON ``ChatCompletionResponse`` or, for
``"stream": true``, with the server-sent events Mistral sends (``data: {chunk}`` lines, the last
chunk carrying ``finish_reason`` and ``usage``, then ``data: [DONE]``), each flushed as a chunk of
its own; and ``POST /v1/embeddings`` with an ``EmbeddingResponse``.

What the reply holds is chosen by a path prefix, so a client only needs its ``server_url``
(``url(scenario)``): ``/scenario/<name>/v1/…`` with ``text`` (the default, also without a
prefix), ``tool_calls``, ``cut`` (a stream whose connection drops after the first chunk), or
``status_<code>`` (that HTTP status with Mistral's error JSON). A ``text`` request asking for
JSON (``response_format``) gets ``JSON_TEXT``. Every request is recorded.
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

TEXT = "Bonjour from the fake Mistral."
TEXT_CHUNKS = ("Bonjour", " from the", " fake Mistral.")
USAGE = {"prompt_tokens": 21, "completion_tokens": 8, "total_tokens": 29}
EMBEDDING_USAGE = {"prompt_tokens": 6, "completion_tokens": 0, "total_tokens": 6}
EMBEDDING = [0.25, -0.5, 0.125, 1.0]
JSON_TEXT = '{"text": "Bonjour"}'
TOOL_ID = "D681PevKs"
TOOL_NAME = "get_weather"
TOOL_ARGUMENTS = '{"city": "Paris"}'


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the server read it; header names lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeMistral:
    """Serves the API on ``127.0.0.1``, on a free port, in a daemon thread."""

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
        return f"cmpl-fake{next(self._ids):08d}"

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
                    error = {"object": "error", "message": "fake error", "type": "fake_error"}
                    self._send_json(status, error)
                    return
                model = body.get("model", "unknown")
                if scenario == "text" and (body.get("response_format") or {}).get("type") in (
                    "json_schema",
                    "json_object",
                ):
                    scenario = "json"
                if path.startswith("/v1/embeddings"):
                    self._send_json(200, embeddings(body, model, server._next_id()))
                elif body.get("stream") is True:
                    self._send_events(stream_chunks(scenario, server._next_id(), model), scenario)
                else:
                    self._send_json(200, completion(scenario, server._next_id(), model))

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
                    for number, chunk in enumerate(chunks):
                        self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())
                        if scenario == "cut" and number == 0:
                            self.close_connection = True
                            with contextlib.suppress(OSError):
                                self.connection.shutdown(socket.SHUT_RDWR)
                            return
                    self._chunk(b"data: [DONE]\n\n")
                    self._chunk(b"")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client stopped reading: fine

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _message(scenario: str) -> dict[str, Any]:
    if scenario == "tool_calls":
        call = {
            "id": TOOL_ID,
            "type": "function",
            "function": {"name": TOOL_NAME, "arguments": TOOL_ARGUMENTS},
            "index": 0,
        }
        return {"role": "assistant", "content": "", "tool_calls": [call]}
    text = JSON_TEXT if scenario == "json" else TEXT
    return {"role": "assistant", "content": text, "tool_calls": None}


def finish_reason(scenario: str) -> str:
    return "tool_calls" if scenario == "tool_calls" else "stop"


def completion(scenario: str, completion_id: str, model: str) -> dict[str, Any]:
    """A complete chat completion, as the API answers a request without ``stream``."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "model": model,
        "created": 1767225600,
        "usage": dict(USAGE),
        "choices": [
            {"index": 0, "message": _message(scenario), "finish_reason": finish_reason(scenario)}
        ],
    }


def stream_chunks(scenario: str, completion_id: str, model: str) -> list[dict[str, Any]]:
    """The chunks of a streamed answer: the role first, then the pieces; the last chunk has the
    finish reason and the usage."""

    def chunk(delta: dict[str, Any], reason: str | None = None, **extra: Any) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": reason}
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": 1767225600,
            "model": model,
            "choices": [choice],
            **extra,
        }

    if scenario == "tool_calls":
        call = _message(scenario)["tool_calls"][0]
        return [
            chunk({"role": "assistant", "content": ""}),
            chunk({"tool_calls": [call]}, "tool_calls", usage=dict(USAGE)),
        ]
    pieces = [chunk({"role": "assistant", "content": TEXT_CHUNKS[0]})]
    pieces += [chunk({"content": piece}) for piece in TEXT_CHUNKS[1:-1]]
    pieces.append(chunk({"content": TEXT_CHUNKS[-1]}, "stop", usage=dict(USAGE)))
    return pieces


def embeddings(body: dict[str, Any], model: str, response_id: str) -> dict[str, Any]:
    """An embeddings response: one vector per input."""
    inputs = body.get("inputs", body.get("input"))
    count = len(inputs) if isinstance(inputs, list) else 1
    return {
        "id": response_id,
        "object": "list",
        "model": model,
        "usage": dict(EMBEDDING_USAGE),
        "data": [
            {"object": "embedding", "embedding": EMBEDDING, "index": index}
            for index in range(count)
        ],
    }
