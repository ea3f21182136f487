"""The span handler on LlamaIndex's root dispatcher: agent, workflow, tool, retrieval, query and
chat-engine spans, current while LlamaIndex runs what they describe.

The dispatcher calls ``span_enter`` just before a component method runs and ``span_exit`` /
``span_drop`` just after, in the same context (the caller's for a sync method, the coroutine's
task for an async one). So a span made current (``context.attach``) on enter and detached on
exit nests like a ``with`` block; a ``ContextVar`` of our own (``current``) tells, on exit, that
we are still in that context before detaching, so a method whose exit comes elsewhere (a future's
callback) never detaches the wrong context.

Workflow steps run in tasks copied from their run's context, so a tool, model or retrieval span
under a step is a child of the run (or, in an ``AgentWorkflow``, of the agent whose turn it is).

A chat engine's streamed turn (``stream_chat``, ``astream_chat``) returns before its answer is
made: a background writer (``StreamingAgentChatResponse.write_response_to_history`` in a
LlamaIndex ``Thread``, or ``awrite_response_to_history`` in an asyncio task, both started in a
copy of the turn's context) reads the model's stream. The turn's span ends when both the call has
returned and that writer has finished, whichever comes last.
"""

from __future__ import annotations

import inspect
import sys
import threading
import weakref
from contextvars import ContextVar
from typing import Any

from llama_index.core.instrumentation.span_handlers import BaseSpanHandler
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from llmtrace_agent.instrumentors.llama_index._describe import agent_model_attributes
from llmtrace_agent.instrumentors.llama_index._streams import follow
from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.genai import agent_spans
from llmtrace_agent.toolkit.genai.conventions import retrieval_top_k
from llmtrace_agent.toolkit.genai.delegation import RETRIEVAL, Offer, reoffer
from llmtrace_agent.toolkit.guard import internal_errors
from llmtrace_agent.toolkit.readers import as_int, as_str, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager

    from llmtrace_agent.toolkit.instrumentor import Instrumentor

# What a dispatcher span is to us, by (instance class, method name); None: not traced.
RUN, STEP, TOOL, RETRIEVER, QUERY = "run", "step", "tool", "retriever", "query"
CHAT, WRITER = "chat", "writer"
_CHAT_METHODS = frozenset(("chat", "stream_chat", "achat", "astream_chat"))
_WRITER_METHODS = frozenset(("write_response_to_history", "awrite_response_to_history"))
_TOOL_METHODS = frozenset(("call", "acall"))
_RETRIEVER_METHODS = frozenset(("retrieve", "aretrieve"))
_QUERY_METHODS = frozenset(("query", "aquery"))
_FRAMEWORK_MODULES = ("llama_index.", "workflows.", "llama_agents.")
_UUID_SUFFIX = 37  # "-" and a uuid4 end every dispatcher span id


class Record:
    """One dispatcher span we follow: its OpenTelemetry span (if any) and what its descendants
    need (the tool call id of a step, the agent whose turn it is in a multi-agent run)."""

    __slots__ = (
        "agent_name",
        "agent_span",
        "current_token",
        "kind",
        "name",
        "offer",
        "offer_scope",
        "otel_token",
        "parent",
        "query",
        "span",
        "tool_id",
        "top_k",
        "workflow",
        "writer",
    )

    def __init__(self, kind: str, parent: Record | None) -> None:
        self.kind = kind
        self.parent = parent
        self.span: trace.Span | None = None
        self.name: str | None = None
        self.agent_name: str | None = None
        """RUN: the agent this run is (a FunctionAgent's), or whose turn it is (AgentWorkflow)."""
        self.agent_span: trace.Span | None = None
        """RUN of an AgentWorkflow: the open ``invoke_agent`` span of the agent whose turn it is."""
        self.tool_id: str | None = None
        self.offer: Offer | None = None
        self.offer_scope: AbstractContextManager[Offer] | None = None
        self.query: object = None
        self.top_k: int | None = None
        self.workflow: object = None
        """RUN of an AgentWorkflow: the workflow (its agents by name)."""
        self.current_token: object = None
        self.otel_token: object = None
        self.writer: _Writer | None = None
        """CHAT: the state of its background writer, if the turn streams."""


class _Writer:
    """A streamed chat turn's background writer: whether the call returned and whether the writer
    finished (they race: the writer runs in another thread), the writer's error."""

    __slots__ = ("error", "finished", "returned")

    def __init__(self) -> None:
        self.returned = False
        self.finished = False
        self.error: BaseException | None = None


_writers_lock = threading.Lock()


current: ContextVar[Record | None] = ContextVar("llmtrace_llama_index_record", default=None)
_records: dict[str, Record] = {}
_kinds: dict[tuple[type, str], str | None] = {}


def agent_name() -> str | None:
    """The agent running the current code (for the attributes offered to a model call)."""
    record = current.get()
    while record is not None:
        if record.agent_name:
            return record.agent_name
        record = record.parent
    return None


class Classes:
    """The LlamaIndex classes spans are classified by (the base classes at install, workflows
    at the first run)."""

    def __init__(self) -> None:
        from llama_index.core.base.base_query_engine import BaseQueryEngine
        from llama_index.core.base.base_retriever import BaseRetriever
        from llama_index.core.chat_engine.types import BaseChatEngine, StreamingAgentChatResponse
        from llama_index.core.tools.types import BaseTool

        self.tool = BaseTool
        self.retriever = BaseRetriever
        self.query_engine = BaseQueryEngine
        self.chat_engine = BaseChatEngine
        self.chat_stream = StreamingAgentChatResponse
        self._workflow: type | None = None

    # Resolved at the first run: the hook that installs us runs under an import lock.
    @property
    def workflow(self) -> type:
        if self._workflow is None:
            from workflows import Workflow

            self._workflow = Workflow
        return self._workflow

    @staticmethod
    def is_agent(workflow: object) -> bool:
        """A LlamaIndex agent (FunctionAgent, ReActAgent…): its module is loaded if it is one."""
        module = sys.modules.get("llama_index.core.agent.workflow.base_agent")
        return module is not None and isinstance(workflow, module.BaseWorkflowAgent)


def make_handler(instrumentor: Instrumentor) -> BaseSpanHandler:
    """The span handler for the root dispatcher."""
    classes = Classes()
    tracer = instrumentor.tracer

    class LLMTraceSpanHandler(BaseSpanHandler[Any]):  # type: ignore[misc,valid-type]
        """Ours; keeps no spans in ``open_spans`` (our records live in ``_records``)."""

        @classmethod
        def class_name(cls) -> str:
            return "LLMTraceSpanHandler"

        def new_span(self, *args: object, **kwargs: object) -> None:
            return None

        def prepare_to_exit_span(self, *args: object, **kwargs: object) -> None:
            return None

        def prepare_to_drop_span(self, *args: object, **kwargs: object) -> None:
            return None

        def span_enter(
            self,
            id_: str,
            bound_args: inspect.BoundArguments,
            instance: object = None,
            parent_id: str | None = None,
            tags: dict[str, Any] | None = None,
            **kwargs: Any,
        ) -> None:
            # Hot path: every LlamaIndex component call.
            if not instrumentor.active:
                return
            with internal_errors:
                _enter(tracer, classes, id_, bound_args, instance)

        def span_exit(
            self,
            id_: str,
            bound_args: inspect.BoundArguments,
            instance: object = None,
            result: object = None,
            **kwargs: Any,
        ) -> None:
            record = _records.pop(id_, None)
            if record is not None:
                with internal_errors:
                    _exit(tracer, classes, record, result, None)

        def span_drop(
            self,
            id_: str,
            bound_args: inspect.BoundArguments,
            instance: object = None,
            err: BaseException | None = None,
            **kwargs: Any,
        ) -> None:
            record = _records.pop(id_, None)
            if record is not None:
                with internal_errors:
                    _exit(tracer, classes, record, None, err)

    return LLMTraceSpanHandler()


def _kind(classes: Classes, instance: object, id_: str) -> str | None:
    """RUN, TOOL, RETRIEVER, QUERY, CHAT, WRITER or None for a component call (cached per class
    and method)."""
    method = id_[:-_UUID_SUFFIX].rpartition(".")[2]
    key = (type(instance), method)
    try:
        return _kinds[key]
    except KeyError:
        pass
    kind = None
    if method in _TOOL_METHODS and isinstance(instance, classes.tool):
        kind = TOOL
    elif method in _RETRIEVER_METHODS and isinstance(instance, classes.retriever):
        kind = RETRIEVER
    elif method in _QUERY_METHODS and isinstance(instance, classes.query_engine):
        kind = QUERY
    elif method == "run" and isinstance(instance, classes.workflow):
        kind = RUN
    elif method in _CHAT_METHODS and isinstance(instance, classes.chat_engine):
        kind = CHAT
    elif method in _WRITER_METHODS and isinstance(instance, classes.chat_stream):
        kind = WRITER
    _kinds[key] = kind
    return kind


def _enter(
    tracer: trace.Tracer,
    classes: Classes,
    id_: str,
    bound_args: inspect.BoundArguments,
    instance: object,
) -> None:
    parent = current.get()
    if instance is None:
        if parent is not None and parent.kind == RUN:
            _enter_step(tracer, id_, bound_args, parent)
        return
    kind = _kind(classes, instance, id_)
    if kind is None:
        return
    record = Record(kind, parent)
    if kind == TOOL:
        if _inside(parent, TOOL):  # a tool calling itself (acall -> call): one span
            return
        metadata = getattr(instance, "metadata", None)
        name = as_str(field(metadata, "name")) or type(instance).__name__
        record.span = agent_spans.start_tool_span(
            tracer,
            name,
            call_id=_tool_call_id(parent),
            description=as_str(field(metadata, "description")),
            arguments=_tool_arguments(bound_args),
        )
    elif kind == RETRIEVER:
        if _inside(parent, RETRIEVER):  # a retriever over retrievers: the outer one only
            return
        record.name = _data_source(instance)
        record.top_k = as_int(getattr(instance, "_similarity_top_k", None)) or as_int(
            getattr(instance, "similarity_top_k", None)
        )
        record.query = _query_text(bound_args)
        attributes: dict[str, object] = {}
        if record.name:
            attributes[semconv.GEN_AI_DATA_SOURCE_ID] = record.name
        limit = retrieval_top_k(record.top_k or None)
        if limit is not None:
            attributes[limit[0]] = limit[1]
        # Offered to a vector-store instrumentor underneath; our own span only if untaken.
        record.offer = Offer(RETRIEVAL, attributes)
        record.offer_scope = reoffer(record.offer)
        record.offer_scope.__enter__()
        _records[id_] = record
        record.current_token = current.set(record)
        return
    elif kind == QUERY:
        record.span = tracer.start_span(f"query {type(instance).__name__}", kind=SpanKind.INTERNAL)
    elif kind == CHAT:
        if _inside(parent, CHAT):  # an engine's method calling another: one turn
            return
        name = f"chat_engine {type(instance).__name__}"
        record.span = tracer.start_span(name, kind=SpanKind.INTERNAL)
        record.writer = _Writer()  # used if the turn streams
    elif kind == WRITER:
        # A streamed turn's writer, in a copy of the turn's context: the turn waits for it.
        turn = _enclosing(parent, CHAT)
        if turn is None:
            return
        record.parent = turn
        _records[id_] = record
        return
    elif kind == RUN:
        record.span = _start_run(tracer, classes, instance, record)
    _records[id_] = record
    _make_current(record, record.span)


def _enter_step(
    tracer: trace.Tracer, id_: str, bound_args: inspect.BoundArguments, run: Record
) -> None:
    """A workflow step: note a tool call's id; in an AgentWorkflow, follow whose turn it is."""
    event = _step_event(bound_args)
    if event is None:
        return
    record = Record(STEP, run)
    record.tool_id = as_str(getattr(event, "tool_id", None))
    span = None
    if run.agent_span is not None or run.name is not None:
        name = as_str(getattr(event, "current_agent_name", None))
        if name and run.kind == RUN and run.agent_name != name and run.span is not None:
            # An AgentWorkflow's turn passes to another agent (its start, or a handoff).
            if run.agent_span is not None:
                agent_spans.end_span(run.agent_span)
            run.agent_name = name
            agents = getattr(run.workflow, "agents", None)
            turn = agents.get(name) if isinstance(agents, dict) else None
            run.agent_span = agent_spans.start_agent_span(
                tracer,
                name,
                description=as_str(getattr(turn, "description", None)),
                attributes=agent_model_attributes(turn),
                context=trace.set_span_in_context(run.span),
            )
        span = run.agent_span
    if record.tool_id is None and span is None:
        return
    _records[id_] = record
    _make_current(record, span)


def _start_run(
    tracer: trace.Tracer, classes: Classes, workflow: object, record: Record
) -> trace.Span:
    """``invoke_agent {name}`` for an agent's run, ``invoke_workflow {name}`` for another."""
    if classes.is_agent(workflow):
        record.agent_name = as_str(getattr(workflow, "name", None))
        return agent_spans.start_agent_span(
            tracer,
            record.agent_name,
            description=as_str(getattr(workflow, "description", None)),
            attributes=agent_model_attributes(workflow),
        )
    # The app's name for it: the workflow_name it gave (``workflow_name`` itself falls back to
    # the class's dotted path), or its own Workflow subclass's name; never a LlamaIndex class
    # name such as AgentWorkflow.
    name = as_str(getattr(workflow, "_workflow_name", None))
    cls = type(workflow)
    if name is None and not cls.__module__.startswith(_FRAMEWORK_MODULES):
        name = cls.__name__
    record.name = name or ""  # a workflow run: its steps may switch agents
    record.workflow = workflow
    return agent_spans.start_workflow_span(tracer, name)


def _make_current(record: Record, span: trace.Span | None) -> None:
    record.current_token = current.set(record)
    if span is not None:
        record.otel_token = otel_context.attach(trace.set_span_in_context(span))


def _exit(
    tracer: trace.Tracer,
    classes: Classes,
    record: Record,
    result: object,
    error: BaseException | None,
) -> None:
    if current.get() is record:  # in the context we entered in, or a copy of it
        try:
            current.reset(record.current_token)  # type: ignore[arg-type]
        except ValueError:  # a copy (a task's): what we set there is not ours to undo
            pass
        else:
            if record.otel_token is not None:
                otel_context.detach(record.otel_token)  # type: ignore[arg-type]
            if record.offer_scope is not None:
                record.offer_scope.__exit__(None, None, None)
    kind = record.kind
    if kind == RETRIEVER:
        _end_retrieval(tracer, record, result, error)
        return
    if kind == WRITER:
        _writer_finished(record.parent, error)  # type: ignore[arg-type]
        return
    span = record.span
    if span is None:
        return
    if kind == TOOL:
        error = error or _tool_error(result)
        if error is None:
            agent_spans.record_tool_result(span, getattr(result, "content", None))
    elif kind == RUN and record.agent_span is not None:
        agent_spans.end_span(record.agent_span, error)
        record.agent_span = None
    elif error is None and (  # a stream: its end ends the span
        (kind == QUERY and _end_with_stream(span, result))
        or (kind == CHAT and _end_with_writer(classes, record, result))
    ):
        return
    agent_spans.end_span(span, error)


def _end_retrieval(
    tracer: trace.Tracer, record: Record, result: object, error: BaseException | None
) -> None:
    offer = record.offer
    if offer is None or offer.taken:  # a vector-store instrumentor traced the search
        return
    span = agent_spans.start_retrieval_span(
        tracer,
        record.name,
        top_k=record.top_k,
        query=record.query,
        kind=SpanKind.INTERNAL,
        start_time=offer.started_ns,
    )
    if isinstance(result, list):
        agent_spans.record_documents(span, _documents(result))
    agent_spans.end_span(span, error)


def _end_with_stream(span: trace.Span, result: object) -> bool:
    """A streaming query's answer: end the query span when its generator ends (or is dropped),
    with the span current while the app iterates it. False when ``result`` is no stream."""
    generator = getattr(result, "response_gen", None)
    if generator is None:
        generator = getattr(result, "async_response_gen", None)
        if generator is None or inspect.ismethod(generator):
            return False
        attribute = "async_response_gen"
    else:
        attribute = "response_gen"
    proxy = follow(
        generator,
        trace.set_span_in_context(span),
        lambda error, last: agent_spans.end_span(span, error),
    )
    if proxy is None:
        return False
    setattr(result, attribute, proxy)
    return True


def _end_with_writer(classes: Classes, turn: Record, result: object) -> bool:
    """A streamed chat turn: end its span when the model's stream has been read, by the turn's
    background writer (it runs even if the app never reads the answer) or, without one
    (``is_writing_to_memory=False``), by the app through the answer's generator. False when
    ``result`` is no stream."""
    if not isinstance(result, classes.chat_stream):
        return False
    span = turn.span
    if not result.is_writing_to_memory:
        stream = result.chat_stream if result.achat_stream is None else result.achat_stream
        proxy = follow(
            stream, trace.set_span_in_context(span), lambda error, last: _end_turn(turn, error)
        )
        if proxy is None:
            return False
        if result.achat_stream is None:
            result.chat_stream = proxy
        else:
            result.achat_stream = proxy
        return True
    writer = turn.writer
    with _writers_lock:
        writer.returned = True  # type: ignore[union-attr]
        finished = writer.finished  # type: ignore[union-attr]
    if finished:
        _end_turn(turn, writer.error)  # type: ignore[union-attr]
    else:  # should the writer never run (its task cancelled before it started)
        weakref.finalize(result, _end_turn, turn, None)
    return True


def _writer_finished(turn: Record, error: BaseException | None) -> None:
    """The writer of a streamed turn finished: end the turn if its call has returned."""
    writer = turn.writer
    if writer is None:
        return
    with _writers_lock:
        writer.finished = True
        writer.error = error
        returned = writer.returned
    if returned:
        _end_turn(turn, error)


def _end_turn(turn: Record, error: BaseException | None) -> None:
    """End a streamed turn's span, once (its writer, its call's return, its stream's end or the
    collector, whichever comes first after the model's stream was read)."""
    with _writers_lock:
        span, turn.span = turn.span, None
    if span is not None:
        with internal_errors:  # also called by weakref.finalize, outside any hook's guard
            agent_spans.end_span(span, error)


def _enclosing(record: Record | None, kind: str) -> Record | None:
    """The nearest ``kind`` record at or above ``record`` in the same run."""
    while record is not None:
        if record.kind == kind:
            return record
        if record.kind == RUN:
            return None
        record = record.parent
    return None


def _inside(record: Record | None, kind: str) -> bool:
    """Whether ``record`` is, or runs inside, a ``kind`` call of the same run (an agent run by
    a tool starts afresh: its tools are calls of their own)."""
    return _enclosing(record, kind) is not None


def _tool_call_id(record: Record | None) -> str | None:
    """The id of the model's tool call this tool runs for (its workflow step's event)."""
    while record is not None:
        if record.kind == STEP and record.tool_id:
            return record.tool_id
        if record.kind == RUN:
            return None
        record = record.parent
    return None


def _tool_arguments(bound_args: inspect.BoundArguments) -> object:
    arguments = dict(bound_args.arguments)
    arguments.pop("self", None)
    kwargs = arguments.pop("kwargs", None)
    args = arguments.pop("args", None)
    if isinstance(kwargs, dict):
        arguments.update(kwargs)
    if args:
        arguments["args"] = list(args)
    return arguments or None


def _tool_error(result: object) -> BaseException | None:
    """A ``ToolOutput`` with ``is_error`` (the agent caught the tool's exception)."""
    if getattr(result, "is_error", False) is not True:
        return None
    exception = getattr(result, "exception", None)
    if isinstance(exception, BaseException):
        return exception
    return _ToolError(str(getattr(result, "content", "")))


class _ToolError(Exception):
    """A tool output marked as an error without its exception."""


def _step_event(bound_args: inspect.BoundArguments) -> object:
    """The workflow event a step was called with (``ev``), if it carries a tool call or an
    agent's name."""
    for value in bound_args.arguments.values():
        values = value.values() if isinstance(value, dict) else (value,)
        for candidate in values:
            if hasattr(candidate, "tool_id") or hasattr(candidate, "current_agent_name"):
                return candidate
    return None


def _data_source(retriever: object) -> str | None:
    """The index a retriever searches (``gen_ai.data_source.id``)."""
    index = getattr(retriever, "_index", None)
    return as_str(getattr(index, "index_id", None))


def _query_text(bound_args: inspect.BoundArguments) -> object:
    query = bound_args.arguments.get("str_or_query_bundle")
    if query is None:
        query = bound_args.arguments.get("query_bundle")
    return query if isinstance(query, str) else getattr(query, "query_str", None)


def _documents(nodes: list[object]) -> Iterator[dict[str, object]]:
    for found in nodes:
        node = getattr(found, "node", None)
        document: dict[str, object] = {"id": getattr(node, "node_id", None)}
        score = getattr(found, "score", None)
        if isinstance(score, (int, float)):
            document["score"] = score
        yield document
