"""Bedrock's ``invoke_model`` / ``invoke_model_with_response_stream``: the request and response
bodies are the model vendor's own JSON, so each call is read in its model family's format.

The family comes from the model id's vendor prefix (after a cross-region inference profile
prefix such as ``us.``), or, for an ARN that names no vendor (a provisioned or imported model),
from the request body's keys. Every Bedrock response also reports the token counts itself
(``X-Amzn-Bedrock-Input-Token-Count`` headers, ``amazon-bedrock-invocationMetrics`` in the last
stream chunk): they are the usage when the body has none.
"""

from __future__ import annotations

import functools
import json

from llmtrace_agent.instrumentors.bedrock.converse import (
    BedrockOperation,
    ConverseStreamState,
    content_parts,
    converse_usage,
    request_id_of,
)
from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.genai import (
    Request,
    StreamState,
    Usage,
    message,
    output_message,
    reasoning_part,
    text_part,
    to_json,
    tool_call_part,
    tool_call_response_part,
)
from llmtrace_agent.toolkit.readers import (
    as_count,
    as_float,
    as_int,
    as_list,
    as_str,
    as_str_list,
    field,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from llmtrace_agent.toolkit.genai import LLMCall

# Model families (body formats).
ANTHROPIC = "anthropic"  # Claude: the Messages API body
NOVA = "nova"  # Amazon Nova: Converse-shaped body
TITAN = "titan"  # Amazon Titan Text: inputText / results
TITAN_EMBED = "titan_embed"  # Amazon Titan Embeddings: inputText / embedding
LLAMA = "llama"  # Meta Llama: prompt / generation
COHERE = "cohere"  # Cohere Command: prompt / generations
COHERE_CHAT = "cohere_chat"  # Cohere Command R: message / text
COHERE_EMBED = "cohere_embed"  # Cohere Embed: texts / embeddings
MISTRAL = "mistral"  # Mistral prompt models: prompt / outputs
CHAT_COMPLETIONS = "chat_completions"  # OpenAI chat shape: Mistral Large, gpt-oss, Jamba…
TEXT = "text"  # another prompt model

OPERATIONS = {
    TITAN_EMBED: "embeddings",
    COHERE_EMBED: "embeddings",
    ANTHROPIC: "chat",
    NOVA: "chat",
    COHERE_CHAT: "chat",
    CHAT_COMPLETIONS: "chat",
    TITAN: "text_completion",
    LLAMA: "text_completion",
    COHERE: "text_completion",
    MISTRAL: "text_completion",
    TEXT: "text_completion",
}
_VENDORS = (
    ("anthropic.", ANTHROPIC),
    ("amazon.titan-embed", TITAN_EMBED),
    ("amazon.titan", TITAN),
    ("amazon.nova", NOVA),
    ("meta.", LLAMA),
    ("cohere.embed", COHERE_EMBED),
    ("cohere.command-r", COHERE_CHAT),
    ("cohere.", COHERE),
)
_PROFILE_PREFIXES = frozenset(("us", "eu", "apac", "global", "us-gov", "jp", "au", "ca"))
_families: dict[str, str | None] = {}


def family_of(model_id: object, body: object) -> str:
    """The body format of a call to ``model_id`` (cached per id when its vendor tells it)."""
    if isinstance(model_id, str):
        family = _families.get(model_id)
        if family is None and model_id not in _families:
            family = _vendor_family(model_id)
            if len(_families) < 1024:
                _families[model_id] = family
        if family is not None:
            return family
        if _vendor(model_id).startswith("mistral."):
            return CHAT_COMPLETIONS if _has(body, "messages") else MISTRAL
    return _shape_family(body)


def _vendor(model_id: str) -> str:
    name = model_id.rsplit("/", 1)[-1]
    prefix, _, rest = name.partition(".")
    return rest if prefix in _PROFILE_PREFIXES and rest else name


def _vendor_family(model_id: str) -> str | None:
    vendor = _vendor(model_id)
    return next((family for prefix, family in _VENDORS if vendor.startswith(prefix)), None)


def _shape_family(body: object) -> str:
    if not isinstance(body, dict):
        return TEXT
    if "anthropic_version" in body:
        return ANTHROPIC
    if "messages" in body:
        return NOVA if "inferenceConfig" in body or "schemaVersion" in body else CHAT_COMPLETIONS
    if "texts" in body:
        return COHERE_EMBED
    if "message" in body:
        return COHERE_CHAT
    if "inputText" in body:
        return TITAN if "textGenerationConfig" in body else TITAN_EMBED
    if "max_gen_len" in body:
        return LLAMA
    return TEXT


def _has(body: object, key: str) -> bool:
    return isinstance(body, dict) and key in body


def decode_body(body: object) -> dict[str, object] | None:
    """The JSON request body (bytes or str); None for a file object (never read: the SDK sends it)
    or a body that is not a JSON object."""
    if isinstance(body, (bytes, bytearray, str)):
        try:
            decoded = json.loads(body)
        except ValueError:
            return None
        return decoded if isinstance(decoded, dict) else None
    return None


# --- request ---------------------------------------------------------------------------------

# (body keys in the families' spellings, attribute, reader); Titan and Nova nest them in a config.
_PARAMETERS: tuple[tuple[tuple[str, ...], str, Callable[[object], object]], ...] = (
    (
        ("max_tokens", "max_gen_len", "maxTokenCount", "max_new_tokens", "maxTokens"),
        semconv.GEN_AI_REQUEST_MAX_TOKENS,
        as_count,
    ),
    (("temperature",), semconv.GEN_AI_REQUEST_TEMPERATURE, as_float),
    (("top_p", "topP", "p"), semconv.GEN_AI_REQUEST_TOP_P, as_float),
    (("top_k", "topK", "k"), semconv.GEN_AI_REQUEST_TOP_K, as_float),
    (
        ("stop_sequences", "stopSequences", "stop"),
        semconv.GEN_AI_REQUEST_STOP_SEQUENCES,
        as_str_list,
    ),
    (("frequency_penalty",), semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY, as_float),
    (("presence_penalty",), semconv.GEN_AI_REQUEST_PRESENCE_PENALTY, as_float),
    (("seed", "random_seed"), semconv.GEN_AI_REQUEST_SEED, as_int),
    (("dimensions", "output_dimension"), semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, as_count),
    (("embedding_types", "embeddingTypes"), semconv.GEN_AI_REQUEST_ENCODING_FORMATS, as_str_list),
)


class InvokeModelOperation(BedrockOperation):
    """``invoke_model`` (or, with ``streams``, ``invoke_model_with_response_stream``) of one
    model family. The wrapper describes the call as ``{"modelId", "body"}`` (the decoded body)."""

    def __init__(self, family: str, streams: bool = False) -> None:
        super().__init__(streams)
        self.family = family
        self.operation_name = OPERATIONS[family]

    def request(self, instance: object, kwargs: Mapping[str, object], capture: bool) -> Request:
        # Hot path: every call.
        attributes: dict[str, object] = {}
        body = kwargs.get("body")
        if isinstance(body, dict):
            config = body.get("textGenerationConfig") or body.get("inferenceConfig")
            config = config if isinstance(config, dict) else body
            for keys, name, read in _PARAMETERS:
                for key in keys:
                    value = config.get(key, body.get(key))
                    if value is not None:
                        found = read(value)
                        if found is not None:
                            attributes[name] = found
                        break
            if capture and self.operation_name != "embeddings":
                record_invoke_input(attributes, self.family, body)
        return self.new_request(instance, kwargs.get("modelId"), attributes)

    def result_proxy(self, call: LLMCall, result: object) -> object | None:
        if self.streams:
            state = InvokeStreamState(self.family, call.capture_content, request_id_of(result))
            return self.wrap_stream(call, result, "body", state)
        return read_response(call, self.family, result)


def record_invoke_input(attributes: dict[str, object], family: str, body: dict) -> None:
    """The request's messages, system instructions and tools, in the family's format."""
    if family == CHAT_COMPLETIONS:
        from llmtrace_agent.toolkit.openai_shapes.chat import record_chat_input

        record_chat_input(attributes, body.get("messages"), body.get("tools"))
        return
    inputs = None
    messages = as_list(body.get("messages"))
    if messages is not None:
        convert = typed_parts if family == ANTHROPIC else content_parts
        inputs = [message(field(m, "role"), convert(field(m, "content"))) for m in messages]
        system = body.get("system")
        if system:
            attributes[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = to_json(convert(system))
    elif family == COHERE_CHAT:
        history = as_list(body.get("chat_history")) or ()
        inputs = [
            message(
                _COHERE_ROLES.get(field(m, "role"), field(m, "role")),
                [text_part(field(m, "message"))],
            )  # type: ignore[arg-type]
            for m in history
        ]
        inputs.append(message("user", [text_part(body.get("message"))]))
        preamble = as_str(body.get("preamble"))
        if preamble:
            attributes[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = to_json([text_part(preamble)])
    else:
        prompt = body.get("prompt", body.get("inputText"))
        if isinstance(prompt, str):
            inputs = [message("user", [text_part(prompt)])]
    if inputs is not None:
        attributes[semconv.GEN_AI_INPUT_MESSAGES] = to_json(inputs)
    tools = as_list(body.get("tools"))
    if tools:
        definitions = [{"type": "function", "name": field(tool, "name")} for tool in tools]
        attributes[semconv.GEN_AI_TOOL_DEFINITIONS] = to_json(definitions)


_COHERE_ROLES = {"USER": "user", "CHATBOT": "assistant", "SYSTEM": "system", "TOOL": "tool"}


def typed_parts(content: object) -> list[dict[str, object]]:
    """Anthropic content (a string or ``{"type": …}`` blocks) as message parts; images and
    documents become placeholders."""
    if isinstance(content, str):
        return [text_part(content)]
    blocks = as_list(content) or ()
    return [_typed_part(block) for block in blocks]


def _typed_part(block: object) -> dict[str, object]:
    kind = field(block, "type")
    if kind == "text":
        return text_part(field(block, "text"))
    if kind == "tool_use":
        return tool_call_part(field(block, "id"), field(block, "name"), field(block, "input"))
    if kind == "tool_result":
        result = field(block, "content")
        response = result if isinstance(result, str) else typed_parts(result)
        return tool_call_response_part(field(block, "tool_use_id"), response)
    if kind == "thinking":
        return reasoning_part(field(block, "thinking"))
    return {"type": kind if isinstance(kind, str) else "unknown"}


# --- complete responses ----------------------------------------------------------------------


def read_response(call: LLMCall, family: str, result: object) -> object | None:
    """Read the response body (botocore hands it over unread), give the caller a fresh body
    with the same bytes, record what it says and end ``call``. A failed read ends the call with
    its error, and the caller's ``body.read()`` raises that same error."""
    body = field(result, "body")
    if body is None or not hasattr(body, "read"):
        return None
    from botocore.response import StreamingBody

    try:
        data = body.read()
    except Exception as exc:
        result["body"] = failed_body(body, exc)  # type: ignore[index]
        call.end(exc)
        return result
    import io

    result["body"] = StreamingBody(io.BytesIO(data), len(data))  # type: ignore[index]
    record_body(call, family, decode_body(data), result)
    call.end(None)
    return result


@functools.cache
def _failed_body_class() -> type:
    import wrapt

    class FailedBody(wrapt.ObjectProxy):  # type: ignore[misc]
        """The response body whose reading failed under us: reading it raises that error."""

        def __init__(self, body: object, error: Exception) -> None:
            super().__init__(body)
            self._self_error = error

        def read(self, *args: object, **kwargs: object) -> bytes:
            raise self._self_error

    return FailedBody


def failed_body(body: object, error: Exception) -> object:
    """``body`` whose ``read()`` raises ``error``."""
    return _failed_body_class()(body, error)


def record_body(call: LLMCall, family: str, body: dict | None, result: object) -> None:
    """What a complete response body says, in the family's format."""
    attributes = request_id_of(result)
    if body is None:
        call.set_response(usage=header_usage(result), attributes=attributes)
        return
    reply = _REPLIES[family](body)
    usage = reply.usage or header_usage(result)
    output = None
    if call.capture_content and reply.parts is not None:
        output = [output_message("assistant", reply.parts, reply.finish_reason)]
    call.set_response(
        response_id=reply.response_id,
        model=reply.model,
        finish_reasons=[reply.finish_reason] if isinstance(reply.finish_reason, str) else None,
        usage=usage,
        output_messages=output,
        attributes=attributes,
    )


def header_usage(result: object) -> Usage | None:
    """The token counts Bedrock reports in the response headers, for every model."""
    headers = field(field(result, "ResponseMetadata"), "HTTPHeaders")
    if not isinstance(headers, dict):
        return None
    input_tokens = _header_count(headers.get("x-amzn-bedrock-input-token-count"))
    output_tokens = _header_count(headers.get("x-amzn-bedrock-output-token-count"))
    if input_tokens is None and output_tokens is None:
        return None
    return Usage(input_tokens, output_tokens)


def _header_count(value: object) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


class Reply:
    """What a family's response body says."""

    __slots__ = ("finish_reason", "model", "parts", "response_id", "usage")

    def __init__(
        self,
        parts: list[dict[str, object]] | None,
        finish_reason: object = None,
        usage: Usage | None = None,
        response_id: object = None,
        model: object = None,
    ) -> None:
        self.parts = parts
        self.finish_reason = finish_reason
        self.usage = usage
        self.response_id = response_id
        self.model = model


def anthropic_usage(usage: object) -> Usage | None:
    """Anthropic's usage; its ``input_tokens`` excludes the cached tokens the spec counts."""
    if not isinstance(usage, dict):
        return None
    input_tokens = as_count(usage.get("input_tokens"))
    cache_read = as_count(usage.get("cache_read_input_tokens"))
    cache_write = as_count(usage.get("cache_creation_input_tokens"))
    if input_tokens is not None:
        input_tokens += (cache_read or 0) + (cache_write or 0)
    return Usage(input_tokens, as_count(usage.get("output_tokens")), cache_read, cache_write)


def _anthropic_reply(body: dict) -> Reply:
    return Reply(
        typed_parts(body.get("content")),
        body.get("stop_reason"),
        anthropic_usage(body.get("usage")),
        body.get("id"),
        body.get("model"),
    )


def _nova_reply(body: dict) -> Reply:
    reply = field(field(body, "output"), "message")
    return Reply(
        content_parts(field(reply, "content")),
        body.get("stopReason"),
        converse_usage(body.get("usage")),
    )


def _titan_reply(body: dict) -> Reply:
    results = as_list(body.get("results")) or ()
    output_tokens = [as_count(field(result, "tokenCount")) for result in results]
    usage = Usage(
        as_count(body.get("inputTextTokenCount")),
        sum(output_tokens) if output_tokens and None not in output_tokens else None,  # type: ignore[arg-type]
    )
    first = results[0] if results else None
    return Reply(
        [text_part(field(first, "outputText"))] if first is not None else [],
        field(first, "completionReason"),
        usage,
    )


def _embedding_reply(body: dict) -> Reply:
    input_tokens = as_count(body.get("inputTextTokenCount"))
    usage = Usage(input_tokens) if input_tokens is not None else None
    return Reply(None, None, usage, body.get("id"))


def _llama_reply(body: dict) -> Reply:
    usage = Usage(
        as_count(body.get("prompt_token_count")), as_count(body.get("generation_token_count"))
    )
    return Reply([text_part(body.get("generation"))], body.get("stop_reason"), usage)


def _cohere_reply(body: dict) -> Reply:
    generations = as_list(body.get("generations")) or ()
    first = generations[0] if generations else None
    return Reply(
        [text_part(field(first, "text"))] if first is not None else [],
        field(first, "finish_reason"),
        None,
        body.get("id"),
    )


def _cohere_chat_reply(body: dict) -> Reply:
    parts = [text_part(body.get("text"))]
    for tool_call in as_list(body.get("tool_calls")) or ():
        parts.append(tool_call_part(None, field(tool_call, "name"), field(tool_call, "parameters")))
    billed = field(field(body, "meta"), "billed_units")
    usage = None
    if billed is not None:
        usage = Usage(
            as_count(field(billed, "input_tokens")), as_count(field(billed, "output_tokens"))
        )
    return Reply(parts, body.get("finish_reason"), usage, body.get("response_id"))


def _mistral_reply(body: dict) -> Reply:
    outputs = as_list(body.get("outputs")) or ()
    first = outputs[0] if outputs else None
    return Reply(
        [text_part(field(first, "text"))] if first is not None else [], field(first, "stop_reason")
    )


def _chat_completions_reply(body: dict) -> Reply:
    choices = as_list(body.get("choices")) or ()
    first = choices[0] if choices else None
    reply = field(first, "message")
    parts: list[dict[str, object]] = []
    text = field(reply, "content")
    if isinstance(text, str) and text:
        parts.append(text_part(text))
    for tool_call in as_list(field(reply, "tool_calls")) or ():
        function = field(tool_call, "function")
        parts.append(
            tool_call_part(
                field(tool_call, "id"), field(function, "name"), field(function, "arguments")
            )
        )
    usage = field(body, "usage")
    counts = None
    if usage is not None:
        counts = Usage(
            as_count(field(usage, "prompt_tokens")), as_count(field(usage, "completion_tokens"))
        )
    finish = field(first, "finish_reason") or field(first, "stop_reason")
    return Reply(parts, finish, counts, body.get("id"), body.get("model"))


_REPLIES: dict[str, Callable[[dict], Reply]] = {
    ANTHROPIC: _anthropic_reply,
    NOVA: _nova_reply,
    TITAN: _titan_reply,
    TITAN_EMBED: _embedding_reply,
    COHERE_EMBED: _embedding_reply,
    LLAMA: _llama_reply,
    COHERE: _cohere_reply,
    COHERE_CHAT: _cohere_chat_reply,
    MISTRAL: _mistral_reply,
    CHAT_COMPLETIONS: _chat_completions_reply,
    TEXT: lambda body: _REPLIES[
        LLAMA if "generation" in body else MISTRAL if "outputs" in body else COHERE
    ](body),
}


# --- streams ---------------------------------------------------------------------------------


class InvokeStreamState(StreamState):
    """Reads the stream's ``chunk`` events (``{"chunk": {"bytes": JSON}}``) in the family's
    format: the text pieces (only when content is captured), the stop reason, the usage the
    family reports, and Bedrock's own ``amazon-bedrock-invocationMetrics`` counts."""

    __slots__ = (
        "attributes",
        "family",
        "finish_reason",
        "markers",
        "metrics",
        "model",
        "nova",
        "pieces",
        "response_id",
        "started_usage",
        "usage",
    )

    def __init__(self, family: str, capture_content: bool, attributes: dict[str, object]) -> None:
        self.family = family
        self.attributes = attributes
        self.pieces: list[object] | None = [] if capture_content else None
        self.finish_reason: object = None
        self.response_id: object = None
        self.model: object = None
        self.usage: object = None  # the family's own counts
        self.started_usage: object = None  # Anthropic's message_start counts
        self.metrics: object = None
        self.nova = ConverseStreamState(capture_content, attributes) if family == NOVA else None
        self.markers: tuple[bytes, ...] | None = None if capture_content else _FIRST_CHUNK

    def on_chunk(self, chunk: object) -> None:
        # Hot path: once per chunk. Decoding a chunk's JSON costs ~20 times the rest, so with
        # content capture off only the first chunk and those holding a family marker (ids,
        # stop reasons, usage) are decoded; text deltas cost a few substring searches.
        part = chunk.get("chunk") if isinstance(chunk, dict) else None
        data = part.get("bytes") if isinstance(part, dict) else None
        if not isinstance(data, bytes):
            return
        markers = self.markers
        if markers is not None:
            for marker in markers:
                if marker in data:
                    break
            else:
                return
            if markers is _FIRST_CHUNK:
                self.markers = _MARKERS[self.family]
        event = json.loads(data)
        if not isinstance(event, dict):
            return
        metrics = event.get("amazon-bedrock-invocationMetrics")
        if metrics is not None:
            self.metrics = metrics
        _READERS[self.family](self, event)

    def add_text(self, text: object) -> None:
        if self.pieces is not None and isinstance(text, str):
            self.pieces.append(text)

    def finish(self, call: LLMCall) -> None:
        nova = self.nova
        if nova is not None:
            nova.finish(call)
            if nova.usage is None:
                call.set_response(usage=_metrics_usage(self.metrics))
            return
        usage = self.usage if isinstance(self.usage, Usage) else None
        if usage is None or usage.input is None:
            usage = _metrics_usage(self.metrics) or usage
        output = None
        if self.pieces is not None:
            parts = _stream_parts(self.pieces)
            output = [output_message("assistant", parts, self.finish_reason)]
        call.set_response(
            response_id=self.response_id,
            model=self.model,
            finish_reasons=[self.finish_reason],
            usage=usage,
            output_messages=output,
            attributes=self.attributes,
        )


_FIRST_CHUNK = (b"",)  # matches anything: the first chunk is always decoded
_METRICS = b'"amazon-bedrock-invocationMetrics"'
# What the chunks a capture-off stream needs hold (the last chunk carries Bedrock's metrics,
# and, in every family, the stop reason).
_MARKERS: dict[str, tuple[bytes, ...]] = {
    ANTHROPIC: (b'"message_', _METRICS),
    NOVA: (b'"messageStop"', b'"metadata"', _METRICS),
    CHAT_COMPLETIONS: (b'"usage"', _METRICS),
}
_MARKERS.update((family, (_METRICS,)) for family in OPERATIONS if family not in _MARKERS)


def _stream_parts(pieces: list[object]) -> list[dict[str, object]]:
    """Text pieces joined into one part; Anthropic's tool calls and thinking arrive as parts."""
    parts: list[dict[str, object]] = []
    text: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            text.append(piece)
        elif isinstance(piece, dict):
            parts.append(piece)
        elif isinstance(piece, list):  # an Anthropic tool call: id, name, JSON pieces
            call_id, name, *arguments = piece
            joined = "".join(a for a in arguments if isinstance(a, str))
            parts.append(tool_call_part(call_id, name, joined))
    if text:
        parts.insert(0, text_part("".join(text)))
    return parts


def _metrics_usage(metrics: object) -> Usage | None:
    if not isinstance(metrics, dict):
        return None
    return Usage(
        as_count(metrics.get("inputTokenCount")), as_count(metrics.get("outputTokenCount"))
    )


def _read_anthropic(state: InvokeStreamState, event: dict) -> None:
    kind = event.get("type")
    if kind == "content_block_delta":
        delta = event.get("delta")
        if state.pieces is not None and isinstance(delta, dict):
            if delta.get("type") == "text_delta":
                state.add_text(delta.get("text"))
            elif delta.get("type") == "thinking_delta":
                state.pieces.append(reasoning_part(delta.get("thinking")))
            elif delta.get("type") == "input_json_delta" and state.pieces:
                tool = state.pieces[-1]
                if isinstance(tool, list):  # the tool call its content_block_start opened
                    tool.append(delta.get("partial_json"))
    elif kind == "content_block_start":
        block = event.get("content_block")
        if state.pieces is not None and field(block, "type") == "tool_use":
            state.pieces.append([field(block, "id"), field(block, "name")])
    elif kind == "message_start":
        started = event.get("message")
        state.response_id = field(started, "id")
        state.model = field(started, "model")
        state.started_usage = field(started, "usage")
        state.usage = anthropic_usage(state.started_usage)
    elif kind == "message_delta":
        state.finish_reason = field(event.get("delta"), "stop_reason")
        final = event.get("usage")
        if isinstance(final, dict):
            merged = {**(state.started_usage or {}), **final}  # type: ignore[dict-item]
            state.usage = anthropic_usage(merged)


def _read_nova(state: InvokeStreamState, event: dict) -> None:
    nova = state.nova
    if nova is not None:
        nova.on_chunk(event)


def _read_titan(state: InvokeStreamState, event: dict) -> None:
    state.add_text(event.get("outputText"))
    reason = event.get("completionReason")
    if reason is not None:
        state.finish_reason = reason
    input_tokens = as_count(event.get("inputTextTokenCount"))
    output_tokens = as_count(event.get("totalOutputTextTokenCount"))
    if input_tokens is not None or output_tokens is not None:
        previous = state.usage if isinstance(state.usage, Usage) else Usage()
        state.usage = Usage(
            input_tokens if input_tokens is not None else previous.input,
            output_tokens if output_tokens is not None else previous.output,
        )


def _read_llama(state: InvokeStreamState, event: dict) -> None:
    state.add_text(event.get("generation"))
    reason = event.get("stop_reason")
    if reason is not None:
        state.finish_reason = reason
    input_tokens = as_count(event.get("prompt_token_count"))
    output_tokens = as_count(event.get("generation_token_count"))
    previous = state.usage if isinstance(state.usage, Usage) else Usage()
    state.usage = Usage(
        input_tokens if input_tokens is not None else previous.input,
        output_tokens if output_tokens is not None else previous.output,
    )


def _read_cohere(state: InvokeStreamState, event: dict) -> None:
    if event.get("is_finished") is True:
        state.finish_reason = event.get("finish_reason")
        return
    state.add_text(event.get("text"))


def _read_mistral(state: InvokeStreamState, event: dict) -> None:
    outputs = as_list(event.get("outputs")) or ()
    for output in outputs[:1]:
        state.add_text(field(output, "text"))
        reason = field(output, "stop_reason")
        if reason is not None:
            state.finish_reason = reason


def _read_chat_completions(state: InvokeStreamState, event: dict) -> None:
    if state.response_id is None:
        state.response_id = event.get("id")
        state.model = event.get("model")
    for choice in (as_list(event.get("choices")) or ())[:1]:
        delta = field(choice, "delta") or field(choice, "message")
        state.add_text(field(delta, "content"))
        reason = field(choice, "finish_reason") or field(choice, "stop_reason")
        if reason is not None:
            state.finish_reason = reason
    usage = event.get("usage")
    if isinstance(usage, dict):
        state.usage = Usage(
            as_count(usage.get("prompt_tokens")), as_count(usage.get("completion_tokens"))
        )


def _read_text(state: InvokeStreamState, event: dict) -> None:
    if "generation" in event:
        _read_llama(state, event)
    elif "outputs" in event:
        _read_mistral(state, event)
    else:
        _read_cohere(state, event)


def _read_nothing(state: InvokeStreamState, event: dict) -> None:
    return None


_READERS: dict[str, Callable[[InvokeStreamState, dict], None]] = {
    ANTHROPIC: _read_anthropic,
    NOVA: _read_nova,
    TITAN: _read_titan,
    TITAN_EMBED: _read_nothing,
    COHERE_EMBED: _read_nothing,
    LLAMA: _read_llama,
    COHERE: _read_cohere,
    COHERE_CHAT: _read_cohere,
    MISTRAL: _read_mistral,
    CHAT_COMPLETIONS: _read_chat_completions,
    TEXT: _read_text,
}
