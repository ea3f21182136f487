"""A loopback server speaking Mistral's chat and embeddings API, for driving the real
``mistralai`` SDK.

Answers ``POST /v1/chat/completions`` with a JSON ``ChatCompletionResponse`` or, for
``"stream": true``, with the server-sent events Mistral sends (``data: {chunk}`` lines, the last
chunk carrying ``finish_reason`` and ``usage``, then ``data: [DONE]``), each flushed as a chunk of
its own; and ``POST /v1/embeddings`` with an ``EmbeddingResponse``.

What the reply holds is chosen by a path prefix, so a client only needs its ``server_url``
(``scenario_url(scenario)``): ``/scenario/<name>/v1/…`` with ``text`` (the default, also without a
prefix), ``tool_calls``, ``cut`` (a stream whose connection drops after the first chunk), or
``status_<code>`` (that HTTP status with Mistral's error JSON). A ``text`` request asking for
JSON (``response_format``) gets ``JSON_TEXT``. Every request is recorded.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.loopback import Exchange, ScenarioServer

TEXT = "Bonjour from the fake Mistral."
TEXT_CHUNKS = ("Bonjour", " from the", " fake Mistral.")
USAGE = {"prompt_tokens": 21, "completion_tokens": 8, "total_tokens": 29}
EMBEDDING_USAGE = {"prompt_tokens": 6, "completion_tokens": 0, "total_tokens": 6}
EMBEDDING = [0.25, -0.5, 0.125, 1.0]
JSON_TEXT = '{"text": "Bonjour"}'
TOOL_ID = "D681PevKs"
TOOL_NAME = "get_weather"
TOOL_ARGUMENTS = '{"city": "Paris"}'


class FakeMistral(ScenarioServer):
    """Serves the API on ``127.0.0.1``, on a free port, in a daemon thread."""

    error_body = {"object": "error", "message": "fake error", "type": "fake_error"}

    def _next_id(self) -> str:
        return f"cmpl-fake{next(self._ids):08d}"

    def answer_scenario(
        self, exchange: Exchange, scenario: str, path: str, body: dict[str, Any]
    ) -> None:
        model = body.get("model", "unknown")
        if scenario == "text" and (body.get("response_format") or {}).get("type") in (
            "json_schema",
            "json_object",
        ):
            scenario = "json"
        if path.startswith("/v1/embeddings"):
            exchange.send_json(200, embeddings(body, model, self._next_id()))
        elif body.get("stream") is True:
            events = [
                f"data: {json.dumps(chunk)}\n\n"
                for chunk in stream_chunks(scenario, self._next_id(), model)
            ]
            exchange.send_events([*events, "data: [DONE]\n\n"], cut=scenario == "cut")
        else:
            exchange.send_json(200, completion(scenario, self._next_id(), model))


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
