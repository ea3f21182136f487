"""The model span LangChain makes itself, only for a call no provider instrumentor took.

A provider we trace (openai, anthropic… underneath langchain-openai, langchain-anthropic…) takes
the call's offer and its span is the one: it has the real request's usage, response id and cost.
A chat model we do not trace (a local or fake model, a provider without an instrumentor) leaves
the offer untaken; then this ``chat {model}`` CLIENT span is made from what LangChain reported,
from the time the call was offered to its end.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.genai.agent_spans import end_span
from llmtrace_agent.toolkit.genai.content import (
    blob_part,
    message,
    output_message,
    text_part,
    to_json,
    tool_call_part,
    tool_call_response_part,
)
from llmtrace_agent.toolkit.readers import as_int, as_str, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from llmtrace_agent.instrumentors.langchain._runs import Run

__all__ = ["ModelRequest", "record_untaken"]


class ModelRequest:
    """What LangChain tells of a model call when it starts."""

    __slots__ = ("input_messages", "model", "operation", "provider")

    def __init__(self, operation: str, provider: str | None, model: str | None) -> None:
        self.operation = operation
        self.provider = provider
        self.model = model
        self.input_messages: str | None = None
        """``gen_ai.input.messages`` (JSON), read at the start with content capture on."""

    @classmethod
    def of(
        cls,
        operation: str,
        metadata: Mapping[str, object],
        kwargs: Mapping[str, object],
        inputs: object,
        capture_content: bool,
    ) -> ModelRequest:
        """``inputs``: the chat model's ``messages`` (one list per prompt) or the LLM's prompts."""
        params = kwargs.get("invocation_params")
        model = (
            metadata.get("ls_model_name") or field(params, "model") or field(params, "model_name")
        )
        request = cls(operation, as_str(metadata.get("ls_provider")), as_str(model))
        if capture_content and isinstance(inputs, list) and inputs:
            first = inputs[0]  # a batch's calls each have their run; the first prompt is this one
            found = [_message(m) for m in first] if isinstance(first, list) else [_prompt(first)]
            request.input_messages = to_json(found)
        return request


def record_untaken(
    tracer: trace.Tracer,
    run: Run,
    response: object,
    error: BaseException | None,
    capture_content: bool,
) -> None:
    """The span of a model call nobody else traced, from its offer to now."""
    request = run.request
    if request is None or run.offer is None:
        return
    attributes: dict[str, object] = {
        semconv.GEN_AI_OPERATION_NAME: request.operation,
        semconv.GEN_AI_PROVIDER_NAME: request.provider or "langchain",
        **run.offer.attributes,
    }
    if request.model:
        attributes[semconv.GEN_AI_REQUEST_MODEL] = request.model
    name = f"{request.operation} {request.model}" if request.model else request.operation
    context = trace.set_span_in_context(run.scope) if run.scope is not None else None
    if request.input_messages is not None:
        attributes[semconv.GEN_AI_INPUT_MESSAGES] = request.input_messages
    span = tracer.start_span(
        name, context, SpanKind.CLIENT, attributes, start_time=run.offer.started_ns
    )
    found = _response_attributes(response)
    if capture_content:
        outputs = [_output(generation) for generation in _generations(response)]
        if outputs:
            found[semconv.GEN_AI_OUTPUT_MESSAGES] = to_json(outputs)
    end_span(span, error, found)


def _response_attributes(response: object) -> dict[str, object]:
    """Usage, response model and finish reasons from an ``LLMResult``."""
    found: dict[str, object] = {}
    generations = _generations(response)
    first = generations[0] if generations else None
    message = field(first, "message")
    usage = field(message, "usage_metadata")
    llm_output = field(response, "llm_output") or {}
    token_usage = field(llm_output, "token_usage") or field(llm_output, "usage")
    input_tokens = as_int(field(usage, "input_tokens"))
    if input_tokens is None:
        input_tokens = as_int(field(token_usage, "prompt_tokens"))
    output_tokens = as_int(field(usage, "output_tokens"))
    if output_tokens is None:
        output_tokens = as_int(field(token_usage, "completion_tokens"))
    if input_tokens is not None:
        found[semconv.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
    if output_tokens is not None:
        found[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
    metadata = field(message, "response_metadata") or {}
    model = as_str(field(metadata, "model_name")) or as_str(field(llm_output, "model_name"))
    if model:
        found[semconv.GEN_AI_RESPONSE_MODEL] = model
    reasons = [reason for generation in generations if (reason := _finish_reason(generation))]
    if reasons:
        found[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
    return found


def _finish_reason(generation: object) -> str | None:
    info = field(generation, "generation_info") or {}
    reason = as_str(field(info, "finish_reason"))
    if reason:
        return reason
    message = field(generation, "message")
    return as_str(field(field(message, "response_metadata") or {}, "finish_reason"))


def _generations(response: object) -> list[object]:
    """The generations of this call (an ``LLMResult`` holds one list per prompt)."""
    generations = field(response, "generations")
    first = generations[0] if isinstance(generations, list) and generations else None
    return first if isinstance(first, list) else []


# --- content (only with capture on): LangChain messages in the GenAI message schema -------------

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}
_MEDIA = {"image": "image", "image_url": "image", "audio": "audio", "input_audio": "audio"}


def _message(found: object) -> dict[str, object]:
    """A LangChain message (``HumanMessage``, ``AIMessage``, ``ToolMessage``…)."""
    kind = as_str(field(found, "type")) or "user"
    role = _ROLES.get(kind, kind)
    if kind == "tool":
        parts = [tool_call_response_part(field(found, "tool_call_id"), _text(found))]
    else:
        parts = _parts(field(found, "content"))
    for call in field(found, "tool_calls") or ():
        parts.append(tool_call_part(field(call, "id"), field(call, "name"), field(call, "args")))
    return message(role, parts, as_str(field(found, "name")))


def _prompt(prompt: object) -> dict[str, object]:
    """A legacy LLM's prompt string."""
    return message("user", [text_part(prompt)])


def _output(generation: object) -> dict[str, object]:
    """A generation as an output message."""
    found = field(generation, "message")
    if found is None:
        return output_message("assistant", [text_part(field(generation, "text"))], "stop")
    converted = _message(found)
    parts: list[dict[str, object]] = converted["parts"]  # type: ignore[assignment]
    return output_message("assistant", parts, _finish_reason(generation) or "stop")


def _parts(content: object) -> list[dict[str, object]]:
    """A message's content: a string, or a list of content blocks."""
    if isinstance(content, str):
        return [text_part(content)] if content else []
    parts: list[dict[str, object]] = []
    for block in content if isinstance(content, list) else ():
        if isinstance(block, str):
            parts.append(text_part(block))
            continue
        kind = as_str(field(block, "type")) or ""
        if kind == "text":
            parts.append(text_part(field(block, "text")))
        elif kind in _MEDIA:
            data = field(block, "data") or field(block, "base64") or field(block, "image_url")
            parts.append(blob_part(_MEDIA[kind], field(block, "mime_type"), _media_data(data)))
        else:
            parts.append({"type": kind or "unknown"})  # tool blocks, files…: their type only
    return parts


def _media_data(data: object) -> object:
    """Inline media's base64 text (a ``data:`` URL's payload), for its size; never kept."""
    url = field(data, "url") if not isinstance(data, str) else data
    if isinstance(url, str) and url.startswith("data:"):
        return url.partition(",")[2]
    return url if isinstance(url, str) else None


def _text(found: object) -> str:
    content = field(found, "content")
    if isinstance(content, str):
        return content
    return " ".join(str(part.get("text", "")) for part in _parts(content) if "text" in part)
