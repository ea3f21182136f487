"""Groq's chat completions and embeddings, read with the OpenAI wire-shape readers.

Groq streams report usage in the final chunk's ``x_groq.usage`` (and, with
``stream_options.include_usage``, in a top-level ``usage`` as OpenAI does): both are read.
"""

from __future__ import annotations

from groq._response import APIResponse, AsyncAPIResponse

from llmtrace_agent.toolkit import genai
from llmtrace_agent.toolkit.genai.raw_response import RawResponses
from llmtrace_agent.toolkit.openai_shapes.chat import (
    ChatChoiceOutput,
    chat_output_message,
    chat_request_attributes,
    record_chat_input,
)
from llmtrace_agent.toolkit.openai_shapes.choices import ChoicesOperation, ChoicesStreamState
from llmtrace_agent.toolkit.openai_shapes.embeddings import (
    embeddings_request_attributes,
    record_embeddings_response,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from llmtrace_agent.toolkit.genai import LLMCall

GROQ = "groq"
# ``with_raw_response`` returns an APIResponse whose body is read unless streamed,
# ``with_streaming_response`` one whose body is still on the wire (no groq release in range has
# a LegacyAPIResponse).
RAW_RESPONSES = RawResponses(None, APIResponse, AsyncAPIResponse)


def new_request(
    instance: object, model: object, attributes: dict[str, object], stream: bool
) -> genai.Request:
    """A ``Request`` with ``server.address`` / ``server.port`` from the client's base URL."""
    base_url = getattr(getattr(instance, "_client", None), "base_url", None)
    address, port = genai.server_of(base_url) if base_url is not None else (None, None)
    return genai.Request(model, attributes, stream, address, port)


class GroqStreamState(ChoicesStreamState):
    """OpenAI's chunk accumulator, plus the usage Groq puts in ``x_groq`` of the final chunk."""

    __slots__ = ()

    def on_chunk(self, chunk: object) -> None:
        # Hot path: once per chunk; ``x_groq`` is None on all but the first and the last.
        ChoicesStreamState.on_chunk(self, chunk)
        extra = getattr(chunk, "x_groq", None)
        if extra is not None:
            usage = getattr(extra, "usage", None)
            if usage is not None:
                self.usage = usage


class GroqChatOperation(ChoicesOperation):
    """``chat.completions.create``, plain or streamed."""

    operation_name = "chat"
    provider_name = GROQ
    raw_responses = RAW_RESPONSES
    choice_output = ChatChoiceOutput
    stream_state_class = GroqStreamState

    def __init__(self, stream_types: tuple[type, ...]) -> None:
        self.stream_types = stream_types

    def request(
        self, instance: object, kwargs: Mapping[str, object], capture: bool
    ) -> genai.Request:
        get = kwargs.get
        attributes: dict[str, object] = {}
        chat_request_attributes(kwargs, attributes)
        if capture:
            record_chat_input(attributes, get("messages"), get("tools"))
        return new_request(instance, get("model"), attributes, get("stream") is True)

    def output_message(self, choice: object, finish_reason: object) -> dict[str, object]:
        return chat_output_message(choice, finish_reason)


class GroqEmbeddingsOperation(genai.LLMOperation):
    """``embeddings.create``: the request's format and the input token count."""

    operation_name = "embeddings"
    provider_name = GROQ
    raw_responses = RAW_RESPONSES

    def request(
        self, instance: object, kwargs: Mapping[str, object], capture: bool
    ) -> genai.Request:
        attributes = embeddings_request_attributes(kwargs)
        return new_request(instance, kwargs.get("model"), attributes, False)

    def record_response(self, call: LLMCall, response: object) -> None:
        record_embeddings_response(call, response)


def operations(stream_types: tuple[type, ...]) -> dict[str, genai.LLMOperation]:
    """The operation for each kind of method the instrumentor wraps."""
    return {"chat": GroqChatOperation(stream_types), "embeddings": GroqEmbeddingsOperation()}
