"""ollama: one GenAI CLIENT span per Ollama model call (provider ``ollama``).

Covered: ``chat`` (``chat {model}``), ``generate`` (``text_completion {model}``), ``embed`` and
the older ``embeddings`` (``embeddings {model}``), plain and streamed (NDJSON, a generator), on
``Client`` and ``AsyncClient`` and as the module-level functions (``ollama.chat``…), which are
bound methods of a default client made when ``ollama`` is imported, so they are wrapped apart.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


class OllamaInstrumentor(Instrumentor):
    """Traces the ollama SDK's chat, generate and embed calls (GenAI semantic conventions)."""

    name = "ollama"
    targets = ("ollama",)
    requires = "ollama>=0.4,<1"  # 0.4: responses are pydantic models

    def instrument(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.ollama.api import install

        install(self, module)


__all__ = ["OllamaInstrumentor"]
