"""Our own code per streamed chunk, measured alone: the stream proxy and each provider's stream
state iterating chunks the SDK already parsed, against iterating the same chunks bare.

The end-to-end stream figures of ``run.py`` carry the SDK's parsing and a few µs of noise per
chunk; this isolates what the agent adds to each chunk the app reads. The span is not ended
(ending is per call, not per chunk). Prints one JSON object: µs per chunk by case.

    python bench/per_chunk.py
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterator

from anthropic.types import RawContentBlockDeltaEvent
from google.genai import types as gemini_types
from openai.types.chat import ChatCompletionChunk
from opentelemetry import trace

from llmtrace_agent.instrumentors.anthropic.messages import MessageStreamState
from llmtrace_agent.instrumentors.bedrock.converse import ConverseStreamState
from llmtrace_agent.instrumentors.bedrock.invoke import ANTHROPIC, InvokeStreamState
from llmtrace_agent.instrumentors.google_genai.models import GenerateContentStreamState
from llmtrace_agent.toolkit.genai import IterableStreamProxy, StreamProxy, StreamState
from llmtrace_agent.toolkit.genai.wrappers import DeferredStreamProxy
from llmtrace_agent.toolkit.openai_shapes.chat import ChatChoiceOutput
from llmtrace_agent.toolkit.openai_shapes.choices import ChoicesStreamState

CHUNKS = 2000
ROUNDS = 200
WARM_UP = 50  # rounds run first and not counted


class Call:
    """The stand-in for an LLMCall: what the proxy touches per chunk, and an ending that does
    nothing (so no span is made)."""

    ended = False
    span = trace.INVALID_SPAN  # made current by DeferredStreamProxy for the first read

    def mark_first_chunk(self) -> None:
        pass

    def end(self, error: BaseException | None = None) -> None:
        self.ended = True


def quiet(state_class: type[StreamState]) -> type[StreamState]:
    """``state_class`` with an ending that records nothing (the stand-in call has no span)."""
    return type(state_class.__name__, (state_class,), {"__slots__": (), "finish": _no_finish})


def _no_finish(self: StreamState, call: object) -> None:
    pass


def _no_metrics(call: object, response: object) -> None:
    return None


def openai_chunks() -> list[object]:
    """A text stream as OpenAI sends it: the role in the first delta, then content only."""

    def chunk(delta: dict[str, str]) -> object:
        choice = {"index": 0, "delta": delta, "finish_reason": None}
        return ChatCompletionChunk.model_validate(
            {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [choice]}
        )  # fmt: skip

    return [chunk({"role": "assistant", "content": ""})] + [chunk({"content": "token"})] * CHUNKS


def anthropic_chunks() -> list[object]:
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "t"},
    }
    return [RawContentBlockDeltaEvent.model_validate(delta)] * CHUNKS


def gemini_chunks() -> list[object]:
    """A text stream as google-genai yields it: a ``GenerateContentResponse`` per chunk, each with
    one text part and the usage so far."""
    chunk = gemini_types.GenerateContentResponse.model_validate(
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "token"}]}}],
            "usage_metadata": {"prompt_token_count": 12, "candidates_token_count": 5},
            "model_version": "gemini-2.5-flash",
        }
    )
    return [chunk] * CHUNKS


def converse_chunks() -> list[object]:
    """A ``converse_stream`` text stream as botocore parses it (one dict per event)."""
    return [{"contentBlockDelta": {"delta": {"text": "t"}, "contentBlockIndex": 0}}] * CHUNKS


def invoke_chunks() -> list[object]:
    """An ``invoke_model_with_response_stream`` Claude text stream as botocore parses it: each
    event's model JSON still in bytes (the app decodes it, and so do we)."""
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "t"},
    }
    return [{"chunk": {"bytes": json.dumps(delta).encode()}}] * CHUNKS


def per_chunk_us(
    chunks: list[object],
    new_state: Callable[[], StreamState] | None,
    proxy: type[StreamProxy] = StreamProxy,
) -> float:
    """Median µs per chunk of reading ``chunks``, bare (``new_state`` None) or through us."""

    def stream() -> Iterator[object]:
        if new_state is None:
            return iter(chunks)
        return proxy(iter(chunks), Call(), new_state())  # type: ignore[arg-type]

    samples = []
    for round_number in range(WARM_UP + ROUNDS):
        started = time.perf_counter()
        for _chunk in stream():
            pass
        if round_number >= WARM_UP:
            samples.append(time.perf_counter() - started)
    return statistics.median(samples) / len(chunks) * 1e6


def main() -> None:
    openai, anthropic, gemini = openai_chunks(), anthropic_chunks(), gemini_chunks()
    chat, messages = quiet(ChoicesStreamState), quiet(MessageStreamState)
    generate = quiet(GenerateContentStreamState)
    converse, invoke = converse_chunks(), invoke_chunks()
    converse_state, invoke_state = quiet(ConverseStreamState), quiet(InvokeStreamState)
    cases: dict[str, tuple[list[object], Callable[[], StreamState], type[StreamProxy]]] = {
        "openai chat, capture off": (openai, lambda: chat(None, _no_metrics), StreamProxy),  # type: ignore[call-arg]
        "openai chat, capture on": (
            openai,
            lambda: chat(ChatChoiceOutput, _no_metrics),
            StreamProxy,
        ),  # type: ignore[call-arg]
        "anthropic messages, capture off": (anthropic, lambda: messages(False), StreamProxy),  # type: ignore[call-arg]
        "anthropic messages, capture on": (anthropic, lambda: messages(True), StreamProxy),  # type: ignore[call-arg]
        # google-genai's sync stream is a generator: the agent wraps it in DeferredStreamProxy.
        "gemini generate_content, capture off": (
            gemini,
            lambda: generate(False),
            DeferredStreamProxy,
        ),  # type: ignore[call-arg]
        "gemini generate_content, capture on": (
            gemini,
            lambda: generate(True),
            DeferredStreamProxy,
        ),  # type: ignore[call-arg]
        # botocore's EventStream is iterable, not an iterator: the agent wraps it in
        # IterableStreamProxy.
        "bedrock converse_stream, capture off": (
            converse,
            lambda: converse_state(False, {}),
            IterableStreamProxy,
        ),  # type: ignore[call-arg]
        "bedrock converse_stream, capture on": (
            converse,
            lambda: converse_state(True, {}),
            IterableStreamProxy,
        ),  # type: ignore[call-arg]
        "bedrock invoke stream (Claude), capture off": (
            invoke,
            lambda: invoke_state(ANTHROPIC, False, {}),
            IterableStreamProxy,
        ),  # type: ignore[call-arg]
        "bedrock invoke stream (Claude), capture on": (
            invoke,
            lambda: invoke_state(ANTHROPIC, True, {}),
            IterableStreamProxy,
        ),  # type: ignore[call-arg]
    }
    results = {}
    for label, (chunks, new_state, proxy) in cases.items():
        results[label] = per_chunk_us(chunks, new_state, proxy) - per_chunk_us(chunks, None)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
