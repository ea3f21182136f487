"""Attribute names: the OpenTelemetry semantic-convention constants we use, plus our own few.

Import names from here, never write them as string literals elsewhere. Stable names come from
``opentelemetry.semconv.attributes``; the GenAI ones are still incubating upstream, so they come
from ``opentelemetry.semconv._incubating`` (the package's documented home for them). Names the
conventions do not define yet are declared at the bottom, each with the reason for its choice.
"""

from __future__ import annotations

# --- Not (yet) in the OpenTelemetry conventions ------------------------------------------------

GEN_AI_USAGE_COST = "gen_ai.usage.cost"
"""Cost of the call in USD (float). The conventions define none; this is the name Langfuse
reads for cost, so the number shows up there without mapping."""

__all__ = [name for name in dir() if name.isupper()]
