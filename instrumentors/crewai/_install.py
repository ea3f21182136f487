"""Where CrewAI is wrapped, and the spans each wrapper makes.

Each span is started where CrewAI executes the step and made current for exactly that call
(sync or async), so a task's agent, an agent's model calls and tools nest under it; CrewAI
copies the context into the threads it starts (``Task.execute_async``), so they stay in the
tree. A step reached again inside itself (``Crew.kickoff_async`` runs ``kickoff`` in a thread;
``CrewStructuredTool.invoke`` calls the tool's ``run``) gets no second span.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from contextvars import ContextVar

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.genai.agent_spans import (
    end_span,
    record_tool_result,
    start_agent_span,
    start_tool_span,
    start_workflow_span,
)
from llmtrace_agent.toolkit.genai.delegation import MODEL_CALL, offer
from llmtrace_agent.toolkit.guard import internal_errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import ModuleType

    from llmtrace_agent.instrumentors.crewai import CrewAIInstrumentor
    from llmtrace_agent.toolkit.instrumentor import Wrapper

    SpanStarter = Callable[[trace.Tracer, object, tuple, dict], trace.Span | None]

# CrewAI's provider names -> gen_ai.provider.name (GenAI registry), for a model span of ours.
_PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "claude": "anthropic",
    "gemini": "gcp.gemini",
    "google": "gcp.gemini",
    "azure": "azure.ai.openai",
    "bedrock": "aws.bedrock",
    "groq": "groq",
    "mistral": "mistral_ai",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "xai": "x_ai",
}

# Modules defining CrewAI's model classes (each with its own ``call`` / ``acall``).
_LLM_MODULES = (
    "crewai.llm",
    "crewai.llms.providers.openai.completion",
    "crewai.llms.providers.anthropic.completion",
    "crewai.llms.providers.gemini.completion",
    "crewai.llms.providers.azure.completion",
    "crewai.llms.providers.bedrock.completion",
)

_open_steps: ContextVar[frozenset[tuple[str, int]]] = ContextVar(
    "llmtrace_crewai_open_steps", default=frozenset()
)
"""The steps (kind, object id) being traced in this context, so a step reached again inside
itself is not traced twice."""
_open_tools: ContextVar[frozenset[str]] = ContextVar(
    "llmtrace_crewai_open_tools", default=frozenset()
)
"""Names of the tools being traced (a tool's layers: structured tool, tool, function)."""
_pending_call_id: ContextVar[list[str] | None] = ContextVar(
    "llmtrace_crewai_pending_call_id", default=None
)
"""The model's id for the tool call CrewAI is executing, for the first tool span beneath to take
(``gen_ai.tool.call.id``): CrewAI hands the tool only the arguments."""


def install(instrumentor: CrewAIInstrumentor) -> None:
    """Patch each CrewAI module now or when it is imported."""
    tracer_of = functools.partial(getattr, instrumentor, "tracer")
    crew, task, agent = (
        _step("crew", _crew_span, streams=True),
        _step("task", _task_span),
        _step("agent", _agent_span),
    )
    flow, flow_method = (
        _step("flow", _flow_span, streams=True),
        _step("flow method", _flow_method_span, once=False),
    )
    targets: dict[str, tuple[tuple[str, Wrapper], ...]] = {
        "crewai.crew": (
            ("Crew.kickoff", crew.sync(tracer_of)),
            ("Crew.kickoff_async", crew.asynchronous(tracer_of)),
            ("Crew.akickoff", crew.asynchronous(tracer_of)),
        ),
        "crewai.flow.runtime": (
            ("Flow.kickoff", flow.sync(tracer_of)),
            ("Flow.kickoff_async", flow.asynchronous(tracer_of)),
            ("Flow.akickoff", flow.asynchronous(tracer_of)),
            ("Flow._execute_method", flow_method.asynchronous(tracer_of)),
        ),
        "crewai.task": (
            ("Task._execute_core", task.sync(tracer_of)),
            ("Task._aexecute_core", task.asynchronous(tracer_of)),
        ),
        "crewai.agent.core": (
            ("Agent.execute_task", agent.sync(tracer_of)),
            ("Agent.aexecute_task", agent.asynchronous(tracer_of)),
        ),
        "crewai.tools.base_tool": (
            ("BaseTool.run", _tool_wrapper(tracer_of, is_async=False)),
            ("BaseTool.arun", _tool_wrapper(tracer_of, is_async=True)),
            # @tool's class runs its function itself, not through BaseTool.run
            ("Tool.run", _tool_wrapper(tracer_of, is_async=False)),
            ("Tool.arun", _tool_wrapper(tracer_of, is_async=True)),
        ),
        "crewai.tools.structured_tool": (
            (
                "CrewStructuredTool.invoke",
                _tool_wrapper(tracer_of, is_async=False, structured=True),
            ),
            (
                "CrewStructuredTool.ainvoke",
                _tool_wrapper(tracer_of, is_async=True, structured=True),
            ),
        ),
    }
    # Where CrewAI executes one native tool call (the function, its imported name, the executors'
    # methods: they differ between releases), with the call's id at hand.
    for module_name, path in (
        ("crewai.utilities.agent_utils", "execute_single_native_tool_call"),
        ("crewai.agents.step_executor", "execute_single_native_tool_call"),
        ("crewai.agents.agent_executor", "AgentExecutor._execute_single_native_tool_call"),
        ("crewai.experimental.agent_executor", "AgentExecutor._execute_single_native_tool_call"),
        ("crewai.agents.crew_agent_executor", "CrewAgentExecutor._execute_single_native_tool_call"),
    ):
        targets.setdefault(module_name, ())
        targets[module_name] += ((path, _with_tool_call_id),)
    for module_name, methods in targets.items():
        instrumentor.when_imported(module_name, functools.partial(_patch, instrumentor, methods))
    instrumentor.when_imported(
        "crewai.telemetry.telemetry", functools.partial(_separate_telemetry, instrumentor)
    )
    for module_name in _LLM_MODULES:
        instrumentor.when_imported(
            module_name, functools.partial(_patch_model_classes, instrumentor, tracer_of)
        )


def _patch(
    instrumentor: CrewAIInstrumentor,
    methods: tuple[tuple[str, Wrapper], ...],
    module: ModuleType,
) -> None:
    for path, wrapper in methods:
        instrumentor.wrap(module, path, wrapper)


# --- crews, tasks, agents ----------------------------------------------------------------------


def _crew_span(tracer: trace.Tracer, crew: object, args: tuple, kwargs: dict) -> trace.Span:
    """``invoke_workflow {crew name}``: the crew's name is the app's (``Crew(name=...)``)."""
    return start_workflow_span(tracer, _text(getattr(crew, "name", None)) or "crew")


def _task_span(tracer: trace.Tracer, task: object, args: tuple, kwargs: dict) -> trace.Span:
    """``crewai.task {task name}`` (INTERNAL): no GenAI convention has tasks; the name only when
    the app gave one (the description is content, and unbounded)."""
    name = _text(getattr(task, "name", None))
    attributes = {semconv.CREWAI_TASK_ID: _text(getattr(task, "id", None))}
    if name:
        attributes[semconv.CREWAI_TASK_NAME] = name
    span_name = f"crewai.task {name}" if name else "crewai.task"
    return tracer.start_span(span_name, kind=SpanKind.INTERNAL, attributes=attributes)


def _agent_span(tracer: trace.Tracer, agent: object, args: tuple, kwargs: dict) -> trace.Span:
    """``invoke_agent {role}``; the goal is the agent's description."""
    llm = getattr(agent, "llm", None)
    provider = _text(getattr(llm, "provider", None))
    return start_agent_span(
        tracer,
        _text(getattr(agent, "role", None)),
        provider=_PROVIDERS.get(provider, provider) if provider else None,
        agent_id=_text(getattr(agent, "id", None)),
        description=_text(getattr(agent, "goal", None)),
    )


def _flow_span(tracer: trace.Tracer, flow: object, args: tuple, kwargs: dict) -> trace.Span:
    """``invoke_workflow {flow name}``: ``Flow(name=...)`` or the app's Flow class name. The
    conversation id only when the app pins the state's id (``kickoff(inputs={"id": ...})``, to
    resume a persisted flow); the id CrewAI generates otherwise names no conversation."""
    name = _text(getattr(flow, "name", None)) or type(flow).__name__
    inputs = kwargs.get("inputs", args[0] if args else None)
    pinned = inputs.get("id") if isinstance(inputs, dict) else None
    return start_workflow_span(
        tracer, name, attributes={semconv.GEN_AI_CONVERSATION_ID: _text(pinned)}
    )


def _flow_method_span(tracer: trace.Tracer, flow: object, args: tuple, kwargs: dict) -> trace.Span:
    """``{method name}`` (INTERNAL) for a Flow step (``@start``, ``@listen``, ``@router``):
    ``Flow._execute_method(method_name, method, ...)`` runs each one, sync steps in a thread
    that copies the context, so a crew kicked off inside nests under it."""
    name = _text(kwargs.get("method_name", args[0] if args else None)) or "flow method"
    return tracer.start_span(
        name, kind=SpanKind.INTERNAL, attributes={semconv.CREWAI_FLOW_METHOD_NAME: name}
    )


class _step:
    """Wrappers making one span current around a CrewAI step (sync or async).

    ``once``: an object's step reached again inside itself (``kickoff_async`` running
    ``kickoff``) gets no second span. ``streams``: a kickoff of a crew or flow made with
    ``stream=True`` only returns the stream; the run it starts when the app first iterates it
    (CrewAI calls the same ``kickoff`` again, with ``stream`` off, in a thread or task that
    copies the iterating code's context) is the one traced, so its spans end when the run does
    (the stream consumed, closed or dropped: CrewAI joins the run either way).
    """

    def __init__(
        self, kind: str, start: SpanStarter, *, once: bool = True, streams: bool = False
    ) -> None:
        self.kind = kind
        self.start = start
        self.once = once
        self.streams = streams

    def _begin(
        self, tracer: trace.Tracer, instance: object, args: tuple, kwargs: dict
    ) -> tuple[trace.Span, object] | None:
        if self.streams and getattr(instance, "stream", False) is True:
            return None  # only returns the stream; the run it starts is traced
        if self.kind.startswith("flow") and type(instance).__module__.startswith("crewai."):
            return None  # CrewAI's own flows (its AgentExecutor is one): their steps are its
        key = (self.kind, id(instance))
        open_steps = _open_steps.get()
        if self.once and key in open_steps:
            return None  # the same step, reached again inside itself
        span = self.start(tracer, instance, args, kwargs)
        if span is None:
            return None
        return span, _open_steps.set(open_steps | {key})

    def sync(self, tracer_of: Callable[[], trace.Tracer]) -> Wrapper:
        def wrapper(wrapped: Callable, instance: object, args: tuple, kwargs: dict) -> object:
            begun = None
            with internal_errors:
                begun = self._begin(tracer_of(), instance, args, kwargs)
            if begun is None:
                return wrapped(*args, **kwargs)
            span, token = begun
            try:
                with trace.use_span(
                    span, end_on_exit=False, record_exception=False, set_status_on_exception=False
                ):
                    result = wrapped(*args, **kwargs)
            except BaseException as error:
                _finish(span, token, error)
                raise
            _finish(span, token)
            return result

        return wrapper

    def asynchronous(self, tracer_of: Callable[[], trace.Tracer]) -> Wrapper:
        def wrapper(wrapped: Callable, instance: object, args: tuple, kwargs: dict) -> object:
            async def traced() -> object:
                begun = None
                with internal_errors:
                    begun = self._begin(tracer_of(), instance, args, kwargs)
                if begun is None:
                    return await wrapped(*args, **kwargs)
                span, token = begun
                try:
                    with trace.use_span(
                        span,
                        end_on_exit=False,
                        record_exception=False,
                        set_status_on_exception=False,
                    ):
                        result = await wrapped(*args, **kwargs)
                except BaseException as error:
                    _finish(span, token, error)
                    raise
                _finish(span, token)
                return result

            return traced()

        return wrapper


def _finish(span: trace.Span, token: object, error: BaseException | None = None) -> None:
    _open_steps.reset(token)  # type: ignore[arg-type]
    with internal_errors:
        if type(error).__name__ == "HumanFeedbackPending":
            error = None  # a Flow step pausing for human feedback: control flow, not a failure
        end_span(span, error)


# --- tools -------------------------------------------------------------------------------------


def _with_tool_call_id(wrapped: Callable, instance: object, args: tuple, kwargs: dict) -> object:
    """Runs one native tool call with its id pending for the tool span beneath."""
    token = None
    with internal_errors:
        call_id = _call_id_of(args, kwargs)
        if call_id:
            token = _pending_call_id.set([call_id])
    try:
        return wrapped(*args, **kwargs)
    finally:
        if token is not None:
            _pending_call_id.reset(token)


def _call_id_of(args: tuple, kwargs: dict) -> str | None:
    """The call's id: given as ``call_id``, or read from the provider's tool call the way
    CrewAI reads it (``extract_tool_call_info``), unless CrewAI had to make one up."""
    call_id = kwargs.get("call_id")
    if isinstance(call_id, str):
        return call_id
    tool_call = kwargs.get("tool_call", args[0] if args else None)
    if tool_call is None:
        return None
    from crewai.utilities.agent_utils import extract_tool_call_info

    info = extract_tool_call_info(tool_call)
    found = info[0] if info else None
    made_up = f"call_{id(tool_call)}"
    return found if isinstance(found, str) and found != made_up else None


def _tool_wrapper(
    tracer_of: Callable[[], trace.Tracer], *, is_async: bool, structured: bool = False
) -> Wrapper:
    """``execute_tool {tool}`` around a tool's run (``BaseTool.run`` / ``arun``) or a structured
    tool's ``invoke`` / ``ainvoke`` (its ``input`` is the arguments)."""

    def begin(instance: object, args: tuple, kwargs: dict) -> tuple[trace.Span, object] | None:
        name = _text(getattr(instance, "name", None)) or "tool"
        open_tools = _open_tools.get()
        if name in open_tools:
            return None  # an outer layer of this tool traces it
        if structured:
            arguments = kwargs.get("input", args[0] if args else None)
        else:
            arguments = kwargs or (list(args) if args else None)
        pending = _pending_call_id.get()
        span = start_tool_span(
            tracer_of(),
            name,
            call_id=pending.pop() if pending else None,  # the first tool span beneath takes it
            description=_text(getattr(instance, "description", None)),
            arguments=arguments,
        )
        return span, _open_tools.set(open_tools | {name})

    def end(span: trace.Span, token: object, result: object, error: BaseException | None) -> None:
        _open_tools.reset(token)  # type: ignore[arg-type]
        with internal_errors:
            if error is None:
                record_tool_result(span, result)
            end_span(span, error)

    if is_async:

        def async_wrapper(wrapped: Callable, instance: object, args: tuple, kwargs: dict) -> object:
            async def traced() -> object:
                begun = None
                with internal_errors:
                    begun = begin(instance, args, kwargs)
                if begun is None:
                    return await wrapped(*args, **kwargs)
                span, token = begun
                try:
                    with trace.use_span(
                        span,
                        end_on_exit=False,
                        record_exception=False,
                        set_status_on_exception=False,
                    ):
                        result = await wrapped(*args, **kwargs)
                except BaseException as error:
                    end(span, token, None, error)
                    raise
                end(span, token, result, None)
                return result

            return traced()

        return async_wrapper

    def wrapper(wrapped: Callable, instance: object, args: tuple, kwargs: dict) -> object:
        begun = None
        with internal_errors:
            begun = begin(instance, args, kwargs)
        if begun is None:
            return wrapped(*args, **kwargs)
        span, token = begun
        try:
            with trace.use_span(
                span, end_on_exit=False, record_exception=False, set_status_on_exception=False
            ):
                result = wrapped(*args, **kwargs)
        except BaseException as error:
            end(span, token, None, error)
            raise
        end(span, token, result, None)
        return result

    return wrapper


# --- model calls -------------------------------------------------------------------------------

_model_call_open: ContextVar[bool] = ContextVar("llmtrace_crewai_model_call_open", default=False)
"""A CrewAI model call is offered in this context (a subclass's ``call`` reaching its base's
makes no second offer)."""


def _patch_model_classes(
    instrumentor: CrewAIInstrumentor, tracer_of: Callable[[], trace.Tracer], module: ModuleType
) -> None:
    """Wrap ``call`` / ``acall`` of the model classes this module defines."""
    for value in list(vars(module).values()):
        if not isinstance(value, type) or value.__module__ != module.__name__:
            continue
        if "call" in vars(value):
            instrumentor.wrap(value, "call", _model_wrapper(tracer_of, is_async=False))
        if "acall" in vars(value):
            instrumentor.wrap(value, "acall", _model_wrapper(tracer_of, is_async=True))


def _model_wrapper(tracer_of: Callable[[], trace.Tracer], *, is_async: bool) -> Wrapper:
    """Offer the model call to the provider instrumentor below (openai, anthropic, litellm…);
    when none takes it (a provider we do not instrument), a ``chat {model}`` span of ours."""

    def attributes_of(llm: object) -> dict[str, object]:
        span = trace.get_current_span()
        agent = (getattr(span, "attributes", None) or {}).get(semconv.GEN_AI_AGENT_NAME)
        return {semconv.GEN_AI_AGENT_NAME: agent} if agent else {}

    def fallback(llm: object, made: object, error: BaseException | None) -> None:
        """The model span, when no provider instrumentor made it."""
        if made.taken:  # type: ignore[attr-defined]
            return
        model = _text(getattr(llm, "model", None))
        provider = _text(getattr(llm, "provider", None)) or "crewai"
        attributes = {
            **made.attributes,  # type: ignore[attr-defined]
            semconv.GEN_AI_OPERATION_NAME: "chat",
            semconv.GEN_AI_PROVIDER_NAME: _PROVIDERS.get(provider, provider),
        }
        if model:
            attributes[semconv.GEN_AI_REQUEST_MODEL] = model
        span = tracer_of().start_span(
            f"chat {model}" if model else "chat",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=made.started_ns,  # type: ignore[attr-defined]
        )
        end_span(span, error)

    if is_async:

        def async_wrapper(wrapped: Callable, instance: object, args: tuple, kwargs: dict) -> object:
            async def traced() -> object:
                if _model_call_open.get():
                    return await wrapped(*args, **kwargs)
                attributes: dict[str, object] = {}
                with internal_errors:
                    attributes = attributes_of(instance)
                flag = _model_call_open.set(True)
                error = None
                try:
                    with offer(MODEL_CALL, attributes) as made:
                        return await wrapped(*args, **kwargs)
                except BaseException as raised:
                    error = raised
                    raise
                finally:
                    _model_call_open.reset(flag)
                    with internal_errors:
                        fallback(instance, made, error)

            return traced()

        return async_wrapper

    def wrapper(wrapped: Callable, instance: object, args: tuple, kwargs: dict) -> object:
        if _model_call_open.get():
            return wrapped(*args, **kwargs)
        attributes: dict[str, object] = {}
        with internal_errors:
            attributes = attributes_of(instance)
        flag = _model_call_open.set(True)
        error = None
        try:
            with offer(MODEL_CALL, attributes) as made:
                return wrapped(*args, **kwargs)
        except BaseException as raised:
            error = raised
            raise
        finally:
            _model_call_open.reset(flag)
            with internal_errors:
                fallback(instance, made, error)

    return wrapper


# --- CrewAI's own telemetry --------------------------------------------------------------------


def _separate_telemetry(instrumentor: CrewAIInstrumentor, module: ModuleType) -> None:
    """Keep CrewAI's anonymous telemetry on its own provider, out of the app's traces.

    Releases before 1.15.20 take their tracer from the global provider (ours, under the agent:
    their "Crew Created", "Tool Usage"… spans landed in the app's trace and not at their
    vendor); later ones use their own provider but still start their spans under the current
    one. Here every telemetry span comes from CrewAI's own provider, as a root of its own
    trace: the telemetry goes where CrewAI sends it (or nowhere when it is disabled), and its
    export, a span processor's, is not traced as an application request.
    """
    telemetry = getattr(module, "Telemetry", None)
    if telemetry is None:
        return
    instrumentor.wrap(module, "Telemetry.__init__", _detach_after_init)
    tracing = getattr(module, "trace", None)
    if tracing is not None and not isinstance(tracing, _TelemetryTracing):
        module.trace = _TelemetryTracing(tracing, telemetry)  # type: ignore[attr-defined]
    instance = getattr(telemetry, "_instance", None)
    if instance is not None:  # made before this hook ran
        _detach(instance)


def _detach_after_init(wrapped: Callable, instance: object, args: tuple, kwargs: dict) -> None:
    wrapped(*args, **kwargs)
    with internal_errors:
        _detach(instance)


def _detach(telemetry: object) -> None:
    provider = getattr(telemetry, "provider", None)
    if provider is not None and not isinstance(provider, _DetachedProvider):
        telemetry.provider = _DetachedProvider(provider)  # type: ignore[attr-defined]


class _TelemetryTracing(wrapt.ObjectProxy):  # type: ignore[misc]
    """``opentelemetry.trace`` as CrewAI's telemetry module sees it: its tracers come from
    CrewAI's own provider (a no-op one when telemetry is off), never the global one."""

    def __init__(self, tracing: ModuleType, telemetry: type) -> None:
        super().__init__(tracing)
        self._self_telemetry = telemetry

    def get_tracer(self, *args: object, **kwargs: object) -> trace.Tracer:
        instance = getattr(self._self_telemetry, "_instance", None)
        provider = getattr(instance, "provider", None)
        if provider is None:
            return trace.NoOpTracer()
        return provider.get_tracer(*args, **kwargs)  # type: ignore[no-any-return]


class _DetachedProvider(wrapt.ObjectProxy):  # type: ignore[misc]
    """CrewAI's telemetry provider, handing out ``_DetachedTracer``s."""

    def get_tracer(self, *args: object, **kwargs: object) -> trace.Tracer:
        return _DetachedTracer(self.__wrapped__.get_tracer(*args, **kwargs))


class _DetachedTracer(wrapt.ObjectProxy):  # type: ignore[misc]
    """Starts CrewAI's telemetry spans as roots (never under the app's spans), never current."""

    def start_span(
        self, name: str, context: object = None, *args: object, **kwargs: object
    ) -> trace.Span:
        if context is None:
            context = otel_context.Context()
        return self.__wrapped__.start_span(name, context, *args, **kwargs)  # type: ignore[no-any-return]

    @contextmanager
    def start_as_current_span(
        self,
        name: str,
        context: object = None,
        *args: object,
        end_on_exit: bool = True,
        **kwargs: object,
    ) -> Iterator[trace.Span]:
        span = self.start_span(name, context, *args, **kwargs)
        try:
            yield span
        finally:
            if end_on_exit:
                span.end()


def _text(value: object) -> str | None:
    """A name or id as text (CrewAI's ids are UUIDs), None when absent; stripped, since roles
    and goals from an agents.yaml written ``role: >`` (CrewAI's template) end with a newline."""
    if value is None:
        return None
    text = (value if isinstance(value, str) else str(value)).strip()
    return text or None
