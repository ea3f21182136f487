"""Agent, tool, workflow and retrieval spans, shaped once for every framework instrumentor.

The GenAI conventions (v1.41, ``gen-ai-agent-spans.md`` and ``gen-ai-spans.md``) name them
``invoke_agent {agent}``, ``execute_tool {tool}``, ``invoke_workflow {workflow}`` and
``retrieval {data source}``; in-process agents, tools and workflows are INTERNAL spans. These
functions start the span (not current: callback-style frameworks start and end in different
calls, so making it current is the caller's choice) and ``end_span`` ends it. Tool arguments and
results, retrieval queries and documents are content: recorded only with content capture on,
clipped, as valid JSON.

Token usage and cost stay on the model-call spans beneath (``delegation``): nothing here records
them, so no backend sums a call twice.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmtrace_agent._runtime import agent_state
from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.genai.call import error_type_of
from llmtrace_agent.toolkit.genai.content import clip, clip_deep, to_json
from llmtrace_agent.toolkit.genai.conventions import latest, retrieval_top_k

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from opentelemetry.context import Context

__all__ = [
    "content_json",
    "conventional",
    "current_tool_span",
    "end_span",
    "record_documents",
    "record_tool_result",
    "start_agent_span",
    "start_retrieval_span",
    "start_tool_span",
    "start_workflow_span",
]

_NOT_ON_LATEST_AGENT_SPANS = (
    semconv.GEN_AI_PROVIDER_NAME,
    semconv.GEN_AI_AGENT_ID,
    semconv.GEN_AI_AGENT_VERSION,
    semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
)


def _agent_span_attributes(attributes: Mapping[str, object]) -> Mapping[str, object]:
    """An in-process agent span's attributes under the conventions in use: the newest leave
    off provider, id, version and cache usage."""
    if not latest():
        return attributes
    return {k: v for k, v in attributes.items() if k not in _NOT_ON_LATEST_AGENT_SPANS}


def start_agent_span(
    tracer: trace.Tracer,
    agent_name: str | None,
    *,
    provider: str | None = None,
    agent_id: str | None = None,
    description: str | None = None,
    conversation_id: str | None = None,
    attributes: Mapping[str, object] | None = None,
    context: Context | None = None,
) -> trace.Span:
    """``invoke_agent {agent_name}`` (INTERNAL). ``provider`` is the agent's model provider when
    known; ``conversation_id`` only when the app or framework supplies one (a thread id). The
    newest conventions drop provider, id and version from in-process agent spans."""
    found = _present(
        {
            semconv.GEN_AI_OPERATION_NAME: "invoke_agent",
            semconv.GEN_AI_PROVIDER_NAME: provider,
            semconv.GEN_AI_AGENT_NAME: agent_name,
            semconv.GEN_AI_AGENT_ID: agent_id,
            semconv.GEN_AI_AGENT_DESCRIPTION: description,
            semconv.GEN_AI_CONVERSATION_ID: conversation_id,
        },
        attributes,
    )
    name = f"invoke_agent {agent_name}" if agent_name else "invoke_agent"
    return tracer.start_span(name, context, SpanKind.INTERNAL, _agent_span_attributes(found))  # type: ignore[arg-type]


def start_tool_span(
    tracer: trace.Tracer,
    tool_name: str,
    *,
    call_id: str | None = None,
    tool_type: str | None = "function",
    description: str | None = None,
    arguments: object = None,
    attributes: Mapping[str, object] | None = None,
    context: Context | None = None,
) -> trace.Span:
    """``execute_tool {tool_name}`` (INTERNAL); ``arguments`` recorded with content capture on.
    ``tool_type``: ``function``, ``extension`` or ``datastore`` (the spec's values)."""
    found = _present(
        {
            semconv.GEN_AI_OPERATION_NAME: "execute_tool",
            semconv.GEN_AI_TOOL_NAME: tool_name,
            semconv.GEN_AI_TOOL_CALL_ID: call_id,
            semconv.GEN_AI_TOOL_TYPE: tool_type,
            semconv.GEN_AI_TOOL_DESCRIPTION: clip(description),
        },
        attributes,
    )
    if arguments is not None and agent_state.config.capture_content:
        found[semconv.GEN_AI_TOOL_CALL_ARGUMENTS] = content_json(arguments)
    return tracer.start_span(f"execute_tool {tool_name}", context, SpanKind.INTERNAL, found)


def start_workflow_span(
    tracer: trace.Tracer,
    workflow_name: str | None,
    *,
    attributes: Mapping[str, object] | None = None,
    context: Context | None = None,
) -> trace.Span:
    """``invoke_workflow {workflow_name}`` (INTERNAL), only where the framework has workflows.
    The name must be low-cardinality: the app's name for it, never a class name."""
    found = _present(
        {
            semconv.GEN_AI_OPERATION_NAME: "invoke_workflow",
            semconv.GEN_AI_WORKFLOW_NAME: workflow_name,
        },
        attributes,
    )
    name = f"invoke_workflow {workflow_name}" if workflow_name else "invoke_workflow"
    return tracer.start_span(name, context, SpanKind.INTERNAL, found)


def start_retrieval_span(
    tracer: trace.Tracer,
    data_source_id: str | None,
    *,
    provider: str | None = None,
    top_k: int | None = None,
    query: object = None,
    kind: SpanKind = SpanKind.CLIENT,
    attributes: Mapping[str, object] | None = None,
    context: Context | None = None,
    start_time: int | None = None,
) -> trace.Span:
    """``retrieval {data_source_id}``: CLIENT for a store's request, INTERNAL for a framework's
    in-process retriever; ``query`` text recorded with content capture on. ``top_k`` goes out
    under the name and type the conventions in use give it (``conventions.retrieval_top_k``).
    ``start_time`` (ns): when the search began, for a span made after it (an offer nobody
    took)."""
    found = _present(
        {
            semconv.GEN_AI_OPERATION_NAME: "retrieval",
            semconv.GEN_AI_PROVIDER_NAME: provider,
            semconv.GEN_AI_DATA_SOURCE_ID: data_source_id,
        },
        attributes,
    )
    limit = retrieval_top_k(top_k)
    if limit is not None:
        found[limit[0]] = limit[1]
    if query is not None and agent_state.config.capture_content:
        found[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT] = (
            clip(query) if isinstance(query, str) else content_json(query)
        )
    name = f"retrieval {data_source_id}" if data_source_id else "retrieval"
    return tracer.start_span(name, context, kind, found, start_time=start_time)


def record_tool_result(span: trace.Span, result: object) -> None:
    """The tool's result, with content capture on."""
    if agent_state.config.capture_content and result is not None:
        span.set_attribute(
            semconv.GEN_AI_TOOL_CALL_RESULT,
            clip(result) if isinstance(result, str) else content_json(result),
        )


def record_documents(span: trace.Span, documents: Iterable[Mapping[str, object]]) -> None:
    """Retrieved documents as ``[{"id", "score"}, …]`` (plus ``content`` if given), with content
    capture on (the spec's retrieval-documents schema). Never pass vectors."""
    if agent_state.config.capture_content:
        span.set_attribute(semconv.GEN_AI_RETRIEVAL_DOCUMENTS, content_json(list(documents)))


def end_span(
    span: trace.Span,
    error: BaseException | None = None,
    attributes: Mapping[str, object] | None = None,
) -> None:
    """End a span started here; an error sets status ERROR, ``error.type`` and the exception."""
    if attributes:
        span.set_attributes(_present({}, attributes))  # type: ignore[arg-type]
    if error is not None:
        span.set_attribute(semconv.ERROR_TYPE, error_type_of(error))
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:1024]))
        if isinstance(error, Exception):
            span.record_exception(error)
    span.end()


def current_tool_span() -> trace.Span | None:
    """The current span if it is a recording ``execute_tool`` span (ours or another tracer's),
    for a lower layer (MCP's ``tools/call``) to enrich instead of making a second one."""
    span = trace.get_current_span()
    if not span.is_recording():
        return None
    attributes = getattr(span, "attributes", None) or {}
    return span if attributes.get(semconv.GEN_AI_OPERATION_NAME) == "execute_tool" else None


_SUBJECTS = {
    "invoke_agent": semconv.GEN_AI_AGENT_NAME,
    "execute_tool": semconv.GEN_AI_TOOL_NAME,
    "invoke_workflow": semconv.GEN_AI_WORKFLOW_NAME,
}


def conventional(
    name: str, attributes: Mapping[str, object] | None
) -> tuple[str, Mapping[str, object] | None]:
    """An agent, tool or workflow span an SDK that traces itself starts (its name, attributes),
    as the conventions in use shape it: named ``invoke_agent {agent}``, ``execute_tool {tool}``…
    (the Anthropic SDK says ``anthropic.messages.tool_runner``), and an agent span without what
    the newest conventions leave off. Other spans are returned as they are."""
    operation = attributes.get(semconv.GEN_AI_OPERATION_NAME) if attributes else None
    subject = _SUBJECTS.get(operation) if isinstance(operation, str) else None
    if subject is None or attributes is None:
        return name, attributes
    value = attributes.get(subject)
    name = f"{operation} {value}" if isinstance(value, str) and value else str(operation)
    if operation == "invoke_agent":
        attributes = _agent_span_attributes(attributes)
    return name, attributes


def content_json(value: object) -> str:
    """Content (tool arguments, documents) as valid JSON, every string in it clipped."""
    return to_json(clip_deep(value))


def _present(known: dict[str, object], extra: Mapping[str, object] | None) -> dict[str, object]:
    """The attributes that have a value (the conventions' "when available")."""
    found = {key: value for key, value in known.items() if value is not None and value != ""}
    if extra:
        found.update((key, value) for key, value in extra.items() if value is not None)
    return found
