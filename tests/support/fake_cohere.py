"""A loopback server speaking Cohere's v2 API, for driving the real ``cohere`` SDK.

Answers ``POST /v2/chat`` with a JSON chat response or, for ``"stream": true``, with the v2
server-sent events (``message-start``, ``content-start`` / ``content-delta`` / ``content-end``,
``tool-plan-delta``, ``tool-call-start`` / ``tool-call-delta`` / ``tool-call-end``,
``message-end`` with the finish reason and usage), each flushed as a chunk of its own;
``POST /v2/embed`` and ``POST /v2/rerank`` with their JSON responses.

What the reply holds is chosen by a path prefix, so a client only needs its ``base_url``
(``scenario_url(scenario)``): ``/scenario/<name>/v2/…`` with ``text`` (the default, also without a
prefix), ``tool_calls``, ``cut`` (a stream whose connection drops after the first event), or
``status_<code>`` (that HTTP status with an error JSON). Every request is recorded.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.loopback import Exchange, ScenarioServer

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


class FakeCohere(ScenarioServer):
    """Serves the v2 API on ``127.0.0.1``, on a free port, in a daemon thread."""

    error_body = {"id": "fake-error", "message": "fake error"}

    def _next_id(self) -> str:
        return f"fake-{next(self._ids):08d}-cohere"

    def answer_scenario(
        self, exchange: Exchange, scenario: str, path: str, body: dict[str, Any]
    ) -> None:
        if path.startswith("/v2/embed"):
            exchange.send_json(200, embed(body, self._next_id()))
        elif path.startswith("/v2/rerank"):
            exchange.send_json(200, rerank(body, self._next_id()))
        elif body.get("stream") is True:
            events = [
                f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"
                for event in stream_events(scenario, self._next_id())
            ]
            exchange.send_events(events, cut=scenario == "cut")
        else:
            exchange.send_json(200, chat(scenario, self._next_id()))


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
