"""One GenAI operation: its span, from the SDK call to the last streamed chunk, ended once."""

from __future__ import annotations

import time

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmtrace_agent._runtime import agent_state
from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.genai import metrics
from llmtrace_agent.toolkit.genai.content import to_json
from llmtrace_agent.toolkit.genai.conventions import cache_write_attribute, request_top_k
from llmtrace_agent.toolkit.genai.delegation import MODEL_CALL, take
from llmtrace_agent.toolkit.genai.usage import cost_usd, preload_prices, with_prices

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from llmtrace_agent.toolkit.genai.usage import Usage


class Request:
    """What an ``LLMOperation`` tells about a call before it is made."""

    __slots__ = (
        "attributes",
        "links",
        "model",
        "provider",
        "server_address",
        "server_port",
        "stream",
    )

    def __init__(
        self,
        model: object,
        attributes: dict[str, object] | None = None,
        stream: bool = False,
        server_address: str | None = None,
        server_port: int | None = None,
        provider: str | None = None,
        links: Sequence[trace.SpanContext] | None = None,
    ) -> None:
        self.model = model if isinstance(model, str) and model else None
        self.attributes = attributes if attributes is not None else {}
        self.stream = stream
        self.server_address = server_address
        self.server_port = server_port
        self.provider = provider
        """``gen_ai.provider.name`` when only the call's arguments tell it (a router's model
        string, ``openai/gpt-4o``); None: the operation's ``provider(instance)``."""
        self.links = links
        """Spans this call continues (span links), e.g. the call whose background response a
        resumed stream reads."""


class LLMCall:
    """The span of one call plus what the response told; ``end`` records and closes it once."""

    __slots__ = (
        "capture_content",
        "ended",
        "first_chunk_at",
        "metric_attributes",
        "operation_name",
        "provider",
        "request_model",
        "response_attributes",
        "response_model",
        "server_address",
        "server_port",
        "span",
        "started_at",
        "usage",
    )

    def __init__(self, tracer: trace.Tracer, operation_name: str, provider: str, request: Request):
        # Hot path: one span per call.
        self.operation_name = operation_name
        self.provider = provider
        self.request_model = request.model
        self.server_address = request.server_address
        self.server_port = request.server_port
        self.capture_content = agent_state.config.capture_content
        self.response_model: str | None = None
        self.usage: Usage | None = None
        self.first_chunk_at: float | None = None
        self.metric_attributes: dict[str, object] | None = None
        # What the response tells, set on the span in one call when it ends (each SDK
        # set_attribute takes the span's lock and validates on its own).
        self.response_attributes: dict[str, object] = {}
        self.ended = False
        attributes = request.attributes
        offered = take(MODEL_CALL)  # a framework above this call (LangChain…): its attributes
        if offered:
            attributes = {**offered, **attributes}
        attributes[semconv.GEN_AI_OPERATION_NAME] = operation_name
        attributes[semconv.GEN_AI_PROVIDER_NAME] = provider
        if request.model:
            attributes[semconv.GEN_AI_REQUEST_MODEL] = request.model
        if request.stream:
            attributes[semconv.GEN_AI_REQUEST_STREAM] = True
        if request.server_address:
            attributes[semconv.SERVER_ADDRESS] = request.server_address
            if request.server_port:
                attributes[semconv.SERVER_PORT] = request.server_port
        if agent_state.config.genai_latest and semconv.GEN_AI_REQUEST_TOP_K in attributes:
            attributes[semconv.GEN_AI_REQUEST_TOP_K] = request_top_k(
                attributes[semconv.GEN_AI_REQUEST_TOP_K]
            )
        name = f"{operation_name} {request.model}" if request.model else operation_name
        links = [trace.Link(context) for context in request.links] if request.links else None
        self.span = tracer.start_span(
            name, kind=SpanKind.CLIENT, attributes=attributes, links=links
        )
        self.started_at = time.perf_counter()
        preload_prices()

    def set_response(
        self,
        *,
        response_id: object = None,
        model: object = None,
        finish_reasons: Sequence[object] | None = None,
        usage: Usage | None = None,
        output_messages: list[dict[str, object]] | None = None,
        attributes: dict[str, object] | None = None,
        metric_attributes: dict[str, object] | None = None,
    ) -> None:
        """Record what the response says; arguments left None are skipped.

        ``metric_attributes`` go on the span and on the call's metrics too (a provider's metric
        refinements, e.g. ``openai.response.service_tier``)."""
        recorded = self.response_attributes
        if isinstance(response_id, str) and response_id:
            recorded[semconv.GEN_AI_RESPONSE_ID] = response_id
        if isinstance(model, str) and model:
            self.response_model = model
            recorded[semconv.GEN_AI_RESPONSE_MODEL] = model
        if finish_reasons:
            reasons = [reason if isinstance(reason, str) else "error" for reason in finish_reasons]
            recorded[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
        if usage is not None:
            self.usage = usage
        if output_messages is not None and self.capture_content:
            recorded[semconv.GEN_AI_OUTPUT_MESSAGES] = to_json(output_messages)
        if attributes:
            recorded.update((k, v) for k, v in attributes.items() if v is not None)
        if metric_attributes:
            found = {k: v for k, v in metric_attributes.items() if v is not None}
            recorded.update(found)
            self.metric_attributes = {**(self.metric_attributes or {}), **found}

    def mark_first_chunk(self) -> None:
        """Called by the stream proxies on the first chunk (time to first chunk)."""
        if self.first_chunk_at is None:
            self.first_chunk_at = time.perf_counter()

    def end(self, error: BaseException | None = None, error_type: str | None = None) -> None:
        """Record usage, cost, errors and metrics, then end the span. Later calls do nothing.

        ``error_type``: the ``error.type`` when ``error`` does not tell it (a failure that
        arrived as data, e.g. an ``error`` event on a socket), or tells it wrongly."""
        if self.ended:
            return
        self.ended = True
        duration = time.perf_counter() - self.started_at
        span = self.span
        usage = self.usage
        recorded = self.response_attributes
        if usage is not None:
            _add_usage(recorded, usage)
        if self.first_chunk_at is not None:
            recorded[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = (
                self.first_chunk_at - self.started_at
            )
        if error is not None and error_type is None:
            error_type = error_type_of(error)
        if error_type is not None:
            recorded[semconv.ERROR_TYPE] = error_type
        if recorded:
            span.set_attributes(recorded)  # type: ignore[arg-type]
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:1024]))
            if isinstance(error, Exception):
                span.record_exception(error)
        elif error_type is not None:
            span.set_status(Status(StatusCode.ERROR, error_type))
        model = self.response_model or self.request_model
        if usage is not None and model:
            end_time = time.time_ns()
            with_prices(lambda: _end_with_cost(span, self.provider, model, usage, end_time))
        else:
            span.end()
        if agent_state.config.metrics_exporter != "none":
            metrics.record(self, duration, error_type)


def _end_with_cost(
    span: trace.Span, provider: str, model: str, usage: Usage, end_time: int
) -> None:
    """Add the call's cost and end its span at ``end_time`` (maybe later, in the price loader)."""
    try:
        cost = cost_usd(provider, model, usage)
        if cost is not None:
            span.set_attribute(semconv.GEN_AI_USAGE_COST, cost)
    finally:
        span.end(end_time)


def _add_usage(attributes: dict[str, object], usage: Usage) -> None:
    if usage.input is not None:
        attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] = usage.input
    if usage.output is not None:
        attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output
    if usage.cache_read is not None:
        attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cache_read
    if usage.cache_write is not None:
        attributes[cache_write_attribute()] = usage.cache_write
    if usage.reasoning is not None:
        attributes[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning


def error_type_of(error: BaseException) -> str:
    """``error.type``: the HTTP status code for API status errors, else the exception class.

    The status is the exception's ``status_code`` (Stainless SDKs, httpx) or else its ``code``
    when that is an HTTP error status (google-genai's ``APIError``, urllib's ``HTTPError``).
    A status below 400 is no error: an ``error`` event inside a streamed 200 response (Anthropic
    SDKs raise it as an ``APIStatusError`` with the stream's status) gets its class instead."""
    status = getattr(error, "status_code", None)
    if status is None:
        code = getattr(error, "code", None)
        status = code if isinstance(code, int) and code < 600 else None
    if isinstance(status, int) and not isinstance(status, bool) and status >= 400:
        return str(status)
    cls = type(error)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
