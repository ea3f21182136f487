"""pinecone: one CLIENT span per data-plane operation of a Pinecone index, on the shared
vector-store spans (``toolkit.vector_store``): ``query`` is ``retrieval {index}``; ``upsert``,
``fetch`` and ``delete`` are ``{operation} {index}``; sync ``Index`` and asyncio ``AsyncIndex``.

The index clients: ``pinecone.index.Index`` and ``pinecone.async_client.async_index.AsyncIndex``
(9.x, 10.x), ``pinecone.db_data.index.Index`` and ``…index_asyncio._IndexAsyncio`` (7.x, 8.x).
The index's name is the one given to
``Pinecone.index(name=…)`` / ``Pinecone.Index(name=…)``, else read from its host
(``{name}-{project}.svc.{region}.pinecone.io``).
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

OPERATIONS = ("query", "upsert", "fetch", "delete")
# module, index class, asyncio: where each SDK generation keeps its index clients.
INDEX_CLASSES = (
    ("pinecone.index", "Index", False),  # 9.x, 10.x
    ("pinecone.async_client.async_index", "AsyncIndex", True),
    ("pinecone.db_data.index", "Index", False),  # 7.x, 8.x
    ("pinecone.db_data.index_asyncio", "_IndexAsyncio", True),
)
CLIENT_MODULES = ("pinecone._client", "pinecone.pinecone")  # Pinecone.index / Index


class PineconeInstrumentor(Instrumentor):
    """Traces Pinecone index queries, upserts, fetches and deletes."""

    name = "pinecone"
    targets = ("pinecone",)
    requires = "pinecone>=7,<11"

    def instrument(self, module: ModuleType) -> None:
        for module_name, cls, asynchronous in INDEX_CLASSES:
            self.when_imported(module_name, self._index_patcher(cls, asynchronous))
        for module_name in CLIENT_MODULES:
            self.when_imported(module_name, self._patch_client)

    def _index_patcher(self, cls: str, asynchronous: bool) -> Callable[[ModuleType], None]:
        def patch(module: ModuleType) -> None:
            from llmtrace_agent.instrumentors.pinecone.operations import DESCRIBE, read_result
            from llmtrace_agent.toolkit.vector_store import async_store_wrapper, store_wrapper

            make_wrapper = async_store_wrapper if asynchronous else store_wrapper
            for operation in OPERATIONS:
                wrapper = make_wrapper(self, DESCRIBE[operation], read_result)
                self.wrap(module, f"{cls}.{operation}", wrapper)

        return patch

    def _patch_client(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.pinecone.operations import remember_index_name

        self.wrap(module, "Pinecone.index", remember_index_name)
        self.wrap(module, "Pinecone.Index", remember_index_name)


__all__ = ["PineconeInstrumentor"]
