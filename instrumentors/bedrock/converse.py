"""Bedrock's Converse API (``converse`` / ``converse_stream``): one request and response shape for
every model, so one ``chat {modelId}`` span description for all of them."""

from __future__ import annotations

from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.genai import (
    LLMOperation,
    Request,
    StreamState,
    Usage,
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
from llmtrace_agent.toolkit.readers import as_count, as_float, as_list, as_str, as_str_list, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from llmtrace_agent.toolkit.genai import LLMCall

PROVIDER = "aws.bedrock"
_NO_FIELDS: dict[str, object] = {}


class BedrockOperation(LLMOperation):
    """What the Bedrock operations share: the provider, the client's endpoint, and the response
    dict botocore returns (``ResponseMetadata`` beside the operation's output)."""

    provider_name = PROVIDER
    streams = False

    def __init__(self, streams: bool = False) -> None:
        self.streams = streams

    def new_request(
        self, instance: object, model: object, attributes: dict[str, object]
    ) -> Request:
        address, port = server_of(getattr(getattr(instance, "meta", None), "endpoint_url", ""))
        return Request(
            model, attributes, stream=self.streams, server_address=address, server_port=port
        )

    def wrap_stream(self, call: LLMCall, result: object, key: str, state: StreamState) -> object:
        """Put the response's event stream (``result[key]``) behind a stream proxy that ends
        ``call``; a response without one is recorded as it is."""
        from llmtrace_agent.toolkit.genai import IterableStreamProxy

        stream = result.get(key) if isinstance(result, dict) else None
        if stream is None:
            return None
        result[key] = IterableStreamProxy(stream, call, state)  # type: ignore[index]
        return result


def request_id_of(response: object) -> dict[str, object]:
    """``aws.request_id`` of a botocore response dict."""
    request_id = as_str(field(field(response, "ResponseMetadata"), "RequestId"))
    return {semconv.AWS_REQUEST_ID: request_id} if request_id else _NO_FIELDS


class ConverseOperation(BedrockOperation):
    """``converse`` and, with ``streams``, ``converse_stream``."""

    operation_name = "chat"

    def request(self, instance: object, kwargs: Mapping[str, object], capture: bool) -> Request:
        # Hot path: every call.
        attributes: dict[str, object] = {}
        config = kwargs.get("inferenceConfig")
        if isinstance(config, dict):
            max_tokens = as_count(config.get("maxTokens"))
            if max_tokens is not None:
                attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
            for key, name in (
                ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
                ("topP", semconv.GEN_AI_REQUEST_TOP_P),
            ):
                value = as_float(config.get(key))
                if value is not None:
                    attributes[name] = value
            stop = as_str_list(config.get("stopSequences"))
            if stop:
                attributes[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = stop
        extra = kwargs.get("additionalModelRequestFields")
        if isinstance(extra, dict):  # top_k is model-specific: Anthropic top_k, Nova topK…
            top_k = as_float(extra.get("top_k", extra.get("topK")))
            if top_k is not None:
                attributes[semconv.GEN_AI_REQUEST_TOP_K] = top_k
        guardrail = as_str(field(kwargs.get("guardrailConfig"), "guardrailIdentifier"))
        if guardrail:
            attributes[semconv.AWS_BEDROCK_GUARDRAIL_ID] = guardrail
        output_config = kwargs.get("outputConfig")
        if output_config is not None:
            if field(field(output_config, "textFormat"), "type") == "json_schema":
                attributes[semconv.GEN_AI_OUTPUT_TYPE] = "json"
            effort = as_str(field(output_config, "effort"))
            if effort:
                attributes[semconv.GEN_AI_REQUEST_REASONING_LEVEL] = effort
        if capture:
            record_converse_input(attributes, kwargs)
        return self.new_request(instance, kwargs.get("modelId"), attributes)

    def record_response(self, call: LLMCall, response: object) -> None:
        stop_reason = field(response, "stopReason")
        output = None
        if call.capture_content:
            reply = field(field(response, "output"), "message")
            if reply is not None:
                parts = content_parts(field(reply, "content"))
                output = [output_message(field(reply, "role") or "assistant", parts, stop_reason)]
        call.set_response(
            finish_reasons=[stop_reason] if isinstance(stop_reason, str) else None,
            usage=converse_usage(field(response, "usage")),
            output_messages=output,
            attributes=request_id_of(response),
        )

    def result_proxy(self, call: LLMCall, result: object) -> object | None:
        if not self.streams:
            return None
        state = ConverseStreamState(call.capture_content, request_id_of(result))
        return self.wrap_stream(call, result, "stream", state)


def converse_usage(usage: object) -> Usage | None:
    """The call's ``Usage`` from Converse's ``TokenUsage``, whose ``inputTokens`` excludes the
    tokens read from and written to the prompt cache (the spec's input count includes them)."""
    if not isinstance(usage, dict):
        return None
    input_tokens = as_count(usage.get("inputTokens"))
    cache_read = as_count(usage.get("cacheReadInputTokens"))
    cache_write = as_count(usage.get("cacheWriteInputTokens"))
    if input_tokens is not None:
        input_tokens += (cache_read or 0) + (cache_write or 0)
    return Usage(input_tokens, as_count(usage.get("outputTokens")), cache_read, cache_write)


# --- content ---------------------------------------------------------------------------------


def record_converse_input(attributes: dict[str, object], kwargs: Mapping[str, object]) -> None:
    """``gen_ai.input.messages``, ``gen_ai.system_instructions``, ``gen_ai.tool.definitions``."""
    messages = as_list(kwargs.get("messages"))
    if messages is not None:
        attributes[semconv.GEN_AI_INPUT_MESSAGES] = to_json(
            [
                message(field(item, "role"), content_parts(field(item, "content")))
                for item in messages
            ]
        )
    system = as_list(kwargs.get("system"))
    if system:
        attributes[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = to_json(content_parts(system))
    tools = as_list(field(kwargs.get("toolConfig"), "tools"))
    if tools:
        definitions = [tool_definition(tool) for tool in tools if field(tool, "toolSpec")]
        if definitions:
            attributes[semconv.GEN_AI_TOOL_DEFINITIONS] = to_json(definitions)


def tool_definition(tool: object) -> dict[str, object]:
    """A ``toolSpec`` as the spec's tool definition (the input schema left out: it can be large)."""
    spec = field(tool, "toolSpec")
    definition: dict[str, object] = {"type": "function", "name": field(spec, "name")}
    description = field(spec, "description")
    if isinstance(description, str):
        definition["description"] = clip(description)
    return definition


def content_parts(content: object) -> list[dict[str, object]]:
    """Converse content blocks (each a one-key union: ``text``, ``toolUse``, ``image``…) as the
    spec's message parts; cache points are markers, not content, and are left out."""
    if isinstance(content, str):
        return [text_part(content)]
    blocks = as_list(content)
    if blocks is None:
        return []
    return [part for part in map(block_part, blocks) if part is not None]


def block_part(block: object) -> dict[str, object] | None:
    if not isinstance(block, dict):
        return None
    if "text" in block:
        return text_part(block["text"])
    for key, convert in _BLOCK_PARTS:
        value = block.get(key)
        if value is not None:
            return convert(value)
    if "cachePoint" in block:
        return None
    kind = next(iter(block), "unknown")
    return {"type": kind}


def _tool_use(block: object) -> dict[str, object]:
    return tool_call_part(field(block, "toolUseId"), field(block, "name"), field(block, "input"))


def _tool_result(block: object) -> dict[str, object]:
    parts = content_parts(field(block, "content"))
    response: object = parts
    if len(parts) == 1 and parts[0].get("type") == "text":
        response = parts[0]["content"]
    return tool_call_response_part(field(block, "toolUseId"), response)


def _reasoning(block: object) -> dict[str, object]:
    # Redacted reasoning (encrypted bytes) has no text to show.
    return reasoning_part(field(field(block, "reasoningText"), "text"))


def _json(value: object) -> dict[str, object]:
    return {"type": "text", "content": clip(to_json(value))}


def _media(modality: str) -> Callable[[object], dict[str, object]]:
    """A placeholder for an image, document, video or audio block: its format, not its bytes."""

    def part(block: object) -> dict[str, object]:
        placeholder: dict[str, object] = {"type": modality}
        kind = as_str(field(block, "format"))
        if kind:
            placeholder["format"] = kind
        return placeholder

    return part


def _guarded_text(block: object) -> dict[str, object]:
    return text_part(field(field(block, "text"), "text"))


_BLOCK_PARTS: tuple[tuple[str, Callable[[object], dict[str, object]]], ...] = (
    ("toolUse", _tool_use),
    ("toolResult", _tool_result),
    ("reasoningContent", _reasoning),
    ("json", _json),
    ("image", _media("image")),
    ("document", _media("document")),
    ("video", _media("video")),
    ("audio", _media("audio")),
    ("guardContent", _guarded_text),
)


# --- streams ---------------------------------------------------------------------------------


class ConverseStreamState(StreamState):
    """Rebuilds a ``converse_stream`` reply from its events: the stop reason from
    ``messageStop``, the usage from ``metadata``, the content blocks (only when content is
    captured) from ``contentBlockStart`` / ``contentBlockDelta``."""

    __slots__ = ("attributes", "blocks", "stop_reason", "usage")

    def __init__(self, capture_content: bool, attributes: dict[str, object]) -> None:
        self.attributes = attributes
        self.stop_reason: object = None
        self.usage: object = None
        self.blocks: dict[object, list[object]] | None = {} if capture_content else None

    def on_chunk(self, chunk: object) -> None:
        # Hot path: once per event; a text delta costs two dict lookups unless captured.
        if not isinstance(chunk, dict):
            return
        delta = chunk.get("contentBlockDelta")
        if delta is not None:
            if self.blocks is not None:
                self._add_delta(delta)
        elif "messageStop" in chunk:
            self.stop_reason = field(chunk["messageStop"], "stopReason")
        elif "metadata" in chunk:
            self.usage = field(chunk["metadata"], "usage")
        elif "contentBlockStart" in chunk and self.blocks is not None:
            start = chunk["contentBlockStart"]
            tool = field(field(start, "start"), "toolUse")
            self.blocks[field(start, "contentBlockIndex")] = ["toolUse", tool]

    def _add_delta(self, event: object) -> None:
        index = field(event, "contentBlockIndex")
        delta = field(event, "delta")
        if not isinstance(delta, dict):
            return
        blocks = self.blocks
        assert blocks is not None
        if "text" in delta:
            blocks.setdefault(index, ["text"]).append(delta["text"])
        elif "toolUse" in delta:
            blocks.setdefault(index, ["toolUse", None]).append(field(delta["toolUse"], "input"))
        elif "reasoningContent" in delta:
            text = field(delta["reasoningContent"], "text")
            blocks.setdefault(index, ["reasoning"]).append(text)

    def finish(self, call: LLMCall) -> None:
        output = None
        if self.blocks is not None:
            parts = [_streamed_part(entry) for _, entry in sorted(self.blocks.items(), key=_order)]
            output = [output_message("assistant", parts, self.stop_reason)]
        call.set_response(
            # A stream that ended before messageStop reports "error" (set_response does).
            finish_reasons=[self.stop_reason],
            usage=converse_usage(self.usage),
            output_messages=output,
            attributes=self.attributes,
        )


def _order(item: tuple[object, list[object]]) -> int:
    index = item[0]
    return index if isinstance(index, int) else 0


def _streamed_part(entry: list[object]) -> dict[str, object]:
    kind = entry[0]
    if kind == "toolUse":
        tool, *pieces = entry[1:]
        arguments = "".join(piece for piece in pieces if isinstance(piece, str))
        return tool_call_part(field(tool, "toolUseId"), field(tool, "name"), arguments)
    text = "".join(piece for piece in entry[1:] if isinstance(piece, str))
    return reasoning_part(text) if kind == "reasoning" else text_part(text)
