"""The GenAI client metrics: ``gen_ai.client.operation.duration`` and ``gen_ai.client.token.usage``.

Instruments are created on first use, with the spec's explicit bucket boundaries as advice.
"""

from __future__ import annotations

from llmtrace_agent._version import __version__
from llmtrace_agent.toolkit import semconv

TYPE_CHECKING = False
if TYPE_CHECKING:
    from opentelemetry.metrics import Histogram

    from llmtrace_agent.toolkit.genai.call import LLMCall

_instruments: tuple[Histogram, Histogram] | None = None


def _histograms() -> tuple[Histogram, Histogram]:
    global _instruments
    if _instruments is None:
        from opentelemetry import metrics

        meter = metrics.get_meter("llmtrace_agent.toolkit.genai", __version__)
        duration = meter.create_histogram(
            semconv.GEN_AI_CLIENT_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(semconv.OPERATION_DURATION_BUCKETS),
        )
        tokens = meter.create_histogram(
            semconv.GEN_AI_CLIENT_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(semconv.TOKEN_USAGE_BUCKETS),
        )
        _instruments = (duration, tokens)
    return _instruments


def record(call: LLMCall, duration_s: float, error_type: str | None) -> None:
    """Record one finished call."""
    duration, tokens = _histograms()
    attributes: dict[str, object] = {
        semconv.GEN_AI_OPERATION_NAME: call.operation_name,
        semconv.GEN_AI_PROVIDER_NAME: call.provider,
    }
    if call.request_model:
        attributes[semconv.GEN_AI_REQUEST_MODEL] = call.request_model
    if call.response_model:
        attributes[semconv.GEN_AI_RESPONSE_MODEL] = call.response_model
    if call.server_address:
        attributes[semconv.SERVER_ADDRESS] = call.server_address
        if call.server_port:
            attributes[semconv.SERVER_PORT] = call.server_port
    if call.metric_attributes:
        attributes.update(call.metric_attributes)
    if error_type:
        duration.record(duration_s, {**attributes, semconv.ERROR_TYPE: error_type})
    else:
        duration.record(duration_s, attributes)
    usage = call.usage
    if usage is not None:
        if usage.input is not None:
            tokens.record(usage.input, {**attributes, semconv.GEN_AI_TOKEN_TYPE: "input"})
        if usage.output is not None:
            tokens.record(usage.output, {**attributes, semconv.GEN_AI_TOKEN_TYPE: "output"})
