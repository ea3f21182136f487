"""Which GenAI convention names go out: v1.41's, or the newest unreleased ones.

The GenAI conventions left the core semantic-conventions repository after v1.41, its last
release; ``semantic-conventions-genai`` has changed names since without a release. v1.41's names
are the default. ``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`` (the variable the
OpenTelemetry instrumentations read for this) switches to the newest ones, as its migration guide
lists them: ``cache_write`` for ``cache_creation``, integer ``top_k`` (``gen_ai.retrieval.top_k``
on retrieval spans), no ``finish_reason`` inside output messages, no provider, id or version on
in-process agent spans, and new metrics (``genai.metrics``, ``genai.agent_metrics``).

Every choice between the two is made here, so instrumentors call these and never check the mode.
"""

from __future__ import annotations

from llmtrace_agent._runtime import agent_state
from llmtrace_agent.toolkit import semconv

__all__ = ["cache_write_attribute", "latest", "request_top_k", "retrieval_top_k"]


def latest() -> bool:
    """True when the app opted in to the newest GenAI names."""
    return agent_state.config.genai_latest


def cache_write_attribute() -> str:
    """Input tokens written to the provider's prompt cache."""
    if agent_state.config.genai_latest:
        return semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS
    return semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS


def request_top_k(value: object) -> float | int | None:
    """``gen_ai.request.top_k`` (sampling): a double in v1.41, an int now; None if no number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if agent_state.config.genai_latest:
        return int(value)
    return float(value)


def retrieval_top_k(value: object) -> tuple[str, float | int] | None:
    """How many results a search asked for, as (attribute, value): v1.41 reuses
    ``gen_ai.request.top_k`` (a double), the newest conventions say ``gen_ai.retrieval.top_k``
    (an int). None when ``value`` is no number."""
    top_k = request_top_k(value)
    if top_k is None:
        return None
    if agent_state.config.genai_latest:
        return semconv.GEN_AI_RETRIEVAL_TOP_K, top_k
    return semconv.GEN_AI_REQUEST_TOP_K, top_k
