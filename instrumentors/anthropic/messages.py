"""The Anthropic Messages API in the terms of the GenAI conventions (``docs/gen-ai/anthropic.md``).

Request parameters and response fields become span attributes, the usage becomes a ``Usage``
(``gen_ai.usage.input_tokens`` includes the cached tokens, which Anthropic reports apart), content
blocks become the message parts of the spec's JSON schemas, and ``MessageStreamState`` rebuilds a
streamed answer from the raw server-sent events. Imported by the instrumentor (``__init__.py``) once
the SDK is, since it pulls in the GenAI layer and OpenTelemetry.

Everything here reads request parameters (dicts, or SDK models a user passes back) and response
models tolerantly: a missing, null or oddly typed field skips its attribute.
"""

from __future__ import annotations

from anthropic._response import APIResponse, AsyncAPIResponse

from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.genai import (
    LLMOperation,
    Request,
    StreamState,
    Usage,
    blob_part,
    clip,
    message,
    output_message,
    reasoning_part,
    server_of,
    text_part,
    to_json,
    tool_call_part,
    tool_call_response_part,
)
from llmtrace_agent.toolkit.genai.raw_response import RawResponses
from llmtrace_agent.toolkit.readers import as_count, as_float, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from llmtrace_agent.toolkit.genai import LLMCall

try:  # anthropic < 2: ``with_raw_response`` returns a LegacyAPIResponse; 2.x an APIResponse
    from anthropic._legacy_response import LegacyAPIResponse
except ImportError:  # pragma: no cover - anthropic 2.x
    LegacyAPIResponse = None  # type: ignore[assignment,misc]

# The platform clients' providers (GenAI registry values), for SDKs that do not declare their own.
_PLATFORMS = (("Bedrock", "aws.bedrock"), ("Vertex", "gcp.vertex_ai"))
_providers: dict[type, str] = {}


def provider_of(client: object) -> str:
    """``gen_ai.provider.name`` for an SDK client: ``aws.bedrock`` for ``AnthropicBedrock``,
    ``gcp.vertex_ai`` for ``AnthropicVertex``, ``anthropic`` otherwise (cached per class)."""
    cls = type(client)
    found = _providers.get(cls)
    if found is None:
        declared = getattr(cls, "_gen_ai_provider_name", None)  # anthropic >= 1 declares it
        if isinstance(declared, str) and declared:
            found = declared
        else:
            names = " ".join(klass.__name__ for klass in cls.__mro__)
            found = next((value for key, value in _PLATFORMS if key in names), "anthropic")
        _providers[cls] = found
    return found


class MessagesOperation(LLMOperation):
    """``messages.create`` / ``parse`` / ``stream`` (and their beta and async twins)."""

    operation_name = "chat"
    provider_name = "anthropic"
    # ``with_raw_response`` (every call of LangChain's ChatAnthropic) returns a raw response whose
    # body is read unless streamed; ``with_streaming_response`` one whose body is still on the wire.
    raw_responses = RawResponses(LegacyAPIResponse, APIResponse, AsyncAPIResponse)

    def __init__(self, stream_types: tuple[type, ...], always_streams: bool = False) -> None:
        self.stream_types = stream_types
        self.always_streams = always_streams  # messages.stream() has no ``stream`` argument

    def provider(self, instance: object) -> str:
        return provider_of(getattr(instance, "_client", None))

    def request(self, instance: object, kwargs: Mapping[str, object], capture: bool) -> Request:
        # Hot path: every call.
        attributes: dict[str, object] = {}
        max_tokens = as_count(kwargs.get("max_tokens"))
        if max_tokens is not None:
            attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
        # anthropic >= 1 dropped these arguments; requests that still need them use extra_body.
        extra = kwargs.get("extra_body")
        extra = extra if isinstance(extra, dict) else _NO_EXTRA
        for key, name in _SAMPLING:
            value = as_float(kwargs.get(key, extra.get(key)))
            if value is not None:
                attributes[name] = value
        stop = kwargs.get("stop_sequences")
        if isinstance(stop, (list, tuple)) and stop and all(isinstance(s, str) for s in stop):
            attributes[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = list(stop)
        output_config = kwargs.get("output_config")
        if output_config is not None:
            effort = field(output_config, "effort")
            if isinstance(effort, str):
                attributes[semconv.GEN_AI_REQUEST_REASONING_LEVEL] = effort
        if _requests_json(output_config, kwargs.get("output_format")):
            attributes[semconv.GEN_AI_OUTPUT_TYPE] = "json"
        if capture:
            _record_request_content(attributes, kwargs)
        address, port = server_of(getattr(getattr(instance, "_client", None), "base_url", ""))
        return Request(
            kwargs.get("model"),
            attributes,
            stream=self.always_streams or kwargs.get("stream") is True,
            server_address=address,
            server_port=port,
        )

    def record_response(self, call: LLMCall, response: object) -> None:
        stop_reason = getattr(response, "stop_reason", None)
        output = None
        if call.capture_content:
            content = getattr(response, "content", None)
            if isinstance(content, list):
                role = getattr(response, "role", None) or "assistant"
                output = [output_message(role, content_parts(content), stop_reason)]
        call.set_response(
            response_id=getattr(response, "id", None),
            model=getattr(response, "model", None),
            finish_reasons=[stop_reason] if isinstance(stop_reason, str) else None,
            usage=usage_of(getattr(response, "usage", None)),
            output_messages=output,
        )

    def stream_state(self, call: LLMCall, result: object) -> StreamState | None:
        if isinstance(result, self.stream_types):
            return MessageStreamState(call.capture_content)
        return None


_NO_EXTRA: dict[str, object] = {}
_SAMPLING = (
    ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", semconv.GEN_AI_REQUEST_TOP_P),
    ("top_k", semconv.GEN_AI_REQUEST_TOP_K),  # an int in the API, a double in the spec
)


def _requests_json(output_config: object, output_format: object) -> bool:
    """Whether the request asks for JSON: ``output_config.format`` (or the older
    ``output_format``) of type ``json_schema``, or a type to parse into (``parse``/``stream``)."""
    if isinstance(output_format, type):
        return True
    formats = (field(output_config, "format"), output_format)
    return any(field(fmt, "type") == "json_schema" for fmt in formats if fmt is not None)


def usage_of(usage: object) -> Usage | None:
    """The call's ``Usage`` from the API's usage object.

    Anthropic's ``input_tokens`` excludes the tokens read from and written to the prompt cache;
    the spec's ``gen_ai.usage.input_tokens`` includes them, so they are added to it.
    """
    if usage is None:
        return None
    return _usage(
        as_count(field(usage, "input_tokens")),
        as_count(field(usage, "output_tokens")),
        as_count(field(usage, "cache_read_input_tokens")),
        as_count(field(usage, "cache_creation_input_tokens")),
        as_count(field(field(usage, "output_tokens_details"), "thinking_tokens")),
    )


def streamed_usage_of(started: object, final: object) -> Usage | None:
    """The ``Usage`` of a stream: ``message_start`` has the input and cache counts and only a
    placeholder for the output, which ``message_delta`` has (cumulative counts, so a field it
    repeats replaces message_start's). A stream that ended before message_delta has no output
    count."""
    if started is None and final is None:
        return None
    input_tokens = as_count(field(started, "input_tokens"))
    cache_read = as_count(field(started, "cache_read_input_tokens"))
    cache_write = as_count(field(started, "cache_creation_input_tokens"))
    reasoning = None
    output_tokens = None
    if final is not None:
        input_tokens = _or(as_count(field(final, "input_tokens")), input_tokens)
        cache_read = _or(as_count(field(final, "cache_read_input_tokens")), cache_read)
        cache_write = _or(as_count(field(final, "cache_creation_input_tokens")), cache_write)
        output_tokens = as_count(field(final, "output_tokens"))
        reasoning = as_count(field(field(final, "output_tokens_details"), "thinking_tokens"))
    return _usage(input_tokens, output_tokens, cache_read, cache_write, reasoning)


def _usage(
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read: int | None,
    cache_write: int | None,
    reasoning: int | None,
) -> Usage:
    total_input = None
    if input_tokens is not None:
        total_input = input_tokens + (cache_read or 0) + (cache_write or 0)
    return Usage(total_input, output_tokens, cache_read, cache_write, reasoning)


def _or(value: int | None, default: int | None) -> int | None:
    return default if value is None else value


# --- content ---------------------------------------------------------------------------------


def _record_request_content(attributes: dict[str, object], kwargs: Mapping[str, object]) -> None:
    """``gen_ai.input.messages``, ``gen_ai.system_instructions`` and ``gen_ai.tool.definitions``."""
    # ``messages`` and ``tools`` may be any iterable; a generator would be used up here and
    # reach the API empty, so only lists and tuples are read.
    messages = kwargs.get("messages")
    if isinstance(messages, (list, tuple)):
        attributes[semconv.GEN_AI_INPUT_MESSAGES] = to_json(
            [
                message(field(item, "role"), content_parts(field(item, "content")))
                for item in messages
            ]
        )
    system = kwargs.get("system")
    if isinstance(system, (str, list, tuple)) and system:
        attributes[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = to_json(content_parts(system))
    tools = kwargs.get("tools")
    if isinstance(tools, (list, tuple)) and tools:
        attributes[semconv.GEN_AI_TOOL_DEFINITIONS] = to_json([tool_definition(t) for t in tools])


def content_parts(content: object) -> list[dict[str, object]]:
    """A message's ``content`` (a string, or a list of blocks) as the spec's message parts."""
    if isinstance(content, str):
        return [text_part(content)]
    if isinstance(content, (list, tuple)):
        return [block_part(block) for block in content]
    return []


def block_part(block: object) -> dict[str, object]:
    """One content block (request dict or response model) as a message part."""
    kind = field(block, "type")
    if kind == "text":
        return text_part(field(block, "text"))
    if kind == "tool_use":
        return tool_call_part(field(block, "id"), field(block, "name"), field(block, "input"))
    if kind == "tool_result":
        result = field(block, "content")
        response = result if isinstance(result, str) else content_parts(result)
        return tool_call_response_part(field(block, "tool_use_id"), response)
    if kind == "thinking":
        return reasoning_part(field(block, "thinking"))
    if kind in ("image", "document"):
        return _media_part(kind, field(block, "source"))
    # Server tools, redacted thinking, search results…: the spec's generic part, type only.
    return {"type": kind if isinstance(kind, str) else "unknown"}


def _media_part(modality: str, source: object) -> dict[str, object]:
    kind = field(source, "type")
    if kind == "base64":
        return blob_part(modality, field(source, "media_type"), field(source, "data"))
    if kind == "url":
        return {"type": "uri", "modality": modality, "uri": field(source, "url")}
    if kind == "file":
        return {"type": "file", "modality": modality, "file_id": field(source, "file_id")}
    if kind == "text":  # a plain-text document
        return text_part(field(source, "data"))
    return {"type": modality}


def tool_definition(tool: object) -> dict[str, object]:
    """A tool as the spec's tool definition: type, name and description. The input schema is left
    out: the spec advises against non-required properties by default, since they can be large."""
    kind = field(tool, "type")
    definition: dict[str, object] = {
        # Client tools (``custom`` or untyped) are functions; server tools keep their own type.
        "type": "function" if kind in (None, "custom") else kind,
        "name": field(tool, "name"),
    }
    description = field(tool, "description")
    if isinstance(description, str):
        definition["description"] = clip(description)
    return definition


# --- streams ---------------------------------------------------------------------------------


class MessageStreamState(StreamState):
    """Rebuilds a streamed ``Message`` from the raw events: id, model and input usage from
    ``message_start``; ``stop_reason`` and the final output usage from ``message_delta``; the
    content blocks (only when content is captured) from the ``content_block_*`` events."""

    __slots__ = ("blocks", "final_usage", "started", "stop_reason")

    def __init__(self, capture_content: bool) -> None:
        self.started: object = None
        self.stop_reason: object = None
        self.final_usage: object = None
        self.blocks: dict[object, list[object]] | None = {} if capture_content else None

    def on_chunk(self, chunk: object) -> None:
        # Hot path: once per event; text deltas (most events) cost one comparison unless captured.
        kind = getattr(chunk, "type", None)
        if kind == "content_block_delta":
            if self.blocks is not None:
                self._add_delta(chunk)
        elif kind == "message_start":
            self.started = getattr(chunk, "message", None)
        elif kind == "message_delta":
            self.stop_reason = getattr(getattr(chunk, "delta", None), "stop_reason", None)
            self.final_usage = getattr(chunk, "usage", None)
        elif kind == "content_block_start" and self.blocks is not None:
            block = getattr(chunk, "content_block", None)
            self.blocks[getattr(chunk, "index", None)] = [block]

    def _add_delta(self, chunk: object) -> None:
        entry = self.blocks.get(getattr(chunk, "index", None))  # type: ignore[union-attr]
        if entry is None:
            return
        delta = getattr(chunk, "delta", None)
        kind = getattr(delta, "type", None)
        if kind == "text_delta":
            entry.append(getattr(delta, "text", None))
        elif kind == "input_json_delta":
            entry.append(getattr(delta, "partial_json", None))
        elif kind == "thinking_delta":
            entry.append(getattr(delta, "thinking", None))

    def finish(self, call: LLMCall) -> None:
        started = self.started
        output = None
        if self.blocks is not None:
            parts = [_streamed_part(entry) for entry in self.blocks.values()]
            output = [output_message("assistant", parts, self.stop_reason)]
        call.set_response(
            response_id=getattr(started, "id", None),
            model=getattr(started, "model", None),
            # A stream that ended before message_delta reports "error" (set_response does).
            finish_reasons=[self.stop_reason],
            usage=streamed_usage_of(getattr(started, "usage", None), self.final_usage),
            output_messages=output,
        )


def _streamed_part(entry: list[object]) -> dict[str, object]:
    """The part for a streamed block: its ``content_block_start`` block plus the deltas' texts."""
    block, *pieces = entry
    text = "".join(piece for piece in pieces if isinstance(piece, str))
    kind = field(block, "type")
    if kind == "text":
        return text_part((field(block, "text") or "") + text)
    if kind == "thinking":
        return reasoning_part((field(block, "thinking") or "") + text)
    if kind == "tool_use":
        # The JSON arrives in pieces; tool_call_part decodes it (or keeps the text if partial).
        arguments = text if pieces else field(block, "input")
        return tool_call_part(field(block, "id"), field(block, "name"), arguments)
    return block_part(block)
