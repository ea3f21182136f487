"""The span processor that stamps ``attributes(...)`` labels on every span as it starts.

A module of its own so that ``llmtrace_agent.attributes`` never imports the OpenTelemetry SDK;
only the agent's tracer provider (``telemetry``) loads this one.
"""

from __future__ import annotations

from opentelemetry.sdk.trace import SpanProcessor

from llmtrace_agent._app.context_attributes import current
from llmtrace_agent.toolkit import guard

TYPE_CHECKING = False
if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import Span


class ContextAttributesProcessor(SpanProcessor):
    """Copies the labels of the enclosing ``attributes`` block onto each span started."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        # Hot path: every span. Outside any block this is one ContextVar lookup.
        labels = current.get()
        if labels is not None:
            try:
                span.set_attributes(labels.span_attributes)
            except Exception as exc:
                guard.handle(exc)
