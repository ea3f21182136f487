"""How each weaviate-client v4 executor method reads as a store operation
(``toolkit.vector_store``)."""

from __future__ import annotations

from llmtrace_agent.toolkit.vector_store import StoreCall, StoreResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Describe = Callable[[object, tuple[object, ...], dict], StoreCall]

SYSTEM = "weaviate"
MAX_DOCUMENTS = 100


def _call(instance: object, operation: str, **extra: object) -> StoreCall:
    name = getattr(instance, "_name", None) or getattr(instance, "name", None)
    address = port = None
    params = getattr(getattr(instance, "_connection", None), "_connection_params", None)
    # Searches and batches go over gRPC, a single insert over REST.
    server = getattr(params, "http" if operation == "insert" else "grpc", None)
    if server is not None:
        address, port = getattr(server, "host", None), getattr(server, "port", None)
    return StoreCall(
        SYSTEM,
        operation,
        name if isinstance(name, str) else None,
        server_address=address if isinstance(address, str) else None,
        server_port=port if isinstance(port, int) else None,
        **extra,  # type: ignore[arg-type]
    )


def _search(operation: str, has_text: bool) -> Describe:
    def describe(instance: object, args: tuple[object, ...], kwargs: dict) -> StoreCall:
        limit = kwargs.get("limit")
        # near_text's query may be several concepts: one query all the same.
        query = (args[0] if args else kwargs.get("query")) if has_text else None
        return _call(
            instance,
            operation,
            search=True,
            top_k=limit if isinstance(limit, int) else None,
            query=query if isinstance(query, (str, list)) else None,
        )

    return describe


def describe_write(operation: str) -> Describe:
    def describe(instance: object, args: tuple[object, ...], kwargs: dict) -> StoreCall:
        return _call(instance, operation)

    return describe


DESCRIBE = {
    "near_vector": _search("near_vector", has_text=False),
    "near_text": _search("near_text", has_text=True),
    "hybrid": _search("hybrid", has_text=True),
    "bm25": _search("bm25", has_text=True),
    "insert_many": describe_write("insert_many"),
    "insert": describe_write("insert"),
    "delete_many": describe_write("delete_many"),
}


def read_result(call: StoreCall, result: object) -> StoreResult | None:
    """Objects found (uuids and distances or scores, never vectors or properties), objects
    written or deleted."""
    if call.search:
        objects = getattr(result, "objects", None)
        if not isinstance(objects, list):
            return None
        return StoreResult(returned=len(objects), documents=_documents(objects))
    if call.operation == "insert_many":
        uuids = getattr(result, "uuids", None)
        return StoreResult(affected=len(uuids)) if isinstance(uuids, dict) else None
    if call.operation == "insert":
        return StoreResult(affected=1)
    if call.operation == "delete_many":
        deleted = getattr(result, "successful", None)
        return StoreResult(affected=deleted) if isinstance(deleted, int) else None
    return None


def _documents(objects: list[object]) -> list[dict[str, object]]:
    documents: list[dict[str, object]] = []
    for found in objects[:MAX_DOCUMENTS]:
        metadata = getattr(found, "metadata", None)
        score = None
        for field in ("distance", "score", "certainty"):  # whichever the query asked for
            value = getattr(metadata, field, None)
            if isinstance(value, (int, float)):
                score = value
                break
        document: dict[str, object] = {"id": str(getattr(found, "uuid", ""))}
        if score is not None:
            document["score"] = score
        documents.append(document)
    return documents
