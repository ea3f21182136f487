"""chromadb: one CLIENT span per ``Collection`` operation of the ``chromadb`` client, with
``db.system.name`` ``chroma``.

Covered, on ``Collection`` (in-process, persistent and HTTP clients) and ``AsyncCollection``
(``AsyncHttpClient``): ``query`` (a ``retrieval {collection}`` span), ``get``, ``add``,
``upsert``, ``update``, ``delete`` and ``count``. The span is current while Chroma works, so
the embedding call its embedding function makes (OpenAI's, traced by that instrumentor) is
its child.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from llmtrace_agent.toolkit.instrumentor import Wrapper


class ChromaInstrumentor(Instrumentor):
    """Traces Chroma's collection reads, searches and writes (database + GenAI retrieval)."""

    name = "chromadb"
    targets = ("chromadb",)
    requires = "chromadb>=0.5.4,<2"

    def instrument(self, module: ModuleType) -> None:
        self.when_imported("chromadb.api.models.Collection", self._patch_sync)
        self.when_imported("chromadb.api.models.AsyncCollection", self._patch_async)

    def _patch_sync(self, module: ModuleType) -> None:
        from llmtrace_agent.toolkit.vector_store import store_wrapper

        if not self._patch(module, "Collection", store_wrapper):
            raise RuntimeError("chromadb has no Collection.query to instrument")

    def _patch_async(self, module: ModuleType) -> None:
        from llmtrace_agent.toolkit.vector_store import async_store_wrapper

        self._patch(module, "AsyncCollection", async_store_wrapper)

    def _patch(self, module: ModuleType, cls: str, make_wrapper: Callable[..., Wrapper]) -> bool:
        """Wrap each of ``cls``'s traced methods; whether it has ``query``."""
        from functools import partial

        from llmtrace_agent.instrumentors.chromadb._operations import METHODS

        found = False
        for method, (describe, read) in METHODS.items():
            wrapper = make_wrapper(self, describe, partial(read, self))
            found |= self.wrap(module, f"{cls}.{method}", wrapper) and method == "query"
        return found


__all__ = ["ChromaInstrumentor"]
