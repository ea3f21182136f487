"""Where the Agents SDK's tracing is wrapped, and what each of its traces and spans becomes.

The SDK marks a span current (``start(mark_as_current=True)``) and resets it
(``finish(reset_current=True)``) in the same context, around the code the span covers: the
agent's turns, the tool's function, the model request. Our span is attached and detached at
exactly those two points, so whatever runs inside (the openai SDK's request, an HTTP call in a
tool, another instrumented library) nests under it, in sync, async and streamed runs alike.

What each SDK step becomes (GenAI conventions v1.41, ``gen-ai-agent-spans.md``):

- trace (a ``Runner`` run, or the app's ``trace()``) -> ``invoke_workflow {trace name}``, with
  ``gen_ai.conversation.id`` from the trace's ``group_id`` when the app set one;
- agent -> ``invoke_agent {agent}``;
- function (a function or MCP tool) -> ``execute_tool {tool}``; arguments and result only with
  content capture on; an exception in the tool -> status ERROR and ``error.type``;
- handoff -> ``handoff {from} -> {to}`` and guardrail -> ``guardrail {name}``, INTERNAL (the
  conventions name neither), custom -> a span named as the app named it;
- generation / response (the model request) -> no span of ours: an offer the provider
  instrumentor's span takes (``gen_ai.agent.name``), or, when none does (a model client we do not
  instrument), a ``chat {model}`` span made from what the SDK recorded;
- task, turn, MCP tool listing, voice -> no span; their children nest under the nearest span.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import json
import sys

from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.context_flags import telemetry_upload
from llmtrace_agent.toolkit.genai.agent_spans import (
    content_json,
    current_tool_span,
    end_span,
    record_tool_result,
    start_agent_span,
    start_tool_span,
    start_workflow_span,
)
from llmtrace_agent.toolkit.genai.conventions import latest
from llmtrace_agent.toolkit.genai.delegation import MODEL_CALL, offer
from llmtrace_agent.toolkit.guard import internal_errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from llmtrace_agent.instrumentors.openai_agents import OpenAIAgentsInstrumentor
    from llmtrace_agent.toolkit.genai.delegation import Offer

_INTERNAL = SpanKind.INTERNAL
_MODEL_STEPS = frozenset(("generation", "response"))


class Step:
    """What one SDK trace or span became while it is open."""

    __slots__ = (
        "agent",
        "agent_span",
        "anchor",
        "conversation",
        "exception",
        "offer",
        "offer_manager",
        "span",
        "token",
    )

    def __init__(
        self,
        span: trace.Span | None,
        anchor: trace.Span | None,
        agent: str | None,
        conversation: str | None,
    ) -> None:
        self.span = span
        """Our span for it, or None for a step that makes none (a model request, a turn)."""
        self.anchor = anchor
        """The span its children nest under: its own, else its parent's anchor."""
        self.agent = agent
        """The name of the agent it runs in."""
        self.agent_span: trace.Span | None = None
        """Our span of that agent."""
        self.conversation = conversation
        self.exception: BaseException | None = None
        """The exception in flight when the SDK recorded an error on it (a tool raising)."""
        self.offer: Offer | None = None
        self.offer_manager: AbstractContextManager[Offer] | None = None
        self.token: object = None


# SDK trace id or span id -> its open step. Entries leave when the SDK finishes the step.
_open: dict[str, Step] = {}


def install(instrumentor: OpenAIAgentsInstrumentor) -> None:
    """Wrap the SDK's trace and span implementations and its exporter to OpenAI."""
    spans = importlib.import_module("agents.tracing.spans")
    traces = importlib.import_module("agents.tracing.traces")
    processors = importlib.import_module("agents.tracing.processors")
    tracer = instrumentor.tracer
    if not (
        instrumentor.wrap(traces, "TraceImpl.start", _trace_start(tracer))
        and instrumentor.wrap(spans, "SpanImpl.start", _span_start(tracer))
    ):
        raise RuntimeError("agents.tracing has no TraceImpl.start / SpanImpl.start to wrap")
    instrumentor.wrap(traces, "TraceImpl.finish", _trace_finish)
    instrumentor.wrap(spans, "SpanImpl.finish", _span_finish(instrumentor))
    instrumentor.wrap(spans, "SpanImpl.set_error", _span_set_error)
    # The function span knows no call id; the ToolContext the SDK makes inside it does.
    tool_context = importlib.import_module("agents.tool_context")
    instrumentor.wrap(tool_context, "ToolContext.from_agent_context", _tool_context_made)
    # The batch processor calls _export_with_deadline (newer SDKs) or export; wrapping export
    # itself would defeat its check that export is the class's own.
    exporter = processors.BackendSpanExporter
    upload = "_export_with_deadline" if hasattr(exporter, "_export_with_deadline") else "export"
    instrumentor.wrap(processors, f"BackendSpanExporter.{upload}", _upload(instrumentor))


# --- wrappers --------------------------------------------------------------------------------


def _trace_start(tracer: trace.Tracer) -> Callable[..., object]:
    def wrapper(
        wrapped: Callable[..., object], instance: object, args: tuple, kwargs: dict
    ) -> object:
        step = None
        with internal_errors:
            step = _open_trace(tracer, instance)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException:
            if step is not None:
                _discard(step, getattr(instance, "trace_id", ""))
            raise
        if step is not None and _flag(args, kwargs, "mark_as_current"):
            with internal_errors:
                _enter(step)
        return result

    return wrapper


def _trace_finish(
    wrapped: Callable[..., object], instance: object, args: tuple, kwargs: dict
) -> object:
    with internal_errors:
        step = _open.pop(getattr(instance, "trace_id", ""), None)
        if step is not None:
            _exit(step)
            if step.span is not None:
                end_span(step.span, _raised())
    return wrapped(*args, **kwargs)


def _span_start(tracer: trace.Tracer) -> Callable[..., object]:
    def wrapper(
        wrapped: Callable[..., object], instance: object, args: tuple, kwargs: dict
    ) -> object:
        step = None
        if getattr(instance, "started_at", None) is None:  # else the SDK warns and returns
            with internal_errors:
                step = _open_span(tracer, instance)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException:
            if step is not None:
                _discard(step, getattr(instance, "span_id", ""))
            raise
        if step is not None and _flag(args, kwargs, "mark_as_current"):
            with internal_errors:
                _enter(step)
        return result

    return wrapper


def _span_finish(instrumentor: OpenAIAgentsInstrumentor) -> Callable[..., object]:
    tracer = instrumentor.tracer

    def wrapper(
        wrapped: Callable[..., object], instance: object, args: tuple, kwargs: dict
    ) -> object:
        with internal_errors:
            step = _open.pop(getattr(instance, "span_id", ""), None)
            if step is not None:
                _exit(step)
                _close_span(tracer, step, instance, instrumentor.config.capture_content)
        return wrapped(*args, **kwargs)

    return wrapper


def _span_set_error(
    wrapped: Callable[..., object], instance: object, args: tuple, kwargs: dict
) -> object:
    """The SDK records an error from inside its ``except`` block (a tool raising): keep the
    exception, for ``error.type`` and the exception event."""
    with internal_errors:
        step = _open.get(getattr(instance, "span_id", ""))
        if step is not None:
            step.exception = sys.exc_info()[1]
    return wrapped(*args, **kwargs)


def _tool_context_made(
    wrapped: Callable[..., object], instance: object, args: tuple, kwargs: dict
) -> object:
    """``gen_ai.tool.call.id`` on the tool span open around it (the SDK's function span)."""
    result = wrapped(*args, **kwargs)
    with internal_errors:
        call_id = args[1] if len(args) > 1 else kwargs.get("tool_call_id")
        span = current_tool_span()
        if span is not None and isinstance(call_id, str) and call_id:
            span.set_attribute(semconv.GEN_AI_TOOL_CALL_ID, call_id)
    return result


def _upload(instrumentor: OpenAIAgentsInstrumentor) -> Callable[..., object]:
    """The SDK's upload of its traces to OpenAI: sent as telemetry (no HTTP span of the app's),
    or dropped with ``LLMTRACE_OPENAI_AGENTS_EXPORT=false``."""

    def wrapper(
        wrapped: Callable[..., object], instance: object, args: tuple, kwargs: dict
    ) -> object:
        if not instrumentor.config.openai_agents_export:
            return None
        with telemetry_upload():
            return wrapped(*args, **kwargs)

    return wrapper


def _discard(step: Step, key: str) -> None:
    """The SDK failed to start the step: it will not finish it either."""
    with internal_errors:
        _open.pop(key, None)
        if step.span is not None:
            step.span.end()


def _raised() -> Exception | None:
    """The exception propagating through the SDK's ``finish`` call (the run's ``with`` block or
    ``finally`` it leaves by): what failed the run. A cancellation is no failure."""
    raised = sys.exc_info()[1]
    return raised if isinstance(raised, Exception) else None


def _flag(args: tuple, kwargs: dict, name: str) -> bool:
    """``start(mark_as_current)`` / ``finish(reset_current)``, passed either way."""
    return bool(args[0] if args else kwargs.get(name, False))


# --- steps -------------------------------------------------------------------------------------


def _open_trace(tracer: trace.Tracer, sdk_trace: object) -> Step | None:
    trace_id = getattr(sdk_trace, "trace_id", None)
    if not trace_id or trace_id in _open:  # started already: the SDK does nothing
        return None
    group_id = getattr(sdk_trace, "group_id", None)
    conversation = group_id if isinstance(group_id, str) and group_id else None
    span = start_workflow_span(
        tracer,
        getattr(sdk_trace, "name", None),
        attributes={semconv.GEN_AI_CONVERSATION_ID: conversation},
    )
    step = _open[trace_id] = Step(span, span, None, conversation)
    return step


def _open_span(tracer: trace.Tracer, sdk_span: object) -> Step:
    span_id: str = sdk_span.span_id  # type: ignore[attr-defined]
    parent = _open.get(sdk_span.parent_id or sdk_span.trace_id)  # type: ignore[attr-defined]
    anchor = parent.anchor if parent is not None else None
    agent = parent.agent if parent is not None else None
    agent_span = parent.agent_span if parent is not None else None
    conversation = parent.conversation if parent is not None else None
    parent_context = trace.set_span_in_context(anchor) if anchor is not None else None
    data = sdk_span.span_data  # type: ignore[attr-defined]
    kind = data.type
    span: trace.Span | None = None
    if kind == "agent":
        agent = data.name
        span = agent_span = start_agent_span(
            tracer, agent, conversation_id=conversation, context=parent_context
        )
    elif kind == "function":
        span = start_tool_span(tracer, data.name, context=parent_context)
    elif kind == "handoff":
        span = tracer.start_span(_handoff_name(data), parent_context, _INTERNAL)
    elif kind == "guardrail":
        attributes = {semconv.OPENAI_AGENTS_GUARDRAIL_NAME: data.name}
        span = tracer.start_span(f"guardrail {data.name}", parent_context, _INTERNAL, attributes)
    elif kind == "custom":
        span = tracer.start_span(data.name or "custom", parent_context, _INTERNAL)
    step = _open[span_id] = Step(span, span or anchor, agent, conversation)
    step.agent_span = agent_span
    if kind in _MODEL_STEPS:
        provider = _provider(data)
        if provider is not None and agent_span is not None and not latest():
            agent_span.set_attribute(semconv.GEN_AI_PROVIDER_NAME, provider)  # v1.41 only
        step.offer_manager = offer(
            MODEL_CALL,
            {
                semconv.GEN_AI_AGENT_NAME: agent,
                semconv.GEN_AI_CONVERSATION_ID: conversation,
            },
        )
    return step


def _enter(step: Step) -> None:
    """The SDK made the step current: make its span current, and offer its model request."""
    if step.span is not None:
        step.token = context.attach(trace.set_span_in_context(step.span))
    if step.offer_manager is not None:
        step.offer = step.offer_manager.__enter__()


def _exit(step: Step) -> None:
    """Undo ``_enter``. A step finished from another context (an abandoned async generator
    finalized by another task, where the SDK skips its own reset too) leaves that context as
    it is, quietly: nothing of ours is attached there."""
    if step.offer is not None and step.offer_manager is not None:
        with contextlib.suppress(ValueError, RuntimeError):  # its ContextVar token's context
            step.offer_manager.__exit__(None, None, None)
    token, step.token = step.token, None
    if token is None:
        return
    if isinstance(token, contextvars.Token):  # the default, contextvars runtime context
        with contextlib.suppress(ValueError, RuntimeError):
            token.var.reset(token)
    else:
        context.detach(token)  # type: ignore[arg-type]


def _close_span(tracer: trace.Tracer, step: Step, sdk_span: object, capture: bool) -> None:
    """End our span with what the SDK recorded on its span by now."""
    data = sdk_span.span_data  # type: ignore[attr-defined]
    span = step.span
    if span is None:
        if step.offer is not None and not step.offer.taken:
            _model_span(tracer, step, data)
        return
    kind = data.type
    if kind == "function" and capture:
        _record_tool_call(span, data)
    elif kind == "handoff":
        span.update_name(_handoff_name(data))
        span.set_attributes(
            {
                key: value
                for key, value in (
                    (semconv.OPENAI_AGENTS_HANDOFF_FROM_AGENT, data.from_agent),
                    (semconv.OPENAI_AGENTS_HANDOFF_TO_AGENT, data.to_agent),
                )
                if value
            }
        )
    elif kind == "guardrail":
        span.set_attribute(semconv.OPENAI_AGENTS_GUARDRAIL_TRIGGERED, bool(data.triggered))
    error = getattr(sdk_span, "error", None)
    exception = (step.exception or _raised()) if error else None
    if exception is not None:
        end_span(span, exception)
    elif error:
        span.set_attribute(semconv.ERROR_TYPE, "_OTHER")
        span.set_status(Status(StatusCode.ERROR, str(error.get("message") or "")[:1024]))
        span.end()
    else:
        span.end()


def _record_tool_call(span: trace.Span, data: object) -> None:
    """Arguments (a JSON string from the model, kept valid JSON when clipped) and result: content,
    recorded with content capture on only."""
    arguments = getattr(data, "input", None)
    if isinstance(arguments, str) and arguments:
        try:
            parsed = json.loads(arguments)
        except ValueError:
            parsed = arguments
        span.set_attribute(semconv.GEN_AI_TOOL_CALL_ARGUMENTS, content_json(parsed))
    record_tool_result(span, getattr(data, "output", None))


def _provider(data: object) -> str | None:
    """The provider of a model step, as far as the SDK says: its Responses API model is OpenAI's;
    a Chat Completions (generation) model's is known from its base URL when that is OpenAI's."""
    if data.type == "response":  # type: ignore[attr-defined]
        return "openai"
    model_config = getattr(data, "model_config", None)
    base_url = str(model_config.get("base_url") or "") if isinstance(model_config, dict) else ""
    if "api.openai.com" in base_url:
        return "openai"
    if ".openai.azure.com" in base_url:
        return "azure.ai.openai"
    return None


def _handoff_name(data: object) -> str:
    source = getattr(data, "from_agent", None) or "?"
    target = getattr(data, "to_agent", None)
    return f"handoff {source} -> {target}" if target else f"handoff {source}"


def _model_span(tracer: trace.Tracer, step: Step, data: object) -> None:
    """A model request no provider instrumentor traced (a model client we do not instrument):
    ``chat {model}`` from what the SDK recorded, with its usage."""
    offered = step.offer
    response = getattr(data, "response", None)  # a response step: the Responses API's object
    provider = _provider(data)
    if response is not None:
        model = getattr(response, "model", None)
        usage = getattr(response, "usage", None)
        input_tokens = getattr(usage, "input_tokens", None)
        output_tokens = getattr(usage, "output_tokens", None)
        response_id = getattr(response, "id", None)
    else:  # a generation step: the model's name and a usage dict
        model = getattr(data, "model", None)
        usage = getattr(data, "usage", None) or {}
        input_tokens = usage.get("input_tokens") if isinstance(usage, dict) else None
        output_tokens = usage.get("output_tokens") if isinstance(usage, dict) else None
        response_id = None
    attributes = {
        key: value
        for key, value in (
            (semconv.GEN_AI_OPERATION_NAME, "chat"),
            (semconv.GEN_AI_PROVIDER_NAME, provider),
            (semconv.GEN_AI_REQUEST_MODEL, model),
            (semconv.GEN_AI_RESPONSE_MODEL, model if response is not None else None),
            (semconv.GEN_AI_RESPONSE_ID, response_id),
            (semconv.GEN_AI_USAGE_INPUT_TOKENS, input_tokens),
            (semconv.GEN_AI_USAGE_OUTPUT_TOKENS, output_tokens),
            (semconv.GEN_AI_AGENT_NAME, step.agent),
            (semconv.GEN_AI_CONVERSATION_ID, step.conversation),
        )
        if value is not None
    }
    parent_context = trace.set_span_in_context(step.anchor) if step.anchor is not None else None
    span = tracer.start_span(
        f"chat {model}" if model else "chat",
        parent_context,
        SpanKind.CLIENT,
        attributes,
        start_time=offered.started_ns if offered is not None else None,
    )
    span.end()
