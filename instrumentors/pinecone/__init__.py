"""pinecone: one CLIENT span per data-plane operation of a Pinecone index, on the shared
vector-store spans (``toolkit.vector_store``): ``query`` is ``retrieval {index}``; ``upsert``,
``fetch`` and ``delete`` are ``{operation} {index}``; sync ``Index`` and asyncio ``AsyncIndex``.

The SDK's 10.x rewrite (``pinecone.index.Index``, ``pinecone.async_client.async_index``), whose
data-plane methods take keyword arguments only. The index's name is the one given to
``Pinecone.index(name=…)`` / ``Pinecone.Index(name=…)``, else read from its host
(``{name}-{project}.svc.{region}.pinecone.io``).
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

OPERATIONS = ("query", "upsert", "fetch", "delete")


class PineconeInstrumentor(Instrumentor):
    """Traces Pinecone index queries, upserts, fetches and deletes."""

    name = "pinecone"
    targets = ("pinecone",)
    requires = "pinecone>=9,<11"

    def instrument(self, module: ModuleType) -> None:
        self.when_imported("pinecone.index", self._patch_index)
        self.when_imported("pinecone.async_client.async_index", self._patch_async_index)
        self.when_imported("pinecone._client", self._patch_client)

    def _patch_index(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.pinecone.operations import DESCRIBE, read_result
        from llmtrace_agent.toolkit.vector_store import store_wrapper

        for operation in OPERATIONS:
            wrapper = store_wrapper(self, DESCRIBE[operation], read_result)
            self.wrap(module, f"Index.{operation}", wrapper)

    def _patch_async_index(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.pinecone.operations import DESCRIBE, read_result
        from llmtrace_agent.toolkit.vector_store import async_store_wrapper

        for operation in OPERATIONS:
            wrapper = async_store_wrapper(self, DESCRIBE[operation], read_result)
            self.wrap(module, f"AsyncIndex.{operation}", wrapper)

    def _patch_client(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.pinecone.operations import remember_index_name

        self.wrap(module, "Pinecone.index", remember_index_name)
        self.wrap(module, "Pinecone.Index", remember_index_name)


__all__ = ["PineconeInstrumentor"]
