"""The psycopg span: one CLIENT span per ``execute`` / ``executemany``, following the database
conventions' PostgreSQL page; a pgvector similarity search also carries the GenAI retrieval
attributes and is named ``retrieval {table}``."""

from __future__ import annotations

import contextlib
from contextvars import ContextVar

from opentelemetry.trace import SpanKind, Status, StatusCode

from llmtrace_agent.instrumentors.psycopg.sql import shape_of
from llmtrace_agent.toolkit import guard, semconv
from llmtrace_agent.toolkit.genai.agent_spans import content_json
from llmtrace_agent.toolkit.genai.conventions import retrieval_top_k
from llmtrace_agent.toolkit.genai.delegation import RETRIEVAL, take

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from opentelemetry.trace import Span

    from llmtrace_agent.toolkit.instrumentor import Instrumentor, Wrapper

__all__ = ["async_execute_wrapper", "async_quiet_wrapper", "execute_wrapper", "quiet_wrapper"]

SYSTEM = "postgresql"
DEFAULT_PORT = 5432
MAX_DOCUMENTS = 100  # rows read back for gen_ai.retrieval.documents (capture on)

# True while psycopg runs queries of its own (TypeInfo.fetch looking up a type's OIDs, as
# pgvector's register_vector does): those are not the application's, and make no span.
_quiet: ContextVar[bool] = ContextVar("llmtrace_psycopg_quiet", default=False)


class _Started:
    """A span in flight with what its end needs."""

    __slots__ = ("capture", "search", "span")

    def __init__(self, span: Span, search: bool, capture: bool) -> None:
        self.span = span
        self.search = search
        """A similarity search: its rows are counted (and with ``capture`` read)."""
        self.capture = capture


def execute_wrapper(instrumentor: Instrumentor, many: bool) -> Wrapper:
    """A wrapt wrapper for ``Cursor.execute`` (``many``: ``executemany``)."""

    def wrapper(
        wrapped: Callable[..., object], instance: object, args: tuple[object, ...], kwargs: dict
    ) -> object:
        # Hot path: every query the application sends.
        if _quiet.get():
            return wrapped(*args, **kwargs)
        started = _start(instrumentor, instance, args, kwargs, many)
        if started is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _end(started, instance, exc)
            raise
        _end(started, instance, None)
        return result

    return wrapper


def async_execute_wrapper(instrumentor: Instrumentor, many: bool) -> Wrapper:
    """A wrapt wrapper for ``AsyncCursor.execute`` / ``executemany`` (``async def``)."""

    def wrapper(
        wrapped: Callable[..., Awaitable[object]],
        instance: object,
        args: tuple[object, ...],
        kwargs: dict,
    ) -> Awaitable[object]:
        if _quiet.get():
            return wrapped(*args, **kwargs)
        return traced(wrapped, instance, args, kwargs)

    async def traced(
        wrapped: Callable[..., Awaitable[object]],
        instance: object,
        args: tuple[object, ...],
        kwargs: dict,
    ) -> object:
        started = _start(instrumentor, instance, args, kwargs, many)
        if started is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _end(started, instance, exc)
            raise
        _end(started, instance, None)
        return result

    return wrapper


def quiet_wrapper(
    wrapped: Callable[..., object], instance: object, args: tuple[object, ...], kwargs: dict
) -> object:
    """Run psycopg's own look-up queries (``TypeInfo.fetch``) without spans."""
    token = _quiet.set(True)
    try:
        return wrapped(*args, **kwargs)
    finally:
        _quiet.reset(token)


def async_quiet_wrapper(
    wrapped: Callable[..., Awaitable[object]],
    instance: object,
    args: tuple[object, ...],
    kwargs: dict,
) -> Awaitable[object]:
    """``quiet_wrapper`` for ``TypeInfo._fetch_async``."""

    async def quietly() -> object:
        token = _quiet.set(True)
        try:
            return await wrapped(*args, **kwargs)
        finally:
            _quiet.reset(token)

    return quietly()


def _start(
    instrumentor: Instrumentor,
    cursor: object,
    args: tuple[object, ...],
    kwargs: dict,
    many: bool,
) -> _Started | None:
    try:
        query = args[0] if args else kwargs.get("query")
        params = args[1] if len(args) > 1 else kwargs.get("params_seq" if many else "params")
        text = _text_of(query, cursor)
        if text is None:
            return None
        shape = shape_of(text)
        attributes: dict[str, object] = {semconv.DB_SYSTEM_NAME: SYSTEM}
        _connection_attributes(cursor, attributes)
        batch = None
        if many and hasattr(params, "__len__"):
            batch = len(params)  # type: ignore[arg-type]
        summary = shape.summary
        if summary and batch is not None and batch >= 2:
            summary = f"BATCH {summary}"
            attributes[semconv.DB_OPERATION_BATCH_SIZE] = batch
        # Parameterized text as sent; a text sent without parameters may hold literal values.
        attributes[semconv.DB_QUERY_TEXT] = text if params is not None else shape.sanitized
        if summary:
            attributes[semconv.DB_QUERY_SUMMARY] = summary
        table = shape.search_table
        if table is not None and not many:
            offered = take(RETRIEVAL)  # a framework's retriever above: its attributes
            if offered:
                attributes = {**offered, **attributes}
            attributes[semconv.GEN_AI_OPERATION_NAME] = "retrieval"
            attributes[semconv.GEN_AI_DATA_SOURCE_ID] = table
            limit = retrieval_top_k(shape.top_k(params))
            if limit is not None:
                attributes[limit[0]] = limit[1]
            name = f"retrieval {table}"
        else:
            name = summary or _target(attributes) or SYSTEM
        span = instrumentor.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)  # type: ignore[arg-type]
        search = table is not None and not many
        return _Started(span, search, search and instrumentor.config.capture_content)
    except Exception as exc:
        guard.handle(exc)
        return None


def _text_of(query: object, cursor: object) -> str | None:
    """The query text as psycopg sends it: a ``str``, ``bytes``, or an ``sql.Composable``."""
    if isinstance(query, str):
        return query
    if isinstance(query, (bytes, bytearray, memoryview)):
        return bytes(query).decode("utf-8", "replace")
    as_string = getattr(query, "as_string", None)  # psycopg.sql.SQL / Composed
    if as_string is not None:
        text = as_string(cursor)
        return text if isinstance(text, str) else None
    return None


def _connection_attributes(cursor: object, attributes: dict[str, object]) -> None:
    """``db.namespace`` (the database), ``server.address`` / ``server.port``, read from the
    connection's libpq state (no query)."""
    connection = getattr(cursor, "connection", None)
    if connection is None or getattr(connection, "closed", True):
        return
    info = connection.info
    if info.dbname:
        attributes[semconv.DB_NAMESPACE] = info.dbname
    host = info.host
    if host:
        attributes[semconv.SERVER_ADDRESS] = host
        port = info.port
        if port:
            attributes[semconv.SERVER_PORT] = port


def _target(attributes: dict[str, object]) -> str | None:
    """The span name's ``{target}`` when the query gave no summary: the database."""
    namespace = attributes.get(semconv.DB_NAMESPACE)
    return namespace if isinstance(namespace, str) else None


def _end(started: _Started, cursor: object, error: BaseException | None) -> None:
    with guard.internal_errors:
        span = started.span
        if error is not None:
            _record_error(span, error)
        elif started.search:
            _record_rows(span, cursor, started.capture)
        span.end()


def _record_error(span: Span, error: BaseException) -> None:
    """``db.response.status_code`` and ``error.type``: the SQLSTATE when the server sent one
    (the conventions prefer the database's code), else the exception's class."""
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        span.set_attribute(semconv.DB_RESPONSE_STATUS_CODE, sqlstate)
        error_type = sqlstate
    else:
        cls = type(error)
        error_type = f"{cls.__module__}.{cls.__qualname__}"
    span.set_attribute(semconv.ERROR_TYPE, error_type)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:1024]))
    if isinstance(error, Exception):
        span.record_exception(error)


def _record_rows(span: Span, cursor: object, capture: bool) -> None:
    """A similarity search's ``db.response.returned_rows`` and, with capture on, the ids and
    distances of the rows (read from the result the client already holds, without moving the
    application's cursor)."""
    rowcount = getattr(cursor, "rowcount", -1)
    if not isinstance(rowcount, int) or rowcount < 0:
        return
    if getattr(cursor, "name", None):  # a server-side cursor: rows are fetched later
        return
    span.set_attribute(semconv.DB_RESPONSE_RETURNED_ROWS, rowcount)
    if capture:
        documents = _documents(cursor, rowcount)
        if documents:
            span.set_attribute(semconv.GEN_AI_RETRIEVAL_DOCUMENTS, content_json(documents))


_ID_COLUMNS = ("id", "uuid", "pk", "key")
_SCORE_COLUMNS = ("score", "distance", "similarity", "dist")


def _documents(cursor: object, rowcount: int) -> list[dict[str, object]]:
    """``[{"id", "score"}]`` from the columns named like an id and a distance or score."""
    description = getattr(cursor, "description", None)
    result = getattr(cursor, "pgresult", None)
    if not description or result is None:
        return []
    names = [str(getattr(column, "name", "")).lower() for column in description]
    id_column = next((i for i, name in enumerate(names) if name in _ID_COLUMNS), None)
    score_column = next((i for i, name in enumerate(names) if name in _SCORE_COLUMNS), None)
    if id_column is None or result.fformat(id_column) != 0:  # binary results: not text
        return []
    if score_column is not None and result.fformat(score_column) != 0:
        score_column = None
    documents: list[dict[str, object]] = []
    for row in range(min(rowcount, result.ntuples, MAX_DOCUMENTS)):
        document: dict[str, object] = {"id": _text(result.get_value(row, id_column))}
        if score_column is not None:
            score = _text(result.get_value(row, score_column))
            with contextlib.suppress(TypeError, ValueError):
                document["score"] = float(score)  # type: ignore[arg-type]
        documents.append(document)
    return documents


def _text(value: bytes | None) -> str | None:
    return None if value is None else bytes(value).decode("utf-8", "replace")
