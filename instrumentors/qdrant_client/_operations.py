"""How each ``QdrantClient`` / ``AsyncQdrantClient`` method reads as a store operation: what its
arguments say (``describe``) and what its result says (``read``).

Every traced method takes the collection name first. Releases differ in which search methods
they have (1.x before 1.16 has ``search``/``recommend``/``discover``; later ones only the
``query_*`` family), so the table lists them all and the instrumentor wraps those present.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.readers import as_int, as_list, as_str, field
from llmtrace_agent.toolkit.vector_store import StoreCall, StoreResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from llmtrace_agent.toolkit.instrumentor import Instrumentor

    Args = tuple[object, ...]
    Kwargs = dict[str, object]
    Describe = Callable[[object, Args, Kwargs], StoreCall | None]
    Read = Callable[["Instrumentor", StoreCall, object], StoreResult | None]

SYSTEM = "qdrant"
"""``db.system.name``: the registry has no value for Qdrant."""

DEFAULT_LIMIT = 10
"""The searches' default ``limit``."""

CONTENT_KEYS = ("document", "text", "page_content", "content")
"""Payload keys holding a point's text (Qdrant's own, LangChain's, LlamaIndex's…): recorded as
a document's content with capture on. The rest of the payload never is."""


def _call(client: object, args: Args, kwargs: Kwargs, operation: str, **more: object) -> StoreCall:
    """The parts every operation shares: collection, and the server of a remote client."""
    collection = args[0] if args else kwargs.get("collection_name")
    remote = getattr(client, "_client", None)
    host = as_str(getattr(remote, "_host", None))  # QdrantRemote; local mode has none
    port = None
    if host is not None:
        grpc = getattr(remote, "_prefer_grpc", False)
        port = as_int(getattr(remote, "_grpc_port" if grpc else "_port", None))
    return StoreCall(
        SYSTEM,
        operation,
        as_str(collection),
        server_address=host,
        server_port=port,
        **more,  # type: ignore[arg-type]
    )


def _limit(args: Args, kwargs: Kwargs) -> int | None:
    """``limit`` by name, else the default when no later parameter came by position."""
    if "limit" in kwargs:
        return as_int(kwargs["limit"])
    return DEFAULT_LIMIT if len(args) <= 2 else None


def _count(value: object) -> int | None:
    """Ids or points sent: a list, or a model holding one (``Batch.ids``,
    ``PointIdsList.points``); None for a filter."""
    items = as_list(value)
    if items is None:
        items = as_list(field(value, "ids")) or as_list(field(value, "points"))
    return len(items) if items is not None else None


def _query_text(query: object) -> str | None:
    """The text of a ``models.Document`` query (embedded by Qdrant's inference)."""
    return as_str(query) or as_str(getattr(query, "text", None))


# --- describe: the call's arguments ---------------------------------------------------------


def _describe_search(operation: str, query_at: int | None = 1) -> Describe:
    """One search; ``query_at``: the position of its query parameter (``query``), if any."""

    def describe(client: object, args: Args, kwargs: Kwargs) -> StoreCall:
        query = None
        if query_at is not None:
            query = args[query_at] if len(args) > query_at else kwargs.get("query")
        return _call(
            client,
            args,
            kwargs,
            operation,
            search=True,
            top_k=_limit(args, kwargs),
            query=_query_text(query),
        )

    return describe


def _describe_batch(operation: str) -> Describe:
    """A batch of searches: one span, the batch size, the limit they share."""

    def describe(client: object, args: Args, kwargs: Kwargs) -> StoreCall:
        requests = as_list(args[1] if len(args) > 1 else kwargs.get("requests")) or ()
        limits = {as_int(field(request, "limit")) for request in requests}
        return _call(
            client,
            args,
            kwargs,
            operation,
            search=True,
            batch_size=len(requests),
            top_k=limits.pop() if len(limits) == 1 else None,
        )

    return describe


def _describe(operation: str) -> Describe:
    def describe(client: object, args: Args, kwargs: Kwargs) -> StoreCall:
        return _call(client, args, kwargs, operation)

    return describe


def _describe_write(operation: str, records: str) -> Describe:
    """``upsert``/``delete``: the points or ids sent (parameter ``records``) count the records."""

    def describe(client: object, args: Args, kwargs: Kwargs) -> StoreCall:
        sent = args[1] if len(args) > 1 else kwargs.get(records)
        return _call(client, args, kwargs, operation, records=_count(sent))

    return describe


# --- read: the call's result ----------------------------------------------------------------


def _hit_lists(result: object) -> list:
    """The points of each query: ``QueryResponse.points``, ``GroupsResult.groups[].hits``, a
    list of points (``search``), or a list of either (the batches)."""
    points = getattr(result, "points", None)
    if points is not None:
        return [points]
    groups = getattr(result, "groups", None)
    if groups is not None:
        return [getattr(group, "hits", None) or [] for group in groups]
    items = as_list(result)
    if not items:
        return [items] if items is not None else []
    first = items[0]
    if isinstance(first, list):
        return items
    if hasattr(first, "points"):
        return [item.points for item in items]
    return [items]


def read_search(instrumentor: Instrumentor, call: StoreCall, result: object) -> StoreResult:
    hits = _hit_lists(result)
    returned = sum(len(points) for points in hits)
    documents = None
    if instrumentor.config.capture_content:
        documents = [_document(point) for points in hits for point in points]
    return StoreResult(returned=returned, documents=documents)


def _document(point: object) -> dict[str, object]:
    """``{"id", "score", "content"?}`` of a scored point (never its vector or whole payload)."""
    document: dict[str, object] = {"id": str(getattr(point, "id", ""))}
    score = getattr(point, "score", None)
    if isinstance(score, (int, float)):
        document["score"] = score
    payload = getattr(point, "payload", None)
    if isinstance(payload, dict):
        for key in CONTENT_KEYS:
            content = payload.get(key)
            if isinstance(content, str):
                document["content"] = content
                break
    return document


def read_records(instrumentor: Instrumentor, call: StoreCall, result: object) -> StoreResult:
    """``retrieve``: a list of records; ``scroll``: ``(records, next offset)``."""
    if isinstance(result, tuple) and result:
        result = result[0]
    records = as_list(result)
    return StoreResult(returned=len(records) if records is not None else None)


def read_nothing(instrumentor: Instrumentor, call: StoreCall, result: object) -> None:
    return None


def read_write(instrumentor: Instrumentor, call: StoreCall, result: object) -> StoreResult:
    """``UpdateResult`` counts nothing: the records sent."""
    return StoreResult(affected=call.records)


METHODS: dict[str, tuple[Describe, Read]] = {
    "query_points": (_describe_search("query_points"), read_search),
    "query_batch_points": (_describe_batch("query_batch_points"), read_search),
    "query_points_groups": (_describe_search("query_points_groups", query_at=2), read_search),
    "search": (_describe_search("search", query_at=None), read_search),
    "search_batch": (_describe_batch("search_batch"), read_search),
    "search_groups": (_describe_search("search_groups", query_at=None), read_search),
    "recommend": (_describe_search("recommend", query_at=None), read_search),
    "recommend_batch": (_describe_batch("recommend_batch"), read_search),
    "recommend_groups": (_describe_search("recommend_groups", query_at=None), read_search),
    "discover": (_describe_search("discover", query_at=None), read_search),
    "discover_batch": (_describe_batch("discover_batch"), read_search),
    "scroll": (_describe("scroll"), read_records),
    "retrieve": (_describe("retrieve"), read_records),
    "count": (_describe("count"), read_nothing),
    "upsert": (_describe_write("upsert", "points"), read_write),
    "delete": (_describe_write("delete", "points_selector"), read_write),
}
"""The client methods traced (those the installed release has), and how each reads."""
