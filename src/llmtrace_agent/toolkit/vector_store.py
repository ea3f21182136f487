"""Vector-store spans, written once for every store instrumentor (Chroma, Qdrant, Pinecone…).

An instrumentor describes each client method with a ``describe(instance, args, kwargs)`` function
returning a ``StoreCall`` (or None: not traced) and a ``read_result(call, result)`` returning a
``StoreResult``; ``store_wrapper`` / ``async_store_wrapper`` do the rest: one CLIENT span per
operation, current while the client runs (an embedding call the store makes itself nests under
it), results and exceptions untouched.

- A search is ``retrieval {collection}`` with the GenAI retrieval attributes
  (``gen_ai.operation.name=retrieval``, ``gen_ai.data_source.id``, ``gen_ai.request.top_k``) and
  the database ones; it takes a framework's RETRIEVAL offer (``genai.delegation``), so a LangChain
  or LlamaIndex retriever over the store gives one span, not two.
- Anything else is ``{db.operation.name} {collection}`` with the database attributes.
- ``db.system.name``: the registry has no value for these stores, so each uses a custom one
  (``chroma``, ``qdrant``, ``pinecone``, ``weaviate``, ``milvus``), documented in its README.
- Records written or deleted: ``llmtrace.db.records_affected`` (no convention has one).
- Content (query text, returned ids, scores, document text) only with capture on; vectors never.

A store method that calls another traced one (a client's ``search`` calling its ``query_points``)
makes no second span: the inner call runs untraced inside the outer one.
"""

from __future__ import annotations

from collections.abc import Awaitable
from contextvars import ContextVar

from opentelemetry import context, trace
from opentelemetry.trace import SpanKind

from llmtrace_agent._runtime import agent_state
from llmtrace_agent.toolkit import guard, semconv
from llmtrace_agent.toolkit.genai.agent_spans import content_json, end_span
from llmtrace_agent.toolkit.genai.content import clip
from llmtrace_agent.toolkit.genai.conventions import retrieval_top_k
from llmtrace_agent.toolkit.genai.delegation import RETRIEVAL, take

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from llmtrace_agent.toolkit.instrumentor import Instrumentor, Wrapper

__all__ = [
    "StoreCall",
    "StoreResult",
    "async_store_wrapper",
    "either_store_wrapper",
    "store_wrapper",
]

_inside_store_call: ContextVar[bool] = ContextVar("llmtrace_inside_store_call", default=False)


class StoreCall:
    """One store operation, as its client method's arguments tell it."""

    __slots__ = (
        "attributes",
        "batch_size",
        "collection",
        "namespace",
        "operation",
        "query",
        "records",
        "search",
        "server_address",
        "server_port",
        "system",
        "top_k",
    )

    def __init__(
        self,
        system: str,
        operation: str,
        collection: str | None,
        *,
        search: bool = False,
        namespace: str | None = None,
        server_address: str | None = None,
        server_port: int | None = None,
        top_k: int | None = None,
        batch_size: int | None = None,
        query: object = None,
        records: int | None = None,
        attributes: dict[str, object] | None = None,
    ) -> None:
        self.system = system
        """``db.system.name`` (``chroma``…)."""
        self.operation = operation
        """``db.operation.name``: the client's own word (``query``, ``upsert``, ``near_vector``)."""
        self.collection = collection
        self.search = search
        """A similarity search: a ``retrieval`` span."""
        self.namespace = namespace
        self.server_address = server_address
        self.server_port = server_port
        self.top_k = top_k
        self.batch_size = batch_size
        """Queries in one batched search (recorded when 2 or more, as the spec says)."""
        self.query = query
        """The query text, when the call has one (content: recorded only with capture on)."""
        self.records = records
        """Records the call sends (a write's ids), for ``read_result`` when the client's answer
        does not count them (Chroma's ``add`` returns None). Not recorded by itself."""
        self.attributes = attributes


class StoreResult:
    """What a store operation's result tells."""

    __slots__ = ("affected", "documents", "returned")

    def __init__(
        self,
        returned: int | None = None,
        affected: int | None = None,
        documents: Sequence[Mapping[str, object]] | None = None,
    ) -> None:
        self.returned = returned
        """``db.response.returned_rows``: results (all queries of a batch together)."""
        self.affected = affected
        """Records written or deleted."""
        self.documents = documents
        """``[{"id", "score", "content"?}]``: recorded only with capture on. Never vectors."""


def store_wrapper(
    instrumentor: Instrumentor,
    describe: Callable[[object, tuple[object, ...], dict[str, object]], StoreCall | None],
    read_result: Callable[[StoreCall, object], StoreResult | None],
) -> Wrapper:
    """A wrapt wrapper for a synchronous store method."""
    return _call_wrapper(instrumentor, describe, read_result, may_return_awaitable=False)


def async_store_wrapper(
    instrumentor: Instrumentor,
    describe: Callable[[object, tuple[object, ...], dict[str, object]], StoreCall | None],
    read_result: Callable[[StoreCall, object], StoreResult | None],
) -> Wrapper:
    """A wrapt wrapper for an ``async def`` store method."""

    def wrapper(
        wrapped: Callable[..., Awaitable[object]],
        instance: object,
        args: tuple[object, ...],
        kwargs: dict,
    ) -> Awaitable[object]:
        if _inside_store_call.get():
            return wrapped(*args, **kwargs)
        return traced(wrapped, instance, args, kwargs)

    async def traced(
        wrapped: Callable[..., Awaitable[object]],
        instance: object,
        args: tuple[object, ...],
        kwargs: dict,
    ) -> object:
        started = _start(instrumentor, describe, instance, args, kwargs)
        if started is None:
            return await wrapped(*args, **kwargs)
        call, span = started
        tokens = _enter(span)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _exit(tokens)
            _end(span, call, None, read_result, exc)
            raise
        _exit(tokens)
        _end(span, call, result, read_result, None)
        return result

    return wrapper


def either_store_wrapper(
    instrumentor: Instrumentor,
    describe: Callable[[object, tuple[object, ...], dict[str, object]], StoreCall | None],
    read_result: Callable[[StoreCall, object], StoreResult | None],
) -> Wrapper:
    """A wrapt wrapper for a method that returns its result, or an awaitable of it when its
    client is asynchronous (weaviate's executors share one method between both clients): the
    span ends when the result is returned, or else when the awaitable is."""
    return _call_wrapper(instrumentor, describe, read_result, may_return_awaitable=True)


def _call_wrapper(
    instrumentor: Instrumentor,
    describe: Callable[[object, tuple[object, ...], dict[str, object]], StoreCall | None],
    read_result: Callable[[StoreCall, object], StoreResult | None],
    may_return_awaitable: bool,
) -> Wrapper:
    def wrapper(
        wrapped: Callable[..., object], instance: object, args: tuple[object, ...], kwargs: dict
    ) -> object:
        # Hot path: every store call.
        if _inside_store_call.get():
            return wrapped(*args, **kwargs)
        started = _start(instrumentor, describe, instance, args, kwargs)
        if started is None:
            return wrapped(*args, **kwargs)
        call, span = started
        tokens = _enter(span)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _exit(tokens)
            _end(span, call, None, read_result, exc)
            raise
        _exit(tokens)
        if may_return_awaitable and isinstance(result, Awaitable):
            return _end_when_awaited(result, span, call, read_result)
        _end(span, call, result, read_result, None)
        return result

    return wrapper


async def _end_when_awaited(
    awaitable: Awaitable[object],
    span: trace.Span,
    call: StoreCall,
    read_result: Callable[[StoreCall, object], StoreResult | None],
) -> object:
    tokens = _enter(span)
    try:
        result = await awaitable
    except BaseException as exc:
        _exit(tokens)
        _end(span, call, None, read_result, exc)
        raise
    _exit(tokens)
    _end(span, call, result, read_result, None)
    return result


def start_store_span(tracer: trace.Tracer, call: StoreCall) -> trace.Span:
    """The span of ``call``, not yet current (for instrumentors that cannot use the wrappers)."""
    attributes: dict[str, object] = {
        semconv.DB_SYSTEM_NAME: call.system,
        semconv.DB_OPERATION_NAME: call.operation,
    }
    if call.collection:
        attributes[semconv.DB_COLLECTION_NAME] = call.collection
    if call.namespace:
        attributes[semconv.DB_NAMESPACE] = call.namespace
    if call.server_address:
        attributes[semconv.SERVER_ADDRESS] = call.server_address
        if call.server_port:
            attributes[semconv.SERVER_PORT] = call.server_port
    if call.batch_size is not None and call.batch_size >= 2:
        attributes[semconv.DB_OPERATION_BATCH_SIZE] = call.batch_size
    if call.search:
        offered = take(RETRIEVAL)  # a framework's retriever above: its attributes
        if offered:
            attributes = {**offered, **attributes}
        attributes[semconv.GEN_AI_OPERATION_NAME] = "retrieval"
        if call.collection:
            attributes[semconv.GEN_AI_DATA_SOURCE_ID] = call.collection
        limit = retrieval_top_k(call.top_k)
        if limit is not None:
            attributes[limit[0]] = limit[1]
        if call.query is not None and agent_state.config.capture_content:
            query = call.query
            attributes[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT] = (
                clip(query) if isinstance(query, str) else content_json(query)
            )
        name = f"retrieval {call.collection}" if call.collection else "retrieval"
    else:
        name = f"{call.operation} {call.collection}" if call.collection else call.operation
    if call.attributes:
        attributes.update(call.attributes)
    return tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)  # type: ignore[arg-type]


def end_store_span(
    span: trace.Span, result: StoreResult | None, error: BaseException | None = None
) -> None:
    """Record ``result`` (counts; documents with capture on) and end the span."""
    recorded: dict[str, object] = {}
    if result is not None:
        if result.returned is not None:
            recorded[semconv.DB_RESPONSE_RETURNED_ROWS] = result.returned
        if result.affected is not None:
            recorded[semconv.DB_RECORDS_AFFECTED] = result.affected
        if result.documents is not None and agent_state.config.capture_content:
            recorded[semconv.GEN_AI_RETRIEVAL_DOCUMENTS] = content_json(list(result.documents))
    end_span(span, error, recorded)


def _start(
    instrumentor: Instrumentor,
    describe: Callable[[object, tuple[object, ...], dict[str, object]], StoreCall | None],
    instance: object,
    args: tuple[object, ...],
    kwargs: dict,
) -> tuple[StoreCall, trace.Span] | None:
    try:
        call = describe(instance, args, kwargs)
        if call is None:
            return None
        return call, start_store_span(instrumentor.tracer, call)
    except Exception as exc:
        guard.handle(exc)
        return None


def _enter(span: trace.Span) -> tuple[object, object]:
    return context.attach(trace.set_span_in_context(span)), _inside_store_call.set(True)


def _exit(tokens: tuple[object, object]) -> None:
    otel_token, flag_token = tokens
    _inside_store_call.reset(flag_token)  # type: ignore[arg-type]
    context.detach(otel_token)  # type: ignore[arg-type]


def _end(
    span: trace.Span,
    call: StoreCall,
    result: object,
    read_result: Callable[[StoreCall, object], StoreResult | None],
    error: BaseException | None,
) -> None:
    found = None
    if error is None:
        with guard.internal_errors:
            found = read_result(call, result)
    with guard.internal_errors:
        end_store_span(span, found, error)
