"""A loopback Ollama server for the ollama instrumentor's tests.

Serves ``/api/chat``, ``/api/generate``, ``/api/embed`` and ``/api/embeddings`` over real
HTTP/1.1 on 127.0.0.1: one JSON object, or, when the request asks to stream, NDJSON (one JSON
object per line, chunked, the last with ``"done": true`` and the token counts), as Ollama does.
It records every request. Without instructions it answers plausibly (echoing the model, with a
tool call when the request offers tools); ``server.reply(Reply(...))`` shapes the next answers:
any status and body, any list of lines, a connection dropped mid-stream.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CREATED_AT = "2026-11-30T12:00:00.000000Z"
PIECES = ("Hello", " from", " Ollama!")
TOOL_CALL = {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}


@dataclass
class Reply:
    """How to answer one request."""

    status: int = 200
    body: Any = None
    """JSON body (a non-streamed answer, or the error of a failed one)."""
    lines: list[Any] | None = None
    """NDJSON lines (each a JSON value) of a streamed answer."""
    drop_after: int | None = None
    """Close the connection abruptly after this many lines."""


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    body: Any
    headers: dict[str, str]


class FakeOllama:
    """The server, on a free loopback port, answering from a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replies: deque[Reply] = deque()
        self._requests: list[ReceivedRequest] = []
        self._http = _QuietServer(("127.0.0.1", 0), _handler_class(self))
        self._http.daemon_threads = True
        self.port: int = self._http.server_address[1]
        self.host = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def reply(self, *replies: Reply) -> None:
        """Answer the next requests with these, in order (then plausibly again)."""
        with self._lock:
            self._replies.extend(replies)

    def clear(self) -> None:
        with self._lock:
            self._replies.clear()
            self._requests.clear()

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def _next(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            self._requests.append(request)
            if self._replies:
                return self._replies.popleft()
        return default_reply(request)


# --- answers -------------------------------------------------------------------------------------


def default_reply(request: ReceivedRequest) -> Reply:
    """A plausible answer to ``request``, chosen by its path and body."""
    body = request.body if isinstance(request.body, dict) else {}
    model = body.get("model") or "llama3.2"
    stream = body.get("stream", True) is not False  # Ollama streams unless told not to
    if request.path == "/api/chat":
        tools = bool(body.get("tools"))
        return (
            Reply(lines=chat_lines(model, tool_call=tools))
            if stream
            else Reply(body=chat_response(model, tool_call=tools))
        )
    if request.path == "/api/generate":
        return (
            Reply(lines=generate_lines(model)) if stream else Reply(body=generate_response(model))
        )
    if request.path == "/api/embed":
        inputs = body.get("input")
        count = len(inputs) if isinstance(inputs, list) else 1
        return Reply(body=embed_response(model, count))
    if request.path == "/api/embeddings":
        return Reply(body={"embedding": [0.25, -0.5, 0.125]})
    return Reply(status=404, body={"error": f"no route {request.path}"})


def _final(model: str, prompt: int, output: int, done_reason: str) -> dict[str, Any]:
    return {
        "model": model,
        "created_at": CREATED_AT,
        "done": True,
        "done_reason": done_reason,
        "total_duration": 5_000_000,
        "load_duration": 1_000_000,
        "prompt_eval_count": prompt,
        "prompt_eval_duration": 2_000_000,
        "eval_count": output,
        "eval_duration": 2_000_000,
    }


def chat_response(
    model: str = "llama3.2",
    content: str = "".join(PIECES),
    tool_call: bool = False,
    prompt: int = 26,
    output: int = 8,
    done_reason: str = "stop",
    thinking: str | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "" if tool_call else content}
    if tool_call:
        message["tool_calls"] = [TOOL_CALL]
    if thinking:
        message["thinking"] = thinking
    return {**_final(model, prompt, output, done_reason), "message": message}


def chat_lines(
    model: str = "llama3.2",
    pieces: tuple[str, ...] = PIECES,
    tool_call: bool = False,
    prompt: int = 26,
    output: int = 8,
) -> list[dict[str, Any]]:
    """A streamed chat: one line per piece (or the tool call), then the final ``done`` line."""

    def line(message: dict[str, Any]) -> dict[str, Any]:
        return {"model": model, "created_at": CREATED_AT, "message": message, "done": False}

    if tool_call:
        lines = [line({"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]})]
    else:
        lines = [line({"role": "assistant", "content": piece}) for piece in pieces]
    final = _final(model, prompt, output, "stop")
    final["message"] = {"role": "assistant", "content": ""}
    return [*lines, final]


def generate_response(
    model: str = "llama3.2", text: str = "".join(PIECES), prompt: int = 14, output: int = 6
) -> dict[str, Any]:
    return {**_final(model, prompt, output, "stop"), "response": text, "context": [1, 2, 3]}


def generate_lines(
    model: str = "llama3.2", pieces: tuple[str, ...] = PIECES, prompt: int = 14, output: int = 6
) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = [
        {"model": model, "created_at": CREATED_AT, "response": piece, "done": False}
        for piece in pieces
    ]
    lines.append({**_final(model, prompt, output, "stop"), "response": "", "context": [1, 2]})
    return lines


def embed_response(model: str = "nomic-embed-text", count: int = 1) -> dict[str, Any]:
    return {
        "model": model,
        "embeddings": [[0.25, -0.5, 0.125] for _ in range(count)],
        "total_duration": 1_000_000,
        "load_duration": 100_000,
        "prompt_eval_count": 4 * count,
    }


# --- HTTP ----------------------------------------------------------------------------------------


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def _handler_class(server: FakeOllama) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = server._next(ReceivedRequest(self.path, body, headers))
            if reply.lines is not None:
                self._stream(reply)
            else:
                payload = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

        def _stream(self, reply: Reply) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for sent, line in enumerate(reply.lines or ()):
                    if reply.drop_after is not None and sent >= reply.drop_after:
                        self.wfile.flush()
                        self.close_connection = True
                        with contextlib.suppress(OSError):
                            self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    self._chunk(json.dumps(line).encode() + b"\n")
                self._chunk(b"")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
