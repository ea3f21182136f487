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
from llmtrace_agent.toolkit.readers import as_int, as_str, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from llmtrace_agent.instrumentors.langchain._runs import Run

__all__ = ["ModelRequest", "record_untaken"]


class ModelRequest:
    """What LangChain tells of a model call when it starts."""

    __slots__ = ("model", "operation", "provider")

    def __init__(self, operation: str, provider: str | None, model: str | None) -> None:
        self.operation = operation
        self.provider = provider
        self.model = model

    @classmethod
    def of(
        cls, operation: str, metadata: Mapping[str, object], kwargs: Mapping[str, object]
    ) -> ModelRequest:
        params = kwargs.get("invocation_params")
        model = (
            metadata.get("ls_model_name") or field(params, "model") or field(params, "model_name")
        )
        return cls(operation, as_str(metadata.get("ls_provider")), as_str(model))


def record_untaken(
    tracer: trace.Tracer, run: Run, response: object, error: BaseException | None
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
    span = tracer.start_span(
        name, context, SpanKind.CLIENT, attributes, start_time=run.offer.started_ns
    )
    end_span(span, error, _response_attributes(response))


def _response_attributes(response: object) -> dict[str, object]:
    """Usage, response model and finish reasons from an ``LLMResult``."""
    found: dict[str, object] = {}
    generations = field(response, "generations")
    first = generations[0][0] if generations and generations[0] else None
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
    reasons = [
        reason
        for generation in (generations[0] if generations else [])
        if (reason := _finish_reason(generation))
    ]
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
