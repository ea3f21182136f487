"""weaviate: one CLIENT span per collection search or write of the v4 ``weaviate-client``, on the
shared vector-store spans (``toolkit.vector_store``): ``query.near_vector`` / ``near_text`` /
``hybrid`` / ``bm25`` are ``retrieval {collection}``; ``data.insert_many`` / ``insert`` /
``delete_many`` are ``{operation} {collection}``.

The v4 client serves its sync and async clients with one executor class per API
(``_NearVectorQueryExecutor``…), whose methods return the result, or an awaitable of it on an
async connection: those methods are wrapped (``either_store_wrapper``), so both clients are
traced by one patch.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

# module, class, method: the executors of the traced operations.
_QUERIES = "weaviate.collections.queries"
EXECUTORS = (
    (f"{_QUERIES}.near_vector.query.executor", "_NearVectorQueryExecutor", "near_vector"),
    (f"{_QUERIES}.near_text.query.executor", "_NearTextQueryExecutor", "near_text"),
    (f"{_QUERIES}.hybrid.query.executor", "_HybridQueryExecutor", "hybrid"),
    (f"{_QUERIES}.bm25.query.executor", "_BM25QueryExecutor", "bm25"),
    ("weaviate.collections.data.executor", "_DataCollectionExecutor", "insert_many"),
    ("weaviate.collections.data.executor", "_DataCollectionExecutor", "insert"),
    ("weaviate.collections.data.executor", "_DataCollectionExecutor", "delete_many"),
)


class WeaviateInstrumentor(Instrumentor):
    """Traces weaviate-client v4 collection searches and writes."""

    name = "weaviate"
    targets = ("weaviate",)
    requires = "weaviate-client>=4.14,<5"  # 4.14: one executor class per API

    def instrument(self, module: ModuleType) -> None:
        for module_name in dict.fromkeys(name for name, _, _ in EXECUTORS):
            self.when_imported(module_name, self._patch)

    def _patch(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.weaviate.operations import DESCRIBE, read_result
        from llmtrace_agent.toolkit.vector_store import either_store_wrapper

        for module_name, cls, method in EXECUTORS:
            if module_name == module.__name__:
                wrapper = either_store_wrapper(self, DESCRIBE[method], read_result)
                self.wrap(module, f"{cls}.{method}", wrapper)


__all__ = ["WeaviateInstrumentor"]
