"""A loopback Ollama server for the ollama instrumentor's tests.

Serves ``/api/chat``, ``/api/generate``, ``/api/embed`` and ``/api/embeddings`` over real
HTTP/1.1 on 127.0.0.1: one JSON object, or, when the request asks to stream, NDJSON (one JSON
object per line, chunked, the last with ``"done": true`` and the token counts), as Ollama does.
It records every request. Without instructions it answers plausibly (echoing the model, with a
tool call when the request offers tools); ``server.reply(Reply(...))`` shapes the next answers:
any status and body, any list of lines, a connection dropped mid-stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.support.loopback import Exchange, QueuedRepliesServer, ReceivedRequest

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


class FakeOllama(QueuedRepliesServer[Reply]):
    """The server, on a free loopback port, answering from a daemon thread."""

    def __init__(self) -> None:
        super().__init__()
        self.host = self.origin  # what ``ollama.Client(host=...)`` takes

    def answer(self, exchange: Exchange, request: ReceivedRequest) -> None:
        reply = self.next_reply() or default_reply(request)
        if reply.lines is None:
            exchange.send_json(reply.status, reply.body)
            return
        exchange.start_chunks(reply.status, "application/x-ndjson")
        for sent, line in enumerate(reply.lines):
            if reply.drop_after is not None and sent >= reply.drop_after:
                exchange.drop()
                return
            exchange.chunk(json.dumps(line).encode() + b"\n")
        exchange.end_chunks()


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
