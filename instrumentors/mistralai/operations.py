"""Mistral's chat and embeddings calls in the terms of the GenAI conventions.

Mistral speaks OpenAI's chat-completion shape (``choices``, ``usage.prompt_tokens``…), so the
response, stream and content readers are ``llmtrace_agent.toolkit.openai_shapes``'; what differs
is read here: ``random_seed``, ``top_k``, the streamed ``CompletionEvent`` wrapping each chunk in
``data``, content chunks of its own (``thinking``, ``image_url`` as a plain string,
``document_url``, ``input_audio``), and the SDK's ``UNSET`` placeholder for every argument not
given (the tolerant readers skip it).
"""

from __future__ import annotations

from llmtrace_agent.toolkit import genai, semconv
from llmtrace_agent.toolkit.openai_shapes import content as openai_content
from llmtrace_agent.toolkit.openai_shapes.chat import (
    ChatChoiceOutput,
    chat_request_attributes,
    output_type_of,
    record_chat_input,
)
from llmtrace_agent.toolkit.openai_shapes.choices import ChoicesOperation, ChoicesStreamState
from llmtrace_agent.toolkit.openai_shapes.embeddings import embeddings_request_attributes
from llmtrace_agent.toolkit.openai_shapes.usage import usage_of
from llmtrace_agent.toolkit.readers import as_float, as_int, as_list, as_str, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from llmtrace_agent.toolkit.genai import LLMCall

MISTRAL_AI = "mistral_ai"


def request_for(
    instance: object, kwargs: Mapping[str, object], attributes: dict[str, object], stream: bool
) -> genai.Request:
    """A ``Request`` with ``server.address`` / ``server.port`` of the URL the call goes to: the
    call's ``server_url`` argument, else the client's server."""
    url = as_str(kwargs.get("server_url"))
    if url is None:
        configuration = getattr(instance, "sdk_configuration", None)
        try:
            url = configuration.get_server_details()[0]  # type: ignore[union-attr]
        except Exception:
            url = None
    address, port = genai.server_of(url) if url else (None, None)
    return genai.Request(kwargs.get("model"), attributes, stream, address, port)


class EventStreamState(ChoicesStreamState):
    """A Mistral stream: each event holds its chat-completion chunk in ``data``."""

    __slots__ = ()

    def on_chunk(self, chunk: object) -> None:
        # Hot path: once per event.
        ChoicesStreamState.on_chunk(self, getattr(chunk, "data", None))


class ChatOperation(ChoicesOperation):
    """``chat.complete`` / ``complete_async`` (``streams=False``), ``chat.stream`` /
    ``stream_async`` (``streams=True``)."""

    operation_name = "chat"
    provider_name = MISTRAL_AI
    choice_output = ChatChoiceOutput
    stream_state_class = EventStreamState

    def __init__(self, streams: bool) -> None:
        self.streams = streams
        self.stream_types = (object,) if streams else ()  # what a stream method returns streams

    def request(
        self, instance: object, kwargs: Mapping[str, object], capture: bool
    ) -> genai.Request:
        # Hot path: every call.
        attributes: dict[str, object] = {}
        chat_request_attributes(kwargs, attributes)
        seed = as_int(kwargs.get("random_seed"))
        if seed is not None:
            attributes[semconv.GEN_AI_REQUEST_SEED] = seed
        top_k = as_float(kwargs.get("top_k"))
        if top_k is not None:
            attributes[semconv.GEN_AI_REQUEST_TOP_K] = top_k
        response_format = kwargs.get("response_format")
        if response_format is not None and semconv.GEN_AI_OUTPUT_TYPE not in attributes:
            # An SDK model (``parse`` passes a ``ResponseFormat``) rather than a dict.
            output_type = output_type_of({"type": field(response_format, "type")})
            if output_type:
                attributes[semconv.GEN_AI_OUTPUT_TYPE] = output_type
        if capture:
            record_chat_input(attributes, kwargs.get("messages"), kwargs.get("tools"), chat_input)
        return request_for(instance, kwargs, attributes, self.streams)

    def output_message(self, choice: object, finish_reason: object) -> dict[str, object]:
        chat_message = field(choice, "message")
        parts = content_parts(field(chat_message, "content"))
        parts.extend(openai_content.chat_tool_calls(chat_message))
        role = as_str(field(chat_message, "role")) or "assistant"
        return genai.output_message(role, parts, finish_reason)


class EmbeddingsOperation(genai.LLMOperation):
    """``embeddings.create`` / ``create_async``: the requested format and dimension count, the
    response id and model, and the input token count."""

    operation_name = "embeddings"
    provider_name = MISTRAL_AI

    def request(
        self, instance: object, kwargs: Mapping[str, object], capture: bool
    ) -> genai.Request:
        attributes = embeddings_request_attributes(kwargs, "output_dimension")
        return request_for(instance, kwargs, attributes, False)

    def record_response(self, call: LLMCall, response: object) -> None:
        usage = usage_of(field(response, "usage"))
        if usage is not None:
            usage.output = None  # embeddings produce no tokens (Mistral reports 0)
        call.set_response(
            response_id=field(response, "id"), model=field(response, "model"), usage=usage
        )


# --- content ---------------------------------------------------------------------------------


def chat_input(messages: list | tuple) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(system instruction parts, input messages) of Mistral's ``messages``."""
    instructions: list[dict[str, object]] = []
    inputs: list[dict[str, object]] = []
    for item in messages:
        role = field(item, "role")
        parts = content_parts(field(item, "content"))
        if role == "system":
            instructions.extend(parts)
        elif role == "tool":
            result = openai_content.tool_result(field(item, "content"))
            call_id = field(item, "tool_call_id")
            response = genai.tool_call_response_part(as_str(call_id), result)
            inputs.append(genai.message("tool", [response], as_str(field(item, "name"))))
        else:
            parts.extend(openai_content.chat_tool_calls(item))
            inputs.append(genai.message(role, parts))
    return instructions, inputs


def content_parts(content: object) -> list[dict[str, object]]:
    """A Mistral message content (a string or a list of chunks) as GenAI message parts."""
    if isinstance(content, str):
        return [genai.text_part(content)]
    parts: list[dict[str, object]] = []
    for chunk in as_list(content) or ():
        kind = field(chunk, "type")
        if kind == "thinking":
            texts = [field(piece, "text") for piece in as_list(field(chunk, "thinking")) or ()]
            parts.append(genai.reasoning_part("".join(t for t in texts if isinstance(t, str))))
        elif kind == "image_url" and isinstance(field(chunk, "image_url"), str):
            parts.append(openai_content.media_part(field(chunk, "image_url"), "image"))
        elif kind == "document_url":
            parts.append(openai_content.media_part(field(chunk, "document_url"), "document"))
        elif kind == "input_audio":
            parts.append(genai.blob_part("audio", None, field(chunk, "input_audio")))
        else:
            parts.extend(openai_content.content_parts([chunk]))
    return parts
