"""pymilvus: one CLIENT span per ``MilvusClient`` / ``AsyncMilvusClient`` collection operation
(a Milvus server, Zilliz Cloud or Milvus Lite), with ``db.system.name`` ``milvus``.

``search`` and ``hybrid_search`` are ``retrieval {collection}`` spans; ``query``, ``get``,
``insert``, ``upsert`` and ``delete`` are ``{operation} {collection}``. The older ORM API
(``Collection.search``) is not covered.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from llmtrace_agent.toolkit.instrumentor import Wrapper


class MilvusInstrumentor(Instrumentor):
    """Traces ``MilvusClient``'s searches, queries and writes (database + GenAI retrieval)."""

    name = "pymilvus"
    targets = ("pymilvus",)
    requires = "pymilvus>=2.4.6,<4"

    def instrument(self, module: ModuleType) -> None:
        self.when_imported("pymilvus.milvus_client.milvus_client", self._patch_sync)
        self.when_imported("pymilvus.milvus_client.async_milvus_client", self._patch_async)

    def _patch_sync(self, module: ModuleType) -> None:
        from llmtrace_agent.toolkit.vector_store import store_wrapper

        if not self._patch(module, "MilvusClient", store_wrapper):
            raise RuntimeError("pymilvus has no MilvusClient.search to instrument")

    def _patch_async(self, module: ModuleType) -> None:
        from llmtrace_agent.toolkit.vector_store import async_store_wrapper

        self._patch(module, "AsyncMilvusClient", async_store_wrapper)

    def _patch(self, module: ModuleType, cls: str, make_wrapper: Callable[..., Wrapper]) -> bool:
        """Wrap each of ``cls``'s traced methods; whether it has ``search``."""
        from functools import partial

        from llmtrace_agent.instrumentors.pymilvus._operations import METHODS

        found = False
        for method, (describe, read) in METHODS.items():
            wrapper = make_wrapper(self, describe, partial(read, self))
            found |= self.wrap(module, f"{cls}.{method}", wrapper) and method == "search"
        return found


__all__ = ["MilvusInstrumentor"]
