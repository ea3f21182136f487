"""How each Chroma collection method reads as a store operation: what its arguments say
(``describe``) and what its result says (``read``).

The same functions serve ``Collection`` and ``AsyncCollection``: both take the same arguments
and return the same shapes (``QueryResult``/``GetResult`` dicts of per-record lists).
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from llmtrace_agent.toolkit.readers import as_int, as_list, as_str
from llmtrace_agent.toolkit.vector_store import StoreCall, StoreResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from llmtrace_agent.toolkit.instrumentor import Instrumentor

    Args = tuple[object, ...]
    Kwargs = dict[str, object]
    Describe = Callable[[object, Args, Kwargs], StoreCall | None]
    Read = Callable[["Instrumentor", StoreCall, object], StoreResult | None]

SYSTEM = "chroma"
"""``db.system.name``: the registry has no value for Chroma."""

DEFAULT_N_RESULTS = 10
"""``Collection.query``'s default ``n_results``."""


def _call(collection: object, operation: str, **details: object) -> StoreCall:
    """The parts every operation shares: collection, database, and the server of an HTTP client."""
    address, port = _server(getattr(getattr(collection, "_client", None), "_api_url", None))
    return StoreCall(
        SYSTEM,
        operation,
        as_str(getattr(collection, "name", None)),
        namespace=as_str(getattr(collection, "database", None)),
        server_address=address,
        server_port=port,
        **details,  # type: ignore[arg-type]
    )


@lru_cache(maxsize=16)
def _server(api_url: object) -> tuple[str | None, int | None]:
    """Host and port of an HTTP client's API URL (in-process clients have none)."""
    if not isinstance(api_url, str):
        return None, None
    parts = urlsplit(api_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname, port


def _argument(args: Args, kwargs: Kwargs, name: str) -> object:
    """The method's first parameter, passed by position or by name."""
    return args[0] if args else kwargs.get(name)


def _records(value: object) -> int | None:
    """How many records ``OneOrMany[ID]`` / ``OneOrMany[Document]`` names."""
    if isinstance(value, str):
        return 1
    items = as_list(value)
    return len(items) if items is not None else None


def _vectors(value: object) -> int | None:
    """How many embeddings ``OneOrMany[Embedding]`` holds (lists or a numpy array)."""
    shape = getattr(value, "shape", None)  # numpy: (n, dim) or (dim,)
    if isinstance(shape, tuple) and shape:
        return shape[0] if len(shape) > 1 else 1
    items = as_list(value)
    if items is None:
        return None
    if items and not hasattr(items[0], "__len__"):
        return 1  # one embedding: a list of numbers (Python or numpy scalars)
    return len(items)


# --- describe: the call's arguments ---------------------------------------------------------


def describe_query(instance: object, args: Args, kwargs: Kwargs) -> StoreCall:
    """A search: as many queries as texts, embeddings, images or URIs; ``n_results`` each."""
    texts = kwargs.get("query_texts")
    queries = _records(texts) if texts is not None else None
    if queries is None:
        embeddings = _argument(args, kwargs, "query_embeddings")
        queries = _vectors(embeddings) if embeddings is not None else None
    if queries is None:
        queries = _records(kwargs.get("query_images")) or _records(kwargs.get("query_uris"))
    if isinstance(texts, (list, tuple)) and len(texts) == 1:
        texts = texts[0]
    n_results = kwargs.get("n_results", DEFAULT_N_RESULTS)
    return _call(
        instance,
        "query",
        search=True,
        top_k=as_int(n_results),
        batch_size=queries,
        query=texts,
    )


def _describe(operation: str) -> Describe:
    def describe(instance: object, args: Args, kwargs: Kwargs) -> StoreCall:
        return _call(instance, operation)

    return describe


def _describe_write(operation: str) -> Describe:
    """``add``/``upsert``/``update``: the ids sent count the records written."""

    def describe(instance: object, args: Args, kwargs: Kwargs) -> StoreCall:
        return _call(instance, operation, records=_records(_argument(args, kwargs, "ids")))

    return describe


# --- read: the call's result ----------------------------------------------------------------


def read_query(instrumentor: Instrumentor, call: StoreCall, result: object) -> StoreResult:
    """``QueryResult``: one list per query of ids, distances, documents."""
    ids = as_list(result.get("ids")) if isinstance(result, dict) else None
    if ids is None:
        return StoreResult()
    returned = sum(len(per_query) for per_query in ids if isinstance(per_query, list))
    documents = None
    if instrumentor.config.capture_content:
        documents = _documents(ids, result.get("distances"), result.get("documents"))  # type: ignore[union-attr]
    return StoreResult(returned=returned, documents=documents)


def _documents(ids: list | tuple, distances: object, texts: object) -> list[dict[str, object]]:
    """``[{"id", "score", "content"}]`` over every query's results (``score`` is Chroma's
    distance: lower is closer)."""
    documents: list[dict[str, object]] = []
    distances = as_list(distances) or ()
    texts = as_list(texts) or ()
    for q, per_query in enumerate(ids):
        scores = as_list(distances[q]) if q < len(distances) else None
        contents = as_list(texts[q]) if q < len(texts) else None
        for i, record_id in enumerate(per_query):
            document: dict[str, object] = {"id": str(record_id)}
            if scores is not None and i < len(scores):
                document["score"] = float(scores[i])  # type: ignore[arg-type]
            if contents is not None and i < len(contents) and contents[i] is not None:
                document["content"] = contents[i]
            documents.append(document)
    return documents


def read_get(instrumentor: Instrumentor, call: StoreCall, result: object) -> StoreResult:
    """``GetResult``: the records' ids (documents are not a search's: not recorded)."""
    ids = as_list(result.get("ids")) if isinstance(result, dict) else None
    return StoreResult(returned=len(ids) if ids is not None else None)


def read_nothing(instrumentor: Instrumentor, call: StoreCall, result: object) -> None:
    return None


def read_write(instrumentor: Instrumentor, call: StoreCall, result: object) -> StoreResult:
    """``add``/``upsert``/``update`` return None: the records sent."""
    return StoreResult(affected=call.records)


def read_delete(instrumentor: Instrumentor, call: StoreCall, result: object) -> StoreResult:
    """``{"deleted": n}`` since chromadb 1.1; None before (no count then)."""
    deleted = result.get("deleted") if isinstance(result, dict) else None
    return StoreResult(affected=as_int(deleted))


METHODS: dict[str, tuple[Describe, Read]] = {
    "query": (describe_query, read_query),
    "get": (_describe("get"), read_get),
    "count": (_describe("count"), read_nothing),
    "add": (_describe_write("add"), read_write),
    "upsert": (_describe_write("upsert"), read_write),
    "update": (_describe_write("update"), read_write),
    "delete": (_describe("delete"), read_delete),
}
"""The ``Collection`` / ``AsyncCollection`` methods traced, and how each reads."""
