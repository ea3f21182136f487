"""How each ``MilvusClient`` / ``AsyncMilvusClient`` method reads as a store operation: what its
arguments say (``describe``) and what its result says (``read``).

Every traced method takes the collection name first; both clients take the same arguments and
return the same shapes (a list per query of hit dicts; dicts of counts for writes).
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from llmtrace_agent.toolkit.readers import as_count, as_int, as_list, as_str, field
from llmtrace_agent.toolkit.vector_store import StoreCall, StoreResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from llmtrace_agent.toolkit.instrumentor import Instrumentor

    Args = tuple[object, ...]
    Kwargs = dict[str, object]
    Describe = Callable[[object, Args, Kwargs], StoreCall | None]
    Read = Callable[["Instrumentor", StoreCall, object], StoreResult | None]

SYSTEM = "milvus"
"""``db.system.name``: the registry has no value for Milvus."""

DEFAULT_LIMIT = 10
"""``search``'s default ``limit``."""

CONTENT_KEYS = ("text", "document", "page_content", "content")
"""Output fields holding a hit's text, recorded as its content with capture on (no other field,
and never a vector)."""


def _call(client: object, args: Args, kwargs: Kwargs, operation: str, **more: object) -> StoreCall:
    """The parts every operation shares: collection, database, server (pymilvus 2.6.10+ keeps
    the client's URI in ``_config``; Milvus Lite's is the loopback server it started)."""
    collection = args[0] if args else kwargs.get("collection_name")
    config = getattr(client, "_config", None)
    address, port = _server(getattr(config, "uri", None))
    return StoreCall(
        SYSTEM,
        operation,
        as_str(collection),
        namespace=as_str(getattr(config, "db_name", None)),
        server_address=address,
        server_port=port,
        **more,  # type: ignore[arg-type]
    )


@lru_cache(maxsize=16)
def _server(uri: object) -> tuple[str | None, int | None]:
    """Host and port of an ``http(s)://`` URI (a local file path has none)."""
    if not isinstance(uri, str) or not uri.startswith(("http://", "https://", "tcp://")):
        return None, None
    parts = urlsplit(uri)
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 19530)


def _second(args: Args, kwargs: Kwargs, name: str) -> object:
    """The parameter after the collection name, by position or by name."""
    return args[1] if len(args) > 1 else kwargs.get(name)


def _queries(data: object) -> tuple[int | None, object]:
    """How many queries ``search``'s ``data`` holds (vectors, or texts for a full-text
    search), and the text(s) to record as the query (content)."""
    shape = getattr(data, "shape", None)  # a numpy array
    if isinstance(shape, tuple) and shape:
        return (shape[0] if len(shape) > 1 else 1), None
    items = as_list(data)
    if not items:
        return None, None
    first = items[0]
    if isinstance(first, str):
        return len(items), (first if len(items) == 1 else items)
    if not hasattr(first, "__len__"):
        return 1, None  # one flat vector of (Python or numpy) numbers
    return len(items), None


# --- describe: the call's arguments ---------------------------------------------------------


def describe_search(client: object, args: Args, kwargs: Kwargs) -> StoreCall:
    queries, text = _queries(_second(args, kwargs, "data"))
    limit = kwargs.get("limit", DEFAULT_LIMIT if len(args) <= 3 else None)
    return _call(
        client,
        args,
        kwargs,
        "search",
        search=True,
        top_k=as_int(limit),
        batch_size=queries,
        query=text,
    )


def describe_hybrid_search(client: object, args: Args, kwargs: Kwargs) -> StoreCall:
    limit = kwargs.get("limit", DEFAULT_LIMIT if len(args) <= 3 else None)
    return _call(client, args, kwargs, "hybrid_search", search=True, top_k=as_int(limit))


def _describe(operation: str) -> Describe:
    def describe(client: object, args: Args, kwargs: Kwargs) -> StoreCall:
        return _call(client, args, kwargs, operation)

    return describe


# --- read: the call's result ----------------------------------------------------------------


def read_search(instrumentor: Instrumentor, call: StoreCall, result: object) -> StoreResult:
    """A list per query of hits (``{"id", "distance", "entity"}``)."""
    queries = as_list(result)
    if queries is None:
        return StoreResult()
    returned = sum(len(hits) for hits in queries if isinstance(hits, list))
    documents = None
    if instrumentor.config.capture_content:
        documents = [_document(hit) for hits in queries if isinstance(hits, list) for hit in hits]
    return StoreResult(returned=returned, documents=documents)


def _document(hit: object) -> dict[str, object]:
    """``{"id", "score", "content"?}`` of a hit: ``score`` is Milvus's ``distance`` (a
    similarity for COSINE and IP, a distance for L2)."""
    document: dict[str, object] = {"id": str(field(hit, "id"))}
    distance = field(hit, "distance")
    if isinstance(distance, (int, float)):
        document["score"] = distance
    entity = field(hit, "entity")
    if isinstance(entity, dict):
        for key in CONTENT_KEYS:
            content = entity.get(key)
            if isinstance(content, str):
                document["content"] = content
                break
    return document


def read_rows(instrumentor: Instrumentor, call: StoreCall, result: object) -> StoreResult:
    """``query`` / ``get``: a list of row dicts."""
    rows = as_list(result)
    return StoreResult(returned=len(rows) if rows is not None else None)


def _read_count(key: str) -> Read:
    """``insert``/``upsert``/``delete``: ``{key: n}``; ``delete`` on servers before 2.3.2 (and
    Milvus Lite) returns the deleted primary keys instead."""

    def read(instrumentor: Instrumentor, call: StoreCall, result: object) -> StoreResult:
        keys = as_list(result)
        if keys is not None:
            return StoreResult(affected=len(keys))
        return StoreResult(affected=as_count(field(result, key)))

    return read


METHODS: dict[str, tuple[Describe, Read]] = {
    "search": (describe_search, read_search),
    "hybrid_search": (describe_hybrid_search, read_search),
    "query": (_describe("query"), read_rows),
    "get": (_describe("get"), read_rows),
    "insert": (_describe("insert"), _read_count("insert_count")),
    "upsert": (_describe("upsert"), _read_count("upsert_count")),
    "delete": (_describe("delete"), _read_count("delete_count")),
}
"""The client methods traced, and how each reads."""
