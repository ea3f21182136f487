"""google-genai's ``models`` requests in the terms of the GenAI conventions.

``GenerateContentOperation`` describes ``generateContent`` / ``streamGenerateContent`` requests
(operation ``generate_content``), ``EmbedContentOperation`` the embedding ones (``embeddings``).
The request's ``config`` (a dict or a ``GenerateContentConfig``) gives the request attributes;
the response's ``usage_metadata`` the usage (``promptTokenCount`` already includes the cached
tokens; ``candidatesTokenCount`` leaves out the thinking tokens, which the spec counts as output);
contents and parts become the spec's message parts. Imported once the SDK is.

Every read is tolerant: a missing, null or oddly typed field skips its attribute.
"""

from __future__ import annotations

import types

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
from llmtrace_agent.toolkit.readers import as_count, as_float, as_int, as_list, as_str, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from llmtrace_agent.toolkit.genai import LLMCall

GEMINI = "gcp.gemini"
VERTEX_AI = "gcp.vertex_ai"


class _ModelsOperation(LLMOperation):
    """What both request kinds share: the backend's provider and the client's server."""

    provider_name = GEMINI

    def provider(self, instance: object) -> str:
        return VERTEX_AI if getattr(_api_client(instance), "vertexai", False) else GEMINI

    def new_request(
        self,
        instance: object,
        kwargs: Mapping[str, object],
        attributes: dict[str, object],
        stream: bool = False,
    ) -> Request:
        """A ``Request`` for ``kwargs["model"]``, with the server of the client's base URL."""
        options = getattr(_api_client(instance), "_http_options", None)
        base_url = field(options, "base_url")
        address, port = server_of(base_url) if isinstance(base_url, str) else (None, None)
        return Request(model_name(kwargs.get("model")), attributes, stream, address, port)


def _api_client(instance: object) -> object:
    return getattr(instance, "_api_client", None)


def model_name(model: object) -> str | None:
    """The model id of a ``model`` argument: ``models/gemini-2.5-flash`` and Vertex AI resource
    names (``projects/…/publishers/google/models/gemini-2.5-flash``) become ``gemini-2.5-flash``,
    as the prices and the response's ``modelVersion`` name it."""
    if not isinstance(model, str) or not model:
        return None
    return model.rsplit("models/", 1)[-1] if "models/" in model else model


class GenerateContentOperation(_ModelsOperation):
    """``Models._generate_content`` (or, with ``streams``, ``_generate_content_stream``) and
    its async twin."""

    operation_name = "generate_content"

    def __init__(self, streams: bool = False) -> None:
        self.streams = streams
        # The sync stream method is a generator function: its request goes out on the first read.
        self.sends_when_iterated = streams

    def request(self, instance: object, kwargs: Mapping[str, object], capture: bool) -> Request:
        # Hot path: every request.
        attributes: dict[str, object] = {}
        config = kwargs.get("config")
        if config is not None:
            _config_attributes(config, attributes)
        if capture:
            _record_request_content(attributes, kwargs.get("contents"), config)
        return self.new_request(instance, kwargs, attributes, self.streams)

    def record_response(self, call: LLMCall, response: object) -> None:
        candidates = as_list(field(response, "candidates")) or ()
        output = None
        if call.capture_content:
            output = [_output_message(candidate) for candidate in candidates]
        call.set_response(
            response_id=field(response, "response_id"),
            model=field(response, "model_version"),
            finish_reasons=[
                _finish_reason(field(c, "finish_reason")) or "error" for c in candidates
            ],
            usage=usage_of(field(response, "usage_metadata")),
            output_messages=output,
        )

    def stream_state(self, call: LLMCall, result: object) -> StreamState | None:
        # The sync method returns a generator (the request is sent on its first read), the async
        # one sends the request, then returns an async generator of chunks.
        if isinstance(result, (types.GeneratorType, types.AsyncGeneratorType)):
            return GenerateContentStreamState(call.capture_content)
        return None


class EmbedContentOperation(_ModelsOperation):
    """``Models.embed_content`` / ``_embed_content`` and their async twins."""

    operation_name = "embeddings"

    def request(self, instance: object, kwargs: Mapping[str, object], capture: bool) -> Request:
        attributes: dict[str, object] = {}
        dimensions = as_int(field(kwargs.get("config"), "output_dimensionality"))
        if dimensions is not None:
            attributes[semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions
        return self.new_request(instance, kwargs, attributes)

    def record_response(self, call: LLMCall, response: object) -> None:
        call.set_response(usage=embedding_usage_of(response))


# --- request ---------------------------------------------------------------------------------

_SAMPLING = (
    ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", semconv.GEN_AI_REQUEST_TOP_P),
    ("top_k", semconv.GEN_AI_REQUEST_TOP_K),  # an int in the API, a double in the spec
    ("presence_penalty", semconv.GEN_AI_REQUEST_PRESENCE_PENALTY),
    ("frequency_penalty", semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY),
)
_JSON_MIME_TYPES = ("application/json", "text/x.enum")


def _config_attributes(config: object, attributes: dict[str, object]) -> None:
    """The request attributes a ``GenerateContentConfig`` (or its dict form) sets."""
    for key, name in _SAMPLING:
        value = as_float(field(config, key))
        if value is not None:
            attributes[name] = value
    max_tokens = as_count(field(config, "max_output_tokens"))
    if max_tokens is not None:
        attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    seed = as_int(field(config, "seed"))
    if seed is not None:
        attributes[semconv.GEN_AI_REQUEST_SEED] = seed
    choices = as_int(field(config, "candidate_count"))
    if choices is not None and choices != 1:
        attributes[semconv.GEN_AI_REQUEST_CHOICE_COUNT] = choices
    stop = field(config, "stop_sequences")
    if isinstance(stop, (list, tuple)) and stop and all(isinstance(s, str) for s in stop):
        attributes[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = list(stop)
    if (
        field(config, "response_mime_type") in _JSON_MIME_TYPES
        or field(config, "response_schema") is not None
        or field(config, "response_json_schema") is not None
    ):
        attributes[semconv.GEN_AI_OUTPUT_TYPE] = "json"
    level = _enum_value(field(field(config, "thinking_config"), "thinking_level"))
    if level:
        attributes[semconv.GEN_AI_REQUEST_REASONING_LEVEL] = level.lower()


def _enum_value(value: object) -> str | None:
    """The wire value of one of the SDK's string enums (or of a plain string)."""
    return as_str(getattr(value, "value", value))


def _record_request_content(
    attributes: dict[str, object], contents: object, config: object
) -> None:
    """``gen_ai.input.messages``, ``gen_ai.system_instructions`` and ``gen_ai.tool.definitions``."""
    messages = input_messages(contents)
    if messages is not None:
        attributes[semconv.GEN_AI_INPUT_MESSAGES] = to_json(messages)
    system = field(config, "system_instruction")
    if system is not None:
        attributes[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = to_json(_parts_of(system))
    tools = as_list(field(config, "tools"))
    if tools:
        definitions = [d for tool in tools for d in tool_definitions(tool)]
        attributes[semconv.GEN_AI_TOOL_DEFINITIONS] = to_json(definitions)


def input_messages(contents: object) -> list[dict[str, object]] | None:
    """``contents`` as the spec's messages: a string or parts make one user message; each
    ``Content`` (``{"role", "parts"}``) is a message of its own. Other iterables are left alone
    (reading a generator would use it up)."""
    if contents is None:
        return None
    items = contents if isinstance(contents, (list, tuple)) else (contents,)
    messages: list[dict[str, object]] = []
    pending: list[dict[str, object]] = []  # parts given outside a Content: one user message
    for item in items:
        parts = field(item, "parts") if not isinstance(item, str) else None
        if isinstance(parts, (list, tuple)):
            if pending:
                messages.append(message("user", pending))
                pending = []
            messages.append(_content_message(item, parts))
        else:
            pending.append(part_of(item))
    if pending:
        messages.append(message("user", pending))
    return messages


def _content_message(content: object, parts: list | tuple) -> dict[str, object]:
    converted = [part_of(part) for part in parts]
    role = _role(field(content, "role"))
    if role == "user" and converted and all(p["type"] == "tool_call_response" for p in converted):
        role = "tool"
    return message(role, converted)


def _role(role: object) -> object:
    """Gemini calls the assistant ``model``; the spec calls it ``assistant``."""
    if role == "model":
        return "assistant"
    return role or "user"


def _parts_of(value: object) -> list[dict[str, object]]:
    """A system instruction (a string, a part, a ``Content`` or a list of parts) as parts."""
    parts = field(value, "parts") if not isinstance(value, str) else None
    if isinstance(parts, (list, tuple)):
        return [part_of(part) for part in parts]
    if isinstance(value, (list, tuple)):
        return [part_of(part) for part in value]
    return [part_of(value)]


def part_of(part: object) -> dict[str, object]:
    """One ``Part`` (SDK model, dict, or a plain string) as a message part. Inline images and
    audio become a placeholder naming their type and size: their bytes are never recorded."""
    if isinstance(part, str):
        return text_part(part)
    text = field(part, "text")
    if isinstance(text, str):
        return reasoning_part(text) if field(part, "thought") is True else text_part(text)
    call = field(part, "function_call")
    if call is not None:
        return tool_call_part(field(call, "id"), field(call, "name"), field(call, "args"))
    result = field(part, "function_response")
    if result is not None:
        return tool_call_response_part(field(result, "id"), field(result, "response"))
    blob = field(part, "inline_data")
    if blob is not None:
        mime_type = as_str(field(blob, "mime_type"))
        return blob_part(_modality(mime_type), mime_type, field(blob, "data"))
    file = field(part, "file_data")
    if file is not None:
        mime_type = as_str(field(file, "mime_type"))
        uri: dict[str, object] = {"type": "uri", "modality": _modality(mime_type)}
        if mime_type:
            uri["mime_type"] = mime_type
        uri["uri"] = clip(field(file, "file_uri"))
        return uri
    if type(part).__module__.startswith("PIL."):  # the SDK accepts PIL images as parts
        return blob_part("image")
    for kind in ("executable_code", "code_execution_result", "video_metadata"):
        if field(part, kind) is not None:
            return {"type": kind}
    return {"type": "unknown"}


def _modality(mime_type: str | None) -> str:
    """The spec's modality of a MIME type: ``image``, ``audio``, ``video``, else ``file``."""
    kind = mime_type.split("/", 1)[0] if mime_type else ""
    return kind if kind in ("image", "audio", "video") else "file"


def tool_definitions(tool: object) -> list[dict[str, object]]:
    """The spec's tool definitions (type, name, description) of one entry of ``config.tools``:
    a ``Tool`` with function declarations, a Python function (automatic function calling), or a
    built-in tool (``google_search``, ``code_execution``…) by its type. Parameter schemas are left
    out, as the spec advises."""
    if callable(tool) and not isinstance(tool, type):
        doc = getattr(tool, "__doc__", None)
        return [_function(getattr(tool, "__name__", None), doc.strip() if doc else None)]
    declarations = as_list(field(tool, "function_declarations"))
    if declarations:
        return [_function(field(d, "name"), field(d, "description")) for d in declarations]
    if isinstance(tool, dict):
        found = tool
    elif type(tool).__module__.startswith("google.genai"):  # a ``Tool``: its set fields
        found = vars(tool)
    else:  # an MCP session or another object the SDK adapts
        return [{"type": type(tool).__name__}]
    return [{"type": kind} for kind, value in found.items() if value is not None]


def _function(name: object, description: object) -> dict[str, object]:
    definition: dict[str, object] = {"type": "function", "name": name}
    if isinstance(description, str) and description:
        definition["description"] = clip(description)
    return definition


# --- response --------------------------------------------------------------------------------


def _finish_reason(reason: object) -> str | None:
    """A candidate's finish reason as sent, lower-cased (``STOP`` -> ``stop``)."""
    value = _enum_value(reason)
    return value.lower() if value else None


def _output_message(candidate: object) -> dict[str, object]:
    content = field(candidate, "content")
    parts = as_list(field(content, "parts")) or ()
    return output_message(
        _role(field(content, "role") or "model"),
        [part_of(part) for part in parts],
        _finish_reason(field(candidate, "finish_reason")),
    )


def usage_of(metadata: object) -> Usage | None:
    """The request's ``Usage`` from ``usage_metadata``: input is the prompt (cached tokens
    included) plus the tool-use prompt; output is the candidates plus the thinking tokens."""
    if metadata is None:
        return None
    prompt = as_count(field(metadata, "prompt_token_count"))
    tool_prompt = as_count(field(metadata, "tool_use_prompt_token_count"))
    candidates = as_count(field(metadata, "candidates_token_count"))
    thoughts = as_count(field(metadata, "thoughts_token_count"))
    input_tokens = None
    if prompt is not None or tool_prompt is not None:
        input_tokens = (prompt or 0) + (tool_prompt or 0)
    output_tokens = None
    if candidates is not None or thoughts is not None:
        output_tokens = (candidates or 0) + (thoughts or 0)
    return Usage(
        input_tokens,
        output_tokens,
        cache_read=as_count(field(metadata, "cached_content_token_count")),
        reasoning=thoughts,
    )


def embedding_usage_of(response: object) -> Usage | None:
    """Input tokens of an embedding response: ``usage_metadata.prompt_token_count`` where the API
    reports it, else the sum of Vertex AI's per-embedding ``statistics.token_count``."""
    prompt = as_count(field(field(response, "usage_metadata"), "prompt_token_count"))
    if prompt is not None:
        return Usage(prompt)
    total = None
    for embedding in as_list(field(response, "embeddings")) or ():
        count = field(field(embedding, "statistics"), "token_count")
        if isinstance(count, (int, float)) and not isinstance(count, bool) and count >= 0:
            total = (total or 0) + int(count)
    return Usage(total) if total is not None else None


# --- streams ---------------------------------------------------------------------------------


class GenerateContentStreamState(StreamState):
    """A streamed ``generateContent``: every chunk is a ``GenerateContentResponse`` carrying the
    usage so far (the last one is final), the finish reason on a candidate's last chunk, and,
    when content is captured, the parts to append to each candidate's answer."""

    __slots__ = ("finish_reasons", "last", "parts", "usage")

    def __init__(self, capture_content: bool) -> None:
        self.last: object = None
        self.usage: object = None
        self.finish_reasons: dict[object, object] = {}
        self.parts: dict[object, list[object]] | None = {} if capture_content else None

    def on_chunk(self, chunk: object) -> None:
        # Hot path: once per chunk.
        self.last = chunk
        usage = chunk.usage_metadata  # type: ignore[attr-defined]
        if usage is not None:
            self.usage = usage
        candidates = chunk.candidates  # type: ignore[attr-defined]
        if candidates:
            for candidate in candidates:
                reason = candidate.finish_reason
                if reason is not None:
                    self.finish_reasons[candidate.index] = reason
                if self.parts is not None:
                    content = candidate.content
                    if content is not None and content.parts:
                        self.parts.setdefault(candidate.index, []).extend(content.parts)

    def finish(self, call: LLMCall) -> None:
        last = self.last
        reasons = [_finish_reason(reason) for reason in self.finish_reasons.values()]
        output = None
        if self.parts is not None:
            output = [
                output_message(
                    "assistant",
                    _merged_parts(parts),
                    _finish_reason(self.finish_reasons.get(index)),
                )
                for index, parts in self.parts.items()
            ]
        call.set_response(
            response_id=field(last, "response_id"),
            model=field(last, "model_version"),
            # A stream that ended before a finish reason reports "error" (set_response does).
            finish_reasons=reasons or [None],
            usage=usage_of(self.usage),
            output_messages=output,
        )


def _merged_parts(parts: list[object]) -> list[dict[str, object]]:
    """The streamed parts of one candidate as message parts, consecutive text pieces (and thought
    pieces) joined before clipping."""
    merged: list[dict[str, object]] = []
    texts: list[str] = []
    thought = False
    for part in parts:
        text = field(part, "text")
        if isinstance(text, str):
            is_thought = field(part, "thought") is True
            if texts and is_thought != thought:
                merged.append(_joined(texts, thought))
                texts = []
            texts.append(text)
            thought = is_thought
            continue
        if texts:
            merged.append(_joined(texts, thought))
            texts = []
        merged.append(part_of(part))
    if texts:
        merged.append(_joined(texts, thought))
    return merged


def _joined(texts: list[str], thought: bool) -> dict[str, object]:
    text = "".join(texts)
    return reasoning_part(text) if thought else text_part(text)
