"""Cohere's v2 API in the terms of the GenAI conventions: chat (and its server-sent events),
embed and rerank.

Usage is read as Cohere bills it (``usage.billed_units``, sent as floats; ``usage.tokens``, which
also counts the prompt template, only when no billed count is there), with ``cached_tokens`` as
the cache reads. Messages and tools have OpenAI's chat shape, so the toolkit's
``openai_shapes.content`` reads them; Cohere's own parts (``thinking``, the ``tool_plan``,
documents) are read here. The ``rerank`` operation has no GenAI operation name of its own: see
``RerankOperation``.
"""

from __future__ import annotations

from llmtrace_agent.toolkit import genai, semconv
from llmtrace_agent.toolkit.openai_shapes import content as openai_content
from llmtrace_agent.toolkit.openai_shapes.chat import record_chat_input, sampling_attributes
from llmtrace_agent.toolkit.readers import as_int, as_list, as_str, as_str_list, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from llmtrace_agent.toolkit.genai import LLMCall

COHERE = "cohere"
_providers: dict[type, str] = {}


def provider_of(client: object) -> str:
    """``aws.bedrock`` for the SDK's Bedrock clients, ``cohere`` otherwise (cached per class)."""
    cls = type(client)
    found = _providers.get(cls)
    if found is None:
        bedrock = any("Bedrock" in klass.__name__ for klass in cls.__mro__)
        found = _providers[cls] = "aws.bedrock" if bedrock else COHERE
    return found


def request_for(
    instance: object, kwargs: Mapping[str, object], attributes: dict[str, object], stream: bool
) -> genai.Request:
    """A ``Request`` with ``server.address`` / ``server.port`` of the client's base URL."""
    wrapper = getattr(instance, "_client_wrapper", None)
    try:
        url = wrapper.get_base_url()  # type: ignore[union-attr]
    except Exception:
        url = None
    address, port = genai.server_of(url) if isinstance(url, str) else (None, None)
    return genai.Request(kwargs.get("model"), attributes, stream, address, port)


class CohereOperation(genai.LLMOperation):
    provider_name = COHERE

    def provider(self, instance: object) -> str:
        return provider_of(instance)


# --- chat ------------------------------------------------------------------------------------

_SAMPLING = (
    ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
    ("p", semconv.GEN_AI_REQUEST_TOP_P),
    ("k", semconv.GEN_AI_REQUEST_TOP_K),
    ("frequency_penalty", semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", semconv.GEN_AI_REQUEST_PRESENCE_PENALTY),
)


class ChatOperation(CohereOperation):
    """``chat`` (``streams=False``) and ``chat_stream`` (``streams=True``, a generator method)."""

    operation_name = "chat"

    def __init__(self, streams: bool) -> None:
        self.streams = streams
        self.sends_when_iterated = streams

    def request(
        self, instance: object, kwargs: Mapping[str, object], capture: bool
    ) -> genai.Request:
        # Hot path: every call.
        get = kwargs.get
        attributes: dict[str, object] = {}
        sampling_attributes(kwargs, attributes, _SAMPLING, "stop_sequences", None)
        max_tokens = as_int(get("max_tokens"))
        if max_tokens is not None:
            attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
        response_format = get("response_format")
        if response_format is not None:
            kind = field(response_format, "type")
            if kind in ("json_object", "json"):
                attributes[semconv.GEN_AI_OUTPUT_TYPE] = "json"
            elif kind == "text":
                attributes[semconv.GEN_AI_OUTPUT_TYPE] = "text"
        if capture:
            record_chat_input(attributes, get("messages"), get("tools"), chat_input)
        return request_for(instance, kwargs, attributes, self.streams)

    def record_response(self, call: LLMCall, response: object) -> None:
        reason = field(response, "finish_reason")
        output = None
        if call.capture_content:
            chat_message = field(response, "message")
            parts = response_parts(chat_message)
            role = as_str(field(chat_message, "role")) or "assistant"
            output = [genai.output_message(role, parts, reason)]
        call.set_response(
            response_id=field(response, "id"),
            finish_reasons=[reason] if reason is not None else None,
            usage=usage_of(field(response, "usage")),
            output_messages=output,
        )

    def stream_state(self, call: LLMCall, result: object) -> genai.StreamState | None:
        return ChatStreamState(call.capture_content) if self.streams else None


def usage_of(usage: object) -> genai.Usage | None:
    """The billed input and output tokens (``billed_units``, else ``tokens``) and cache reads."""
    if usage is None:
        return None
    counts = field(usage, "billed_units")
    if counts is None or field(counts, "input_tokens") is None:
        counts = field(usage, "tokens")
    return genai.Usage(
        input=_count(field(counts, "input_tokens")),
        output=_count(field(counts, "output_tokens")),
        cache_read=_count(field(usage, "cached_tokens")),
    )


def _count(value: object) -> int | None:
    """A token count Cohere sends as a float (``12.0``) as an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return as_int(value)


class ChatStreamState(genai.StreamState):
    """Reads the v2 stream events: the id from ``message-start``, the finish reason and usage
    from ``message-end``, and (content capture only) the text, thinking, tool plan and tool
    calls from the ``content-*``, ``tool-plan-delta`` and ``tool-call-*`` events."""

    __slots__ = ("end", "message_id", "parts")

    def __init__(self, capture_content: bool) -> None:
        self.message_id: object = None
        self.end: object = None
        # index -> [kind, pieces, tool call id, tool name]; "plan" for the tool plan
        self.parts: dict[object, list] | None = {} if capture_content else None

    def on_chunk(self, chunk: object) -> None:
        # Hot path: once per event; text deltas cost one comparison unless content is captured.
        kind = getattr(chunk, "type", None)
        if kind == "content-delta" or kind == "tool-call-delta" or kind == "tool-plan-delta":
            if self.parts is not None:
                self._add_delta(kind, chunk)
        elif kind == "message-start":
            self.message_id = getattr(chunk, "id", None)
        elif kind == "message-end":
            self.end = getattr(chunk, "delta", None)
            if self.message_id is None:
                self.message_id = getattr(chunk, "id", None)
        elif kind == "tool-call-start" and self.parts is not None:
            call = field(field(getattr(chunk, "delta", None), "message"), "tool_calls")
            function = field(call, "function")
            arguments = field(function, "arguments")
            pieces = [arguments] if isinstance(arguments, str) else []
            name = field(function, "name")
            self.parts[getattr(chunk, "index", None)] = ["tool", pieces, field(call, "id"), name]

    def _add_delta(self, kind: str, chunk: object) -> None:
        message = field(getattr(chunk, "delta", None), "message")
        parts = self.parts
        if kind == "tool-plan-delta":
            plan = field(message, "tool_plan")
            if isinstance(plan, str):
                parts.setdefault("plan", ["plan", []])[1].append(plan)  # type: ignore[union-attr]
            return
        index = getattr(chunk, "index", None)
        if kind == "tool-call-delta":
            piece = field(field(field(message, "tool_calls"), "function"), "arguments")
            entry = parts.get(index)  # type: ignore[union-attr]
            if entry is not None and isinstance(piece, str):
                entry[1].append(piece)
            return
        content = field(message, "content")
        text = field(content, "text")
        entry_kind = "text"
        if not isinstance(text, str):
            text, entry_kind = field(content, "thinking"), "thinking"
        if isinstance(text, str):
            key = (entry_kind, index)
            entry = parts.get(key)  # type: ignore[union-attr]
            if entry is None:
                entry = parts[key] = [entry_kind, []]  # type: ignore[index]
            entry[1].append(text)

    def finish(self, call: LLMCall) -> None:
        end = self.end
        reason = field(end, "finish_reason")
        output = None
        if self.parts is not None:
            output = [genai.output_message("assistant", self._output_parts(), reason)]
        call.set_response(
            response_id=self.message_id,
            # A stream that ended before message-end reports "error" (set_response does).
            finish_reasons=[reason],
            usage=usage_of(field(end, "usage")),
            output_messages=output,
        )

    def _output_parts(self) -> list[dict[str, object]]:
        parts: list[dict[str, object]] = []
        for entry in self.parts.values():  # type: ignore[union-attr]
            kind, pieces = entry[0], "".join(entry[1])
            if kind == "text":
                parts.append(genai.text_part(pieces))
            elif kind in ("thinking", "plan"):
                parts.append(genai.reasoning_part(pieces))
            else:
                parts.append(genai.tool_call_part(entry[2], entry[3], pieces))
        return parts


# --- embed and rerank ----------------------------------------------------------------------


class EmbedOperation(CohereOperation):
    """``embed``: the requested embedding types and dimension count, the response id and the
    billed input tokens."""

    operation_name = "embeddings"

    def request(
        self, instance: object, kwargs: Mapping[str, object], capture: bool
    ) -> genai.Request:
        attributes: dict[str, object] = {}
        formats = as_str_list(kwargs.get("embedding_types"))
        if formats:
            attributes[semconv.GEN_AI_REQUEST_ENCODING_FORMATS] = formats
        dimensions = as_int(kwargs.get("output_dimension"))
        if dimensions is not None:
            attributes[semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions
        return request_for(instance, kwargs, attributes, False)

    def record_response(self, call: LLMCall, response: object) -> None:
        usage = usage_of(field(response, "meta"))
        if usage is not None:
            usage.output = None  # embeddings produce no tokens
        call.set_response(response_id=field(response, "id"), usage=usage)


class RerankOperation(CohereOperation):
    """``rerank``: GenAI v1.41 names no operation for it (``retrieval`` is a search over a data
    source, ``embeddings`` makes vectors), and allows a custom value where none applies: the
    span is ``rerank {model}``, with the request model, server and response id. Rerank is
    billed in search units, not tokens, so the span has no token usage and no cost."""

    operation_name = "rerank"

    def request(
        self, instance: object, kwargs: Mapping[str, object], capture: bool
    ) -> genai.Request:
        return request_for(instance, kwargs, {}, False)

    def record_response(self, call: LLMCall, response: object) -> None:
        call.set_response(response_id=field(response, "id"))


# --- content -------------------------------------------------------------------------------


def chat_input(messages: list | tuple) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(system instruction parts, input messages) of Cohere's ``messages``; an assistant's
    ``tool_plan`` comes first, as reasoning."""
    instructions: list[dict[str, object]] = []
    inputs: list[dict[str, object]] = []
    for item in messages:
        role = field(item, "role")
        if role == "system":
            instructions.extend(content_parts(field(item, "content")))
        elif role == "tool":
            result = openai_content.tool_result(field(item, "content"))
            part = genai.tool_call_response_part(field(item, "tool_call_id"), result)
            inputs.append(genai.message("tool", [part]))
        else:
            parts = content_parts(field(item, "content"))
            plan = field(item, "tool_plan")
            if isinstance(plan, str):
                parts.insert(0, genai.reasoning_part(plan))
            parts.extend(openai_content.chat_tool_calls(item))
            inputs.append(genai.message(role, parts))
    return instructions, inputs


def response_parts(chat_message: object) -> list[dict[str, object]]:
    """The parts of a response's assistant message: tool plan, content, tool calls."""
    parts: list[dict[str, object]] = []
    plan = field(chat_message, "tool_plan")
    if isinstance(plan, str):
        parts.append(genai.reasoning_part(plan))
    parts.extend(content_parts(field(chat_message, "content")))
    parts.extend(openai_content.chat_tool_calls(chat_message))
    return parts


def content_parts(content: object) -> list[dict[str, object]]:
    """A message content (a string or a list of typed items) as GenAI message parts."""
    if isinstance(content, str):
        return [genai.text_part(content)]
    parts: list[dict[str, object]] = []
    for item in as_list(content) or ():
        kind = field(item, "type")
        if kind == "text":
            parts.append(genai.text_part(field(item, "text")))
        elif kind == "thinking":
            parts.append(genai.reasoning_part(field(item, "thinking")))
        elif kind == "image_url":
            parts.append(openai_content.media_part(field(field(item, "image_url"), "url"), "image"))
        elif isinstance(kind, str):  # documents and the like: their type, not their payload
            parts.append({"type": kind})
    return parts
