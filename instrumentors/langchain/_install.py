"""The patches: the run tree's handler in every callback manager, its spans made current where
LangChain and LangGraph start a run's code, and model calls and searches offered to the
instrumentors beneath.

- ``BaseCallbackManager.__init__``: every run manager (``CallbackManager`` and its async twin:
  LangChain makes one per run and step) carries the ``RunTree`` handler as an inheritable
  handler, so no app code has to pass it. LangGraph's graph-lifecycle managers do not.
- ``_set_config_context`` (langchain-core and LangGraph): LangChain runs the code of a runnable,
  tool or graph node in a copy of the context made for it (``set_config_context``), after the
  run started. The run's span is made current in that copy, and never detached: the copy is
  dropped when the run's code returns, so nothing leaks into the caller's context and there is
  nothing to detach in another context (the classic "Failed to detach context").
- ``BaseTool.run`` / ``arun``: the ToolCall's id, which langchain-core 0.3 does not pass to the
  callbacks.
- ``BaseChatModel._generate_with_cache`` / ``_agenerate_with_cache`` (invoke, batch, and the
  graph's streamed model calls) and ``stream`` / ``astream``; ``BaseRetriever.invoke`` /
  ``ainvoke``: offered (``delegation``) around the real call; a stream offers around each step.
- ``ChatModelStream`` / ``AsyncChatModelStream`` (``stream_events(version="v3")``, langchain-core
  1.8): the callbacks that start the model's run and pump its stream run inside one offer.
- LangGraph's ``Pregel.stream`` / ``astream``: tells the handler which run is the graph's own
  (the first started in its first step), and whether ``create_react_agent`` made it (seen
  where it calls ``StateGraph.compile``).
"""

from __future__ import annotations

import inspect
import sys
import weakref
from types import AsyncGeneratorType, GeneratorType

from opentelemetry import context as otel_context
from opentelemetry import trace

from llmtrace_agent.instrumentors.langchain._runs import RunTree, starting_graph, tool_call_id
from llmtrace_agent.toolkit.genai.delegation import MODEL_CALL, RETRIEVAL, Offer
from llmtrace_agent.toolkit.guard import internal_errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator
    from types import ModuleType

    from llmtrace_agent.instrumentors.langchain import LangChainInstrumentor

    Call = Callable[..., object]

__all__ = ["install"]

# The modules that call ``_set_config_context`` by a name of their own: langchain-core 0.3
# imported it into each caller (1.x looks it up in ``config``); LangGraph 1.x has its own copy,
# older LangGraph imported langchain-core's.
_CONFIG_CONTEXT_MODULES = (
    "langchain_core.runnables.config",
    "langchain_core.runnables.base",
    "langchain_core.runnables.fallbacks",
    "langchain_core.tools.base",
    "langgraph._internal._runnable",
    "langgraph.utils.runnable",
)
_PREGEL_MODULES = ("langgraph.pregel.main", "langgraph.pregel")
_STATE_GRAPH_MODULES = ("langgraph.graph.state",)
_REACT_AGENT_MODULE = "langgraph.prebuilt.chat_agent_executor"


def install(instrumentor: LangChainInstrumentor) -> None:
    """Patch langchain-core now and LangGraph when it is imported."""
    from langchain_core import retrievers
    from langchain_core.callbacks import AsyncCallbackManager, CallbackManager
    from langchain_core.callbacks import base as callbacks_base
    from langchain_core.language_models import chat_models, llms
    from langchain_core.tools import base as tools_base

    tree = RunTree(instrumentor.tracer, instrumentor)
    wrap = instrumentor.wrap

    run_managers = (CallbackManager, AsyncCallbackManager)

    def add_handler(wrapped: Call, manager: object, args: tuple, kwargs: dict) -> None:
        wrapped(*args, **kwargs)
        with internal_errors:
            # Run managers only: LangGraph's graph-lifecycle managers (``on_interrupt``,
            # ``on_resume``) keep their own kind of handler, which RunTree is not.
            if isinstance(manager, run_managers) and tree not in manager.handlers:
                manager.add_handler(tree, inherit=True)

    wrap(callbacks_base, "BaseCallbackManager.__init__", add_handler)
    enter_scope = _scope_entering(tree)

    def patch_config_context(module: ModuleType) -> None:
        if "_set_config_context" in vars(module):
            wrap(module, "_set_config_context", enter_scope)

    for name in _CONFIG_CONTEXT_MODULES:
        instrumentor.when_imported(name, patch_config_context)

    wrap(chat_models, "BaseChatModel._generate_with_cache", _model_call(tree, _run_id))
    wrap(chat_models, "BaseChatModel._agenerate_with_cache", _async_model_call(tree, _run_id))
    for module, name in ((chat_models, "BaseChatModel"), (llms, "BaseLLM")):
        wrap(module, f"{name}.stream", _model_stream)
        wrap(module, f"{name}.astream", _model_astream)
    wrap(llms, "BaseLLM._generate_helper", _model_call(tree, _batch_run_ids))
    wrap(llms, "BaseLLM._agenerate_helper", _async_model_call(tree, _batch_run_ids))
    instrumentor.when_imported(
        "langchain_core.language_models.chat_model_stream", _patch_v3_streams(wrap)
    )
    wrap(tools_base, "BaseTool.run", _tool_run)
    wrap(tools_base, "BaseTool.arun", _async_tool_run)
    wrap(retrievers, "BaseRetriever.invoke", _search)
    wrap(retrievers, "BaseRetriever.ainvoke", _async_search)

    agent_graphs: weakref.WeakSet[object] = weakref.WeakSet()

    def patch_pregel(module: ModuleType) -> None:
        if "Pregel" in vars(module):
            wrap(module, "Pregel.stream", _graph_stream(agent_graphs))
            wrap(module, "Pregel.astream", _graph_astream(agent_graphs))

    def patch_state_graph(module: ModuleType) -> None:
        if "StateGraph" in vars(module):
            wrap(module, "StateGraph.compile", _agent_compile(agent_graphs))

    for name in _PREGEL_MODULES:
        instrumentor.when_imported(name, patch_pregel)
    for name in _STATE_GRAPH_MODULES:
        instrumentor.when_imported(name, patch_state_graph)


def _scope_entering(tree: RunTree) -> Call:
    """``_set_config_context(config, ...)`` runs inside the context copy LangChain made for a
    run's code; after it, that run's span is current there."""

    def enter_scope(wrapped: Call, instance: object, args: tuple, kwargs: dict):
        result = wrapped(*args, **kwargs)
        with internal_errors:
            config = args[0] if args else kwargs.get("config")
            callbacks = config.get("callbacks") if isinstance(config, dict) else None
            scope = tree.scope_of(getattr(callbacks, "parent_run_id", None))
            if scope is not None and trace.get_current_span() is not scope:
                otel_context.attach(trace.set_span_in_context(scope))  # no detach: see module doc
        return result

    return enter_scope


# --- model calls and searches, offered to the instrumentor beneath ------------------------------


def _run_id(args: tuple, kwargs: dict) -> tuple[object, ...]:
    """``_generate_with_cache``'s run: one request."""
    return (getattr(kwargs.get("run_manager"), "run_id", None),)


def _batch_run_ids(args: tuple, kwargs: dict) -> tuple[object, ...]:
    """A legacy LLM's batch (``_generate_helper``): one request per prompt, all offered as one
    model call."""
    managers = args[2] if len(args) > 2 else kwargs.get("run_managers")
    return tuple(getattr(manager, "run_id", None) for manager in managers or ())


def _model_call(tree: RunTree, run_ids_of: Callable[[tuple, dict], tuple[object, ...]]) -> Call:
    def model_call(wrapped: Call, instance: object, args: tuple, kwargs: dict):
        token = scoped = None
        with internal_errors:
            run_ids = run_ids_of(args, kwargs)
            token = tree.model_offer(*run_ids).open()  # type: ignore[arg-type]
            scoped = _enter_model_scope(tree, run_ids)
        try:
            return wrapped(*args, **kwargs)
        finally:
            if scoped is not None:
                otel_context.detach(scoped)
            if token is not None:
                Offer.close(token)

    return model_call


def _async_model_call(
    tree: RunTree, run_ids_of: Callable[[tuple, dict], tuple[object, ...]]
) -> Call:
    async def model_call(wrapped: Call, instance: object, args: tuple, kwargs: dict):
        token = scoped = None
        with internal_errors:
            run_ids = run_ids_of(args, kwargs)
            token = tree.model_offer(*run_ids).open()  # type: ignore[arg-type]
            scoped = _enter_model_scope(tree, run_ids)
        try:
            return await wrapped(*args, **kwargs)  # type: ignore[misc]
        finally:
            if scoped is not None:
                otel_context.detach(scoped)
            if token is not None:
                Offer.close(token)

    return model_call


def _enter_model_scope(tree: RunTree, run_ids: tuple[object, ...]) -> object:
    """Make the span of the model run's nearest traced ancestor current for the request, when
    it is not already (``batch`` / ``abatch`` call the model in a worker thread or task, where
    no run made its span current): the provider's span nests under its chain. Returns the
    token to detach, in this same call, or None."""
    scope = tree.scope_of(run_ids[0]) if run_ids else None  # type: ignore[arg-type]
    if scope is None or trace.get_current_span() is scope:
        return None
    return otel_context.attach(trace.set_span_in_context(scope))


def _model_stream(wrapped: Call, instance: object, args: tuple, kwargs: dict):
    result = wrapped(*args, **kwargs)
    if isinstance(result, GeneratorType):
        return _offered_steps(result, Offer(MODEL_CALL, {}))
    return result


def _model_astream(wrapped: Call, instance: object, args: tuple, kwargs: dict):
    result = wrapped(*args, **kwargs)
    if isinstance(result, AsyncGeneratorType):
        return _offered_async_steps(result, Offer(MODEL_CALL, {}))
    return result


def _offered_steps(steps: Iterator[object], made: Offer) -> Iterator[object]:
    """``steps`` with ``made`` offered while each step runs (the run starts, and the request is
    sent, inside the first; LangChain's end callback runs inside the last)."""
    try:
        while True:
            # Hot path: every chunk of a model stream.
            token = made.open()
            try:
                item = next(steps)
            except StopIteration:
                return
            finally:
                Offer.close(token)
            yield item
    finally:
        steps.close()  # type: ignore[attr-defined]


async def _offered_async_steps(steps: AsyncIterator[object], made: Offer) -> AsyncIterator[object]:
    """The async twin of ``_offered_steps``: each step is awaited in this generator's task."""
    try:
        while True:
            # Hot path: every chunk of a model stream.
            token = made.open()
            try:
                item = await steps.__anext__()
            except StopAsyncIteration:
                return
            finally:
                Offer.close(token)
            yield item
    finally:
        await steps.aclose()  # type: ignore[attr-defined]


def _patch_v3_streams(wrap: Callable[[object, str, Call], bool]) -> Callable[[ModuleType], None]:
    """``stream_events(version="v3")`` starts the model's run (``on_chat_model_start``) and reads
    its stream through callbacks it installs on its ``ChatModelStream``, not through ``stream``:
    each runs inside the stream's one offer, as a ``stream`` step does (for the async stream,
    the producer task it starts inherits the offer)."""

    def patch(module: ModuleType) -> None:
        offers: weakref.WeakKeyDictionary[object, Offer] = weakref.WeakKeyDictionary()

        def offered(wrapped: Call, stream: object, args: tuple, kwargs: dict):
            with internal_errors:
                callback = args[0] if args else next(iter(kwargs.values()), None)
                if callable(callback):
                    made = offers.get(stream)
                    if made is None:
                        made = offers[stream] = Offer(MODEL_CALL, {})
                    return wrapped(_inside_offer(callback, made))
            return wrapped(*args, **kwargs)

        for name in ("ChatModelStream", "AsyncChatModelStream"):
            if name in vars(module):
                wrap(module, f"{name}.set_start", offered)
        if "ChatModelStream" in vars(module):
            wrap(module, "ChatModelStream.bind_pump", offered)

    return patch


def _inside_offer(callback: Call, made: Offer) -> Call:
    if inspect.iscoroutinefunction(callback):

        async def offered_async() -> object:
            token = made.open()
            try:
                return await callback()  # type: ignore[misc]
            finally:
                Offer.close(token)

        return offered_async

    def offered_call() -> object:
        # Hot path: every event of a v3 model stream.
        token = made.open()
        try:
            return callback()
        finally:
            Offer.close(token)

    return offered_call


def _search(wrapped: Call, instance: object, args: tuple, kwargs: dict):
    token = Offer(RETRIEVAL, {}).open()
    try:
        return wrapped(*args, **kwargs)
    finally:
        Offer.close(token)


async def _async_search(wrapped: Call, instance: object, args: tuple, kwargs: dict):
    token = Offer(RETRIEVAL, {}).open()
    try:
        return await wrapped(*args, **kwargs)  # type: ignore[misc]
    finally:
        Offer.close(token)


# --- tools --------------------------------------------------------------------------------------


def _tool_run(wrapped: Call, instance: object, args: tuple, kwargs: dict):
    """langchain-core 0.3 does not pass the ToolCall's id to the callbacks: the run has it."""
    token = tool_call_id.set(kwargs.get("tool_call_id"))
    try:
        return wrapped(*args, **kwargs)
    finally:
        tool_call_id.reset(token)


async def _async_tool_run(wrapped: Call, instance: object, args: tuple, kwargs: dict):
    token = tool_call_id.set(kwargs.get("tool_call_id"))
    try:
        return await wrapped(*args, **kwargs)  # type: ignore[misc]
    finally:
        tool_call_id.reset(token)


# --- LangGraph graphs ---------------------------------------------------------------------------


def _agent_compile(agent_graphs: weakref.WeakSet[object]) -> Call:
    """``StateGraph.compile`` called by ``create_react_agent``: remember the graph is an agent.
    Not a wrapper of ``create_react_agent`` itself: LangGraph 1.x deprecates it with a warning
    attributed to its caller, and Python shows it only when that caller is the app's
    ``__main__``; a frame of ours in between would hide it."""

    def compile(wrapped: Call, instance: object, args: tuple, kwargs: dict):
        graph = wrapped(*args, **kwargs)
        with internal_errors:
            caller = sys._getframe(1)  # compile's caller (wrapt's C wrapper has no frame)
            while caller is not None and caller.f_globals.get("__name__", "").startswith("wrapt"):
                caller = caller.f_back  # wrapt without its C extension
            if caller is not None and caller.f_globals.get("__name__") == _REACT_AGENT_MODULE:
                agent_graphs.add(graph)
        return graph

    return compile


def _graph_stream(agent_graphs: weakref.WeakSet[object]) -> Call:
    def stream(wrapped: Call, graph: object, args: tuple, kwargs: dict):
        result = wrapped(*args, **kwargs)
        if isinstance(result, GeneratorType):
            return _marked_first_step(result, _graph_cell(graph, agent_graphs))
        return result

    return stream


def _graph_astream(agent_graphs: weakref.WeakSet[object]) -> Call:
    def astream(wrapped: Call, graph: object, args: tuple, kwargs: dict):
        result = wrapped(*args, **kwargs)
        if isinstance(result, AsyncGeneratorType):
            return _marked_first_async_step(result, _graph_cell(graph, agent_graphs))
        return result

    return astream


def _graph_cell(graph: object, agent_graphs: weakref.WeakSet[object]) -> list[str | None]:
    """``starting_graph``'s cell for this graph: its agent name, or "" for a plain graph."""
    if graph in agent_graphs:
        name = getattr(graph, "name", None)
        return [name if isinstance(name, str) and name else "LangGraph"]
    return [""]


def _marked_first_step(steps: Iterator[object], cell: list[str | None]) -> Iterator[object]:
    """The graph's stream, with ``starting_graph`` set during its first step (when LangGraph
    starts the graph's run); the rest passes through."""
    try:
        token = starting_graph.set(cell)
        try:
            first = next(steps)
        except StopIteration:
            return
        finally:
            starting_graph.reset(token)
        yield first
        yield from steps
    finally:
        steps.close()  # type: ignore[attr-defined]


async def _marked_first_async_step(
    steps: AsyncIterator[object], cell: list[str | None]
) -> AsyncIterator[object]:
    try:
        token = starting_graph.set(cell)
        try:
            first = await steps.__anext__()
        except StopAsyncIteration:
            return
        finally:
            starting_graph.reset(token)
        yield first
        async for item in steps:
            yield item
    finally:
        await steps.aclose()  # type: ignore[attr-defined]
