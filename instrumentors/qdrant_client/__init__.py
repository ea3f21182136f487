"""qdrant_client: one CLIENT span per collection operation of ``QdrantClient`` and
``AsyncQdrantClient`` (local mode and remote), with ``db.system.name`` ``qdrant``.

Searches (``query_points``, ``query_batch_points``, ``query_points_groups``, and where the
installed release still has them ``search``, ``search_batch``, ``search_groups``,
``recommend``, ``recommend_batch``, ``recommend_groups``, ``discover``, ``discover_batch``) are
``retrieval {collection}`` spans; ``scroll``, ``retrieve``, ``count``, ``upsert`` and ``delete``
are ``{operation} {collection}``. A method the client implements through another traced one
(old releases' ``search`` over ``query_points``) makes one span, the outer one.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from llmtrace_agent.toolkit.instrumentor import Wrapper


class QdrantInstrumentor(Instrumentor):
    """Traces Qdrant's searches, reads and writes (database + GenAI retrieval)."""

    name = "qdrant_client"
    targets = ("qdrant_client",)
    requires = "qdrant-client>=1.10,<2"

    def instrument(self, module: ModuleType) -> None:
        self.when_imported("qdrant_client.qdrant_client", self._patch_sync)
        self.when_imported("qdrant_client.async_qdrant_client", self._patch_async)

    def _patch_sync(self, module: ModuleType) -> None:
        from llmtrace_agent.toolkit.vector_store import store_wrapper

        if not self._patch(module, "QdrantClient", store_wrapper):
            raise RuntimeError("qdrant_client has no QdrantClient.upsert to instrument")

    def _patch_async(self, module: ModuleType) -> None:
        from llmtrace_agent.toolkit.vector_store import async_store_wrapper

        self._patch(module, "AsyncQdrantClient", async_store_wrapper)

    def _patch(self, module: ModuleType, cls: str, make_wrapper: Callable[..., Wrapper]) -> bool:
        """Wrap each traced method ``cls`` has (releases add and remove some); whether it has
        ``upsert``."""
        from functools import partial

        from llmtrace_agent.instrumentors.qdrant_client._operations import METHODS

        found = False
        for method, (describe, read) in METHODS.items():
            wrapper = make_wrapper(self, describe, partial(read, self))
            found |= self.wrap(module, f"{cls}.{method}", wrapper) and method == "upsert"
        return found


__all__ = ["QdrantInstrumentor"]
