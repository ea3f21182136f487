"""LangChain's run tree as spans: a callback handler that every callback manager carries.

LangChain tells its handlers when each run (chain, graph node, tool, model call, retriever)
starts and ends, with its ``run_id`` and its parent's ``parent_run_id``. Spans are made from that
tree, not from the current context: a step LangGraph runs in a worker thread or another task still
gets its parent from the tree, so no step becomes a root of its own. The handler never attaches
anything to the context it is called in (start and end callbacks may run in different contexts
in async code); ``scope_of`` gives the span the code of a run should run under, which ``_install``
makes current where LangChain starts that code in a context of its own.

Which runs get a span:

- a LangGraph graph: ``invoke_workflow {name}``, or ``invoke_agent {name}`` for an agent graph
  (``create_agent``, ``create_react_agent``);
- a graph's nodes: INTERNAL spans named after the node;
- tools: ``execute_tool {tool}``;
- the root of a run that is none of these (an LCEL chain): an INTERNAL span named after the run,
  so the model calls it makes share one trace;
- model calls and retrievers: offered to the instrumentor beneath (``delegation``); a span is made
  here only when nobody took the offer.

Runs inside those (prompt templates, parsers, ``RunnableSequence``/``RunnableLambda`` glue,
conditional edges) get no span: their children go to the nearest ancestor that has one.
"""

from __future__ import annotations

from contextvars import ContextVar

from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from llmtrace_agent.instrumentors.langchain import _model
from llmtrace_agent.toolkit import guard, semconv
from llmtrace_agent.toolkit.genai.agent_spans import (
    end_span,
    record_documents,
    record_tool_result,
    start_agent_span,
    start_retrieval_span,
    start_tool_span,
    start_workflow_span,
)
from llmtrace_agent.toolkit.genai.delegation import MODEL_CALL, RETRIEVAL, Offer, peek
from llmtrace_agent.toolkit.guard import internal_errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from uuid import UUID

    from opentelemetry.context import Context

    from llmtrace_agent.toolkit.instrumentor import Instrumentor

__all__ = ["RunTree", "starting_graph", "tool_call_id"]

# Kinds of run, by what they become.
WORKFLOW, AGENT, NODE, CHAIN, TOOL, MODEL, RETRIEVER, INNER = (
    "workflow",
    "agent",
    "node",
    "chain",
    "tool",
    "model",
    "retriever",
    "inner",
)
_GRAPHS = (WORKFLOW, AGENT)
_GRAPH_INTEGRATIONS = ("langgraph", "langchain_create_agent")
_HIDDEN_TAG = "langsmith:hidden"

_NODE_PARENTS = (WORKFLOW, AGENT, CHAIN)

starting_graph: ContextVar[list[str | None] | None] = ContextVar(
    "llmtrace_langchain_starting_graph", default=None
)
"""Set by a LangGraph graph's stream around its first step, in which the graph's own run is the
first to start: a one-item cell that run empties, holding the agent name for a graph made by
``create_react_agent``, else ""."""


tool_call_id: ContextVar[object] = ContextVar("llmtrace_langchain_tool_call_id", default=None)
"""The id of the ToolCall a ``BaseTool.run`` is running (for callbacks that are not told it)."""


class Run:
    """What the tree keeps of one LangChain run until it ends."""

    __slots__ = (
        "agent",
        "conversation",
        "kind",
        "name",
        "offer",
        "query",
        "request",
        "scope",
        "span",
    )

    def __init__(self, kind: str, name: str | None, parent: Run | None) -> None:
        self.kind = kind
        self.name = name
        self.span: trace.Span | None = None
        self.scope: trace.Span | None = parent.scope if parent is not None else None
        """The span this run's code runs under: its own, or its nearest ancestor's."""
        self.agent: str | None = parent.agent if parent is not None else None
        """The enclosing agent's name, for the model calls beneath it."""
        self.conversation: str | None = parent.conversation if parent is not None else None
        self.offer: Offer | None = None
        """A model call's or retriever's offer, to know at its end whether it was taken."""
        self.query: object = None
        """A retriever's query."""
        self.request: _model.ModelRequest | None = None
        """A model call's request, for its span if nobody took the offer."""

    def own(self, span: trace.Span) -> None:
        self.span = span
        self.scope = span


class RunTree(BaseCallbackHandler):
    """The handler: one per instrumentor, added to every callback manager (inheritable)."""

    run_inline = True  # called in the caller's thread and context, never in an executor

    def __init__(self, tracer: trace.Tracer, instrumentor: Instrumentor) -> None:
        super().__init__()
        self.tracer = tracer
        self.instrumentor = instrumentor  # its ``config``: read at call time
        self.runs: dict[UUID, Run] = {}

    max_open_runs = 10_000
    """Runs whose end LangChain never reports (a bug, a callback dropped on a killed task) must
    not grow the table for the life of a server: past this many open runs, the oldest is
    forgotten and its span ended."""

    def _remember(self, run_id: UUID, run: Run) -> None:
        runs = self.runs
        runs[run_id] = run
        if len(runs) > self.max_open_runs:
            forgotten = runs.pop(next(iter(runs)))  # the oldest: dicts keep insertion order
            if forgotten.span is not None:
                forgotten.span.end()

    @property
    def raise_error(self) -> bool:  # type: ignore[override]
        """Under the agent's own tests our errors must fail them (LangChain logs them otherwise)."""
        return guard.raise_errors

    # --- what _install asks -------------------------------------------------------------------

    def scope_of(self, run_id: UUID | None) -> trace.Span | None:
        """The span the code of run ``run_id`` runs under, if the run is traced."""
        found = self.runs.get(run_id) if run_id is not None else None
        return found.scope if found is not None else None

    def model_offer(self, *run_ids: UUID | None) -> Offer:
        """The offer of the model call of runs ``run_ids`` (started: one, or a legacy LLM's
        batch): the framework's attributes for the provider's span."""
        runs = self.runs
        found = [runs[run_id] for run_id in run_ids if run_id in runs]
        made = Offer(MODEL_CALL, _offered_attributes(found[0] if found else None))
        for run in found:
            run.offer = made
        return made

    # --- chains, graphs, nodes ------------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: Mapping[str, object] | None,
        inputs: object,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, object] | None = None,
        **kwargs: object,
    ) -> None:
        with internal_errors:
            self._start_chain(serialized, run_id, parent_run_id, tags, metadata or {}, kwargs)

    def _start_chain(
        self,
        serialized: Mapping[str, object] | None,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: Sequence[str] | None,
        metadata: Mapping[str, object],
        kwargs: Mapping[str, object],
    ) -> None:
        parent = self.runs.get(parent_run_id) if parent_run_id is not None else None
        name = _run_name(serialized, kwargs)
        hidden = bool(tags) and _HIDDEN_TAG in tags  # type: ignore[operator]
        graph = _starting_graph()
        if graph is None and parent is None:
            # A graph whose stream was not wrapped: LangGraph's metadata says what it is.
            graph = "" if metadata.get("ls_integration") in _GRAPH_INTEGRATIONS else None
        if graph is not None:
            agent_name = graph or _created_agent(metadata, parent, name)
            run = self._agent(agent_name, metadata, parent) if agent_name else None
            run = run or self._workflow(name, metadata, parent)
        elif parent is None:
            run = Run(CHAIN, name, None)
            run.conversation = _conversation(metadata)
            if not hidden:
                run.own(self.tracer.start_span(name or "chain", None, SpanKind.INTERNAL))
        elif name and name == metadata.get("langgraph_node") and parent.kind in _NODE_PARENTS:
            if parent.kind == CHAIN:
                _become_workflow(parent)  # a graph we did not see start (older langgraph)
            run = Run(NODE, name, parent)
            if not hidden:
                run.own(self.tracer.start_span(name, _context_of(parent), SpanKind.INTERNAL))
        else:
            run = Run(INNER, name, parent)
        self._remember(run_id, run)

    def _agent(self, name: str, metadata: Mapping[str, object], parent: Run | None) -> Run:
        run = Run(AGENT, name, parent)
        run.agent = name
        run.conversation = run.conversation or _conversation(metadata)
        run.own(
            start_agent_span(
                self.tracer, name, conversation_id=run.conversation, context=_context_of(parent)
            )
        )
        return run

    def _workflow(
        self, name: str | None, metadata: Mapping[str, object], parent: Run | None
    ) -> Run:
        run = Run(WORKFLOW, name, parent)
        run.conversation = run.conversation or _conversation(metadata)
        attributes = {semconv.GEN_AI_CONVERSATION_ID: run.conversation}
        run.own(
            start_workflow_span(
                self.tracer, name, attributes=attributes, context=_context_of(parent)
            )
        )
        return run

    def on_chain_end(self, outputs: object, *, run_id: UUID, **kwargs: object) -> None:
        with internal_errors:
            run = self.runs.pop(run_id, None)
            if run is not None and run.span is not None:
                end_span(run.span)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: object) -> None:
        with internal_errors:
            run = self.runs.pop(run_id, None)
            if run is not None and run.span is not None:
                end_span(run.span, None if _is_control_flow(error) else error)

    # --- tools --------------------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: Mapping[str, object] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, object] | None = None,
        inputs: object = None,
        **kwargs: object,
    ) -> None:
        with internal_errors:
            parent = self.runs.get(parent_run_id) if parent_run_id is not None else None
            name = _run_name(serialized, kwargs) or "tool"
            run = Run(TOOL, name, parent)
            description = serialized.get("description") if serialized else None
            call_id = kwargs.get("tool_call_id") or tool_call_id.get()
            run.own(
                start_tool_span(
                    self.tracer,
                    name,
                    call_id=call_id if isinstance(call_id, str) else None,
                    description=description if isinstance(description, str) else None,
                    arguments=inputs if inputs is not None else input_str,
                    context=_context_of(parent),
                )
            )
            self._remember(run_id, run)

    def on_tool_end(self, output: object, *, run_id: UUID, **kwargs: object) -> None:
        with internal_errors:
            run = self.runs.pop(run_id, None)
            if run is not None and run.span is not None:
                record_tool_result(run.span, _tool_output(output))
                end_span(run.span)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: object) -> None:
        with internal_errors:
            run = self.runs.pop(run_id, None)
            if run is not None and run.span is not None:
                end_span(run.span, None if _is_control_flow(error) else error)

    # --- model calls: the provider's span, or ours when nobody took the offer -----------------

    def on_chat_model_start(
        self,
        serialized: Mapping[str, object] | None,
        messages: object,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: Mapping[str, object] | None = None,
        **kwargs: object,
    ) -> None:
        with internal_errors:
            self._start_model(run_id, parent_run_id, metadata or {}, kwargs, "chat", messages)

    def on_llm_start(
        self,
        serialized: Mapping[str, object] | None,
        prompts: object,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: Mapping[str, object] | None = None,
        **kwargs: object,
    ) -> None:
        with internal_errors:
            self._start_model(
                run_id, parent_run_id, metadata or {}, kwargs, "text_completion", prompts
            )

    def _start_model(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        metadata: Mapping[str, object],
        kwargs: Mapping[str, object],
        operation: str,
        inputs: object,
    ) -> None:
        parent = self.runs.get(parent_run_id) if parent_run_id is not None else None
        run = Run(MODEL, operation, parent)
        capture = self.instrumentor.config.capture_content
        run.request = _model.ModelRequest.of(operation, metadata, kwargs, inputs, capture)
        # A stream offers its call before LangChain starts the run: add what the run tells.
        opened = peek(MODEL_CALL)
        if opened is not None:
            opened.attributes.update(_offered_attributes(run))
            run.offer = opened
        self._remember(run_id, run)

    def on_llm_end(self, response: object, *, run_id: UUID, **kwargs: object) -> None:
        with internal_errors:
            run = self.runs.pop(run_id, None)
            if run is not None and run.offer is not None and not run.offer.taken:
                capture = self.instrumentor.config.capture_content
                _model.record_untaken(self.tracer, run, response, None, capture)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: object) -> None:
        with internal_errors:
            run = self.runs.pop(run_id, None)
            if run is not None and run.offer is not None and not run.offer.taken:
                failure = None if _is_control_flow(error) else error
                capture = self.instrumentor.config.capture_content
                _model.record_untaken(self.tracer, run, kwargs.get("response"), failure, capture)

    # --- retrievers: the vector store's span, or ours when nobody took the offer --------------

    def on_retriever_start(
        self,
        serialized: Mapping[str, object] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: Mapping[str, object] | None = None,
        **kwargs: object,
    ) -> None:
        with internal_errors:
            parent = self.runs.get(parent_run_id) if parent_run_id is not None else None
            metadata = metadata or {}
            source = kwargs.get("name") or metadata.get("ls_retriever_name")
            run = Run(RETRIEVER, source if isinstance(source, str) else None, parent)
            run.query = query
            run.offer = peek(RETRIEVAL)
            if run.offer is not None:
                run.offer.attributes.update(_offered_attributes(run))
            self._remember(run_id, run)

    def on_retriever_end(self, documents: object, *, run_id: UUID, **kwargs: object) -> None:
        with internal_errors:
            run = self.runs.pop(run_id, None)
            if run is not None and (run.offer is None or not run.offer.taken):
                self._record_retrieval(run, documents, None)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: object) -> None:
        with internal_errors:
            run = self.runs.pop(run_id, None)
            if run is not None and (run.offer is None or not run.offer.taken):
                self._record_retrieval(run, None, error)

    def _record_retrieval(self, run: Run, documents: object, error: BaseException | None) -> None:
        span = start_retrieval_span(
            self.tracer,
            run.name,
            query=run.query,
            kind=SpanKind.INTERNAL,
            context=_scope_context(run.scope),
            start_time=run.offer.started_ns if run.offer is not None else None,
            attributes={semconv.GEN_AI_AGENT_NAME: run.agent},
        )
        found = documents if isinstance(documents, list) else []
        record_documents(span, [_document(document) for document in found])
        attributes = {semconv.DB_RESPONSE_RETURNED_ROWS: len(found)} if error is None else None
        end_span(span, error, attributes)


# --- helpers ------------------------------------------------------------------------------------


def _run_name(serialized: Mapping[str, object] | None, kwargs: Mapping[str, object]) -> str | None:
    """The run's name as LangChain shows it: the app's ``run_name``, else the runnable's."""
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    if serialized:
        name = serialized.get("name")
        if isinstance(name, str) and name:
            return name
        path = serialized.get("id")
        if isinstance(path, list) and path and isinstance(path[-1], str):
            return path[-1]
    return None


def _starting_graph() -> str | None:
    """Whether this run is a LangGraph graph's own run: None if not, else the agent name the
    graph was created with (``create_react_agent``) or "" for any other graph."""
    cell = starting_graph.get()
    if cell is None or cell[0] is None:
        return None
    agent = cell[0]
    cell[0] = None  # only the first run started inside the graph's first step is the graph's
    return agent


def _created_agent(
    metadata: Mapping[str, object], parent: Run | None, name: str | None
) -> str | None:
    """The name of the ``create_agent`` agent this graph run starts, if it is one: langchain
    puts ``lc_agent_name`` in the graph's metadata, which its nodes inherit (same name as their
    parent's agent: not a new agent)."""
    if metadata.get("ls_integration") != "langchain_create_agent":
        return None
    agent = metadata.get("lc_agent_name")
    agent = agent if isinstance(agent, str) and agent else name
    if parent is not None and parent.agent == agent:
        return None
    return agent


def _conversation(metadata: Mapping[str, object]) -> str | None:
    """``gen_ai.conversation.id``: LangGraph's ``thread_id`` when the app supplied one."""
    thread = metadata.get("thread_id")
    return str(thread) if isinstance(thread, (str, int)) and thread != "" else None


def _become_workflow(run: Run) -> None:
    """A root chain turned out to be a graph (its children are nodes): name it as one."""
    run.kind = WORKFLOW
    if run.span is not None:
        run.span.update_name(f"invoke_workflow {run.name}" if run.name else "invoke_workflow")
        run.span.set_attribute(semconv.GEN_AI_OPERATION_NAME, "invoke_workflow")
        if run.name:
            run.span.set_attribute(semconv.GEN_AI_WORKFLOW_NAME, run.name)


def _offered_attributes(run: Run | None) -> dict[str, object]:
    """What LangChain adds to the provider's span: the agent and conversation it serves."""
    found: dict[str, object] = {}
    if run is not None:
        if run.agent:
            found[semconv.GEN_AI_AGENT_NAME] = run.agent
        if run.conversation:
            found[semconv.GEN_AI_CONVERSATION_ID] = run.conversation
    return found


def _context_of(parent: Run | None) -> Context | None:
    """The context to start a child of ``parent`` in (None: the current one, for a root)."""
    return _scope_context(parent.scope) if parent is not None else None


def _scope_context(scope: trace.Span | None) -> Context | None:
    return trace.set_span_in_context(scope) if scope is not None else None


def _is_control_flow(error: BaseException) -> bool:
    """Exceptions that end a run without a failure: a stream left early (GeneratorExit),
    LangGraph's interrupts and handoffs (``GraphBubbleUp`` and its subclasses)."""
    if isinstance(error, GeneratorExit):
        return True
    return any(cls.__name__ == "GraphBubbleUp" for cls in type(error).__mro__)


def _tool_output(output: object) -> object:
    """A tool's result as text or JSON-able data (a ``ToolMessage``'s content)."""
    content = getattr(output, "content", None)
    return content if content is not None else output


def _document(document: object) -> dict[str, object]:
    """A retrieved document as the conventions' ``{"id", "content"}`` (content is clipped)."""
    found: dict[str, object] = {}
    identifier = getattr(document, "id", None)
    if identifier is not None:
        found["id"] = str(identifier)
    content = getattr(document, "page_content", None)
    if isinstance(content, str):
        found["content"] = content
    return found
