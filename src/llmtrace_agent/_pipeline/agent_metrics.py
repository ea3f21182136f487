"""The newest GenAI conventions' agent, workflow and tool metrics, read off the spans.

``gen_ai.invoke_agent.duration``, ``gen_ai.invoke_workflow.duration``,
``gen_ai.execute_tool.duration``, and per agent run the number of model calls and tool calls it
made itself (``gen_ai.invoke_agent.inference_calls`` / ``.tool_calls``, 0 included; a sub-agent's
calls count on the sub-agent). Counting needs the tree (a call's nearest enclosing agent), and
agent spans come from every framework instrumentor and from SDKs that trace themselves, so one
span processor derives them all. It also gives ``execute_tool`` spans their agent's name and
conversation id, which the newest conventions add there. Installed only with
``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental``.

Only recorded (sampled) spans reach a processor: a sampled-out agent run has no metric point.
"""

from __future__ import annotations

from opentelemetry.sdk.trace import SpanProcessor

from llmtrace_agent._version import __version__
from llmtrace_agent.toolkit import guard, semconv

TYPE_CHECKING = False
if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import Histogram, Meter
    from opentelemetry.sdk.trace import ReadableSpan, Span

_INFERENCE = frozenset(("chat", "generate_content", "text_completion"))
_OPERATION = semconv.GEN_AI_OPERATION_NAME


class _AgentRun:
    """What one open ``invoke_agent`` span has done so far."""

    __slots__ = ("conversation_id", "inference_calls", "name", "tool_calls")

    def __init__(self, name: object, conversation_id: object) -> None:
        self.name = name
        self.conversation_id = conversation_id
        self.inference_calls = 0
        self.tool_calls = 0


class AgentMetricsProcessor(SpanProcessor):
    """Derives the agent, workflow and tool metrics from the spans as they start and end."""

    def __init__(self, record_metrics: bool = True) -> None:
        self._record_metrics = record_metrics
        # Open span id -> its nearest enclosing agent run (spans outside any agent: absent).
        self._runs: dict[int, _AgentRun] = {}
        self._histograms: dict[str, Histogram] = {}

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            attributes = span.attributes or {}
            span_id = span.context.span_id
            if attributes.get(_OPERATION) == "invoke_agent":
                self._runs[span_id] = _AgentRun(
                    attributes.get(semconv.GEN_AI_AGENT_NAME),
                    attributes.get(semconv.GEN_AI_CONVERSATION_ID),
                )
                return
            parent = span.parent
            run = self._runs.get(parent.span_id) if parent is not None else None
            if run is None:
                return
            self._runs[span_id] = run
            if attributes.get(_OPERATION) == "execute_tool":
                if run.name and semconv.GEN_AI_AGENT_NAME not in attributes:
                    span.set_attribute(semconv.GEN_AI_AGENT_NAME, run.name)  # type: ignore[arg-type]
                if run.conversation_id and semconv.GEN_AI_CONVERSATION_ID not in attributes:
                    span.set_attribute(semconv.GEN_AI_CONVERSATION_ID, run.conversation_id)  # type: ignore[arg-type]
        except Exception as exc:
            guard.handle(exc)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            run = self._runs.pop(span.context.span_id, None)  # type: ignore[union-attr]
            attributes = span.attributes or {}
            operation = attributes.get(_OPERATION)
            if operation is None or not self._record_metrics:
                return
            if operation in _INFERENCE:
                if run is not None:
                    run.inference_calls += 1
            elif operation == "execute_tool":
                if run is not None:
                    run.tool_calls += 1
                self._record_duration(span, semconv.GEN_AI_EXECUTE_TOOL_DURATION, _TOOL_KEYS)
            elif operation == "invoke_agent":
                point = self._record_duration(
                    span, semconv.GEN_AI_INVOKE_AGENT_DURATION, _AGENT_KEYS
                )
                if run is not None:
                    name = {k: v for k, v in point.items() if k == semconv.GEN_AI_AGENT_NAME}
                    self._histogram(semconv.GEN_AI_INVOKE_AGENT_INFERENCE_CALLS).record(
                        run.inference_calls, name
                    )
                    self._histogram(semconv.GEN_AI_INVOKE_AGENT_TOOL_CALLS).record(
                        run.tool_calls, name
                    )
            elif operation == "invoke_workflow":
                self._record_duration(span, semconv.GEN_AI_INVOKE_WORKFLOW_DURATION, _WORKFLOW_KEYS)
        except Exception as exc:
            guard.handle(exc)

    def _record_duration(
        self, span: ReadableSpan, metric: str, keys: tuple[str, ...]
    ) -> dict[str, object]:
        attributes = span.attributes or {}
        point = {key: attributes[key] for key in keys if key in attributes}
        if span.end_time is not None and span.start_time is not None:
            seconds = (span.end_time - span.start_time) / 1e9
            self._histogram(metric).record(seconds, point)  # type: ignore[arg-type]
        return point

    def _histogram(self, metric: str) -> Histogram:
        found = self._histograms.get(metric)
        if found is None:
            unit, buckets = _INSTRUMENTS[metric]
            found = self._histograms[metric] = _meter().create_histogram(
                metric, unit=unit, explicit_bucket_boundaries_advisory=list(buckets)
            )
        return found


_INSTRUMENTS: dict[str, tuple[str, tuple[float, ...]]] = {
    semconv.GEN_AI_INVOKE_AGENT_DURATION: ("s", semconv.INVOCATION_DURATION_BUCKETS),
    semconv.GEN_AI_INVOKE_WORKFLOW_DURATION: ("s", semconv.WORKFLOW_DURATION_BUCKETS),
    semconv.GEN_AI_EXECUTE_TOOL_DURATION: ("s", semconv.OPERATION_DURATION_BUCKETS),
    semconv.GEN_AI_INVOKE_AGENT_INFERENCE_CALLS: ("{inference_call}", semconv.CALL_COUNT_BUCKETS),
    semconv.GEN_AI_INVOKE_AGENT_TOOL_CALLS: ("{tool_call}", semconv.CALL_COUNT_BUCKETS),
}
_AGENT_KEYS = (semconv.GEN_AI_AGENT_NAME, semconv.GEN_AI_REQUEST_MODEL, semconv.ERROR_TYPE)
_WORKFLOW_KEYS = (semconv.GEN_AI_WORKFLOW_NAME, semconv.ERROR_TYPE)
_TOOL_KEYS = (
    semconv.GEN_AI_TOOL_NAME,
    semconv.GEN_AI_TOOL_TYPE,
    semconv.GEN_AI_AGENT_NAME,
    semconv.ERROR_TYPE,
)


def _meter() -> Meter:
    from opentelemetry import metrics

    return metrics.get_meter("llmtrace_agent.agents", __version__)
