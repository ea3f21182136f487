"""How each Pinecone data-plane method reads as a store operation (``toolkit.vector_store``)."""

from __future__ import annotations

import weakref
from urllib.parse import urlsplit

from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.guard import internal_errors
from llmtrace_agent.toolkit.vector_store import StoreCall, StoreResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

SYSTEM = "pinecone"
MAX_DOCUMENTS = 100

# Index client -> the name the application opened it by (Pinecone.index(name=…)).
_names: weakref.WeakKeyDictionary[object, str] = weakref.WeakKeyDictionary()
_hosts: dict[str, tuple[str | None, str | None, int | None]] = {}


def remember_index_name(
    wrapped: Callable[..., object], instance: object, args: tuple[object, ...], kwargs: dict
) -> object:
    """``Pinecone.index(name=…)``: keep the name for the index client it returns."""
    index = wrapped(*args, **kwargs)
    with internal_errors:
        name = args[0] if args else kwargs.get("name")
        if isinstance(name, str) and name:
            _names[index] = name
    return index


def _index_of(instance: object) -> tuple[str | None, str | None, int | None]:
    """(index name, server address, server port) of an index client."""
    host = getattr(instance, "_host", None)  # 9.x, 10.x
    if host is None:
        host = getattr(getattr(instance, "_config", None), "host", None)  # 7.x, 8.x
    if not isinstance(host, str):
        return _names.get(instance), None, None
    known = _hosts.get(host)
    if known is None:
        parts = urlsplit(host if "://" in host else f"https://{host}")
        address = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        name = None
        if address and address.endswith(".pinecone.io"):  # {name}-{project}.svc.…
            name = address.split(".", 1)[0].rsplit("-", 1)[0] or None
        known = _hosts[host] = (name, address, port)
    name = _names.get(instance)
    return (name or known[0]), known[1], known[2]


def _call(instance: object, operation: str, kwargs: dict, **extra: object) -> StoreCall:
    name, address, port = _index_of(instance)
    namespace = kwargs.get("namespace")
    attributes = {semconv.PINECONE_NAMESPACE: namespace} if namespace else None
    return StoreCall(
        SYSTEM,
        operation,
        name,
        server_address=address,
        server_port=port,
        attributes=attributes,  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


def describe_query(instance: object, args: tuple[object, ...], kwargs: dict) -> StoreCall:
    top_k = kwargs.get("top_k")
    return _call(
        instance, "query", kwargs, search=True, top_k=top_k if isinstance(top_k, int) else None
    )


def describe_upsert(instance: object, args: tuple[object, ...], kwargs: dict) -> StoreCall:
    return _call(instance, "upsert", kwargs)


def describe_fetch(instance: object, args: tuple[object, ...], kwargs: dict) -> StoreCall:
    return _call(instance, "fetch", kwargs)


def describe_delete(instance: object, args: tuple[object, ...], kwargs: dict) -> StoreCall:
    return _call(instance, "delete", kwargs)


DESCRIBE = {
    "query": describe_query,
    "upsert": describe_upsert,
    "fetch": describe_fetch,
    "delete": describe_delete,
}


def read_result(call: StoreCall, result: object) -> StoreResult | None:
    """Matches (ids and scores, never values or metadata), vectors fetched, vectors upserted."""
    if call.operation == "query":
        matches = getattr(result, "matches", None)
        if not isinstance(matches, list):
            return None
        documents = [
            {"id": getattr(match, "id", None), "score": getattr(match, "score", None)}
            for match in matches[:MAX_DOCUMENTS]
        ]
        return StoreResult(returned=len(matches), documents=documents)
    if call.operation == "fetch":
        vectors = getattr(result, "vectors", None)
        return StoreResult(returned=len(vectors)) if isinstance(vectors, dict) else None
    if call.operation == "upsert":
        count = getattr(result, "upserted_count", None)
        return StoreResult(affected=count) if isinstance(count, int) else None
    return None
