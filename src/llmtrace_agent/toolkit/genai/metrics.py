"""The GenAI client metrics of each model call.

v1.41 (the default): ``gen_ai.client.operation.duration`` and ``gen_ai.client.token.usage``.
With the newest conventions (``conventions.latest()``): ``gen_ai.client.inference.duration``,
per-call token histograms and token counters for inference; ``gen_ai.client.embeddings.*`` for
embeddings. Instruments are created on first use, with the spec's bucket boundaries as advice.
"""

from __future__ import annotations

from llmtrace_agent._runtime import agent_state
from llmtrace_agent._version import __version__
from llmtrace_agent.toolkit import semconv

TYPE_CHECKING = False
if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Histogram, Meter

    from llmtrace_agent.toolkit.genai.call import LLMCall

_instruments: tuple[Histogram, Histogram] | None = None


def _meter() -> Meter:
    from opentelemetry import metrics

    return metrics.get_meter("llmtrace_agent.toolkit.genai", __version__)


def _new_histogram(
    name: str, unit: str, buckets: tuple[float, ...], description: str = ""
) -> Histogram:
    """The agent's own aggregation when its meter provider is the global one (a point costs a
    tenth of the SDK's; ``_pipeline.genai_histograms``), else the SDK instrument of the app's."""
    from llmtrace_agent._pipeline.telemetry import genai_histogram

    found = genai_histogram(name, unit, description, buckets)
    if found is not None:
        return found  # type: ignore[return-value]
    return _meter().create_histogram(
        name, unit=unit, description=description, explicit_bucket_boundaries_advisory=list(buckets)
    )


def _histograms() -> tuple[Histogram, Histogram]:
    global _instruments
    if _instruments is None:
        duration = _new_histogram(
            semconv.GEN_AI_CLIENT_OPERATION_DURATION,
            "s",
            semconv.OPERATION_DURATION_BUCKETS,
            "GenAI operation duration.",
        )
        tokens = _new_histogram(
            semconv.GEN_AI_CLIENT_TOKEN_USAGE,
            "{token}",
            semconv.TOKEN_USAGE_BUCKETS,
            "Number of input and output tokens used.",
        )
        _instruments = (duration, tokens)
    return _instruments


def record(call: LLMCall, duration_s: float, error_type: str | None) -> None:
    """Record one finished call."""
    attributes = _attributes(call)
    if agent_state.config.genai_latest:
        _record_latest(call, attributes, duration_s, error_type)
        return
    duration, tokens = _histograms()
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


def _attributes(call: LLMCall) -> dict[str, object]:
    """What every metric point of the call carries."""
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
    return attributes


# --- the newest conventions (opt-in) -------------------------------------------------------------

_latest: dict[str, Histogram | Counter] = {}
_SUBSET_COUNTERS = (  # a point when the provider reported it
    ("cache_read", "cache_read.input_tokens"),
    ("cache_write", "cache_write.input_tokens"),
    ("reasoning", "reasoning.output_tokens"),
)


def _histogram(name: str, unit: str, buckets: tuple[float, ...]) -> Histogram:
    """A histogram of the newest conventions, created on first use."""
    found = _latest.get(name)
    if found is None:
        found = _latest[name] = _new_histogram(name, unit, buckets)
    return found  # type: ignore[return-value]


def _seconds(name: str) -> Histogram:
    return _histogram(name, "s", semconv.OPERATION_DURATION_BUCKETS)


def _tokens(name: str) -> Histogram:
    return _histogram(name, "{token}", semconv.TOKEN_USAGE_BUCKETS)


def _counter(suffix: str) -> Counter:
    """A ``gen_ai.client.inference.usage.*`` token counter."""
    name = semconv.GEN_AI_CLIENT_INFERENCE_USAGE + suffix
    found = _latest.get(name)
    if found is None:
        found = _latest[name] = _meter().create_counter(name, unit="{token}")
    return found  # type: ignore[return-value]


def _record_latest(
    call: LLMCall, attributes: dict[str, object], duration_s: float, error_type: str | None
) -> None:
    """The newest conventions' points: token figures for failed calls too (0 when the provider
    sent no usage), counters by ``gen_ai.token.modality`` (``unknown``: no provider we trace
    splits usage by modality in every response), no ``error.type`` on the counters."""
    failed = {**attributes, semconv.ERROR_TYPE: error_type} if error_type else attributes
    usage = call.usage
    input_tokens = usage.input if usage is not None and usage.input is not None else 0
    if call.operation_name == "embeddings":
        _seconds(semconv.GEN_AI_CLIENT_EMBEDDINGS_DURATION).record(duration_s, failed)
        _tokens(semconv.GEN_AI_CLIENT_EMBEDDINGS_INPUT_TOKENS).record(input_tokens, attributes)
        return
    output_tokens = usage.output if usage is not None and usage.output is not None else 0
    _seconds(semconv.GEN_AI_CLIENT_INFERENCE_DURATION).record(duration_s, failed)
    _tokens(semconv.GEN_AI_CLIENT_INFERENCE_INPUT_TOKENS).record(input_tokens, failed)
    _tokens(semconv.GEN_AI_CLIENT_INFERENCE_OUTPUT_TOKENS).record(output_tokens, failed)
    by_modality = {**attributes, semconv.GEN_AI_TOKEN_MODALITY: "unknown"}
    _counter("input_tokens").add(input_tokens, by_modality)
    _counter("output_tokens").add(output_tokens, by_modality)
    if usage is not None:
        for field, suffix in _SUBSET_COUNTERS:
            value = getattr(usage, field)
            if value is not None:
                _counter(suffix).add(value, by_modality)
