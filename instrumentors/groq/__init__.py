"""groq: one ``chat {model}`` CLIENT span per Groq chat completion (provider ``groq``).

The groq SDK is generated like openai's and speaks OpenAI's wire format, so its calls are read
with ``llmtrace_agent.toolkit.openai_shapes``; only the client, the stream classes and Groq's
stream usage (``x_groq.usage`` in the final chunk) are Groq's own. Covered: ``chat.completions
.create`` (plain and ``stream=True``) and ``embeddings.create``, sync and async.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

# module -> (Class.method, operation kind, is the method async)
_METHODS = {
    "groq.resources.chat.completions": (
        ("Completions.create", "chat", False),
        ("AsyncCompletions.create", "chat", True),
    ),
    "groq.resources.embeddings": (
        ("Embeddings.create", "embeddings", False),
        ("AsyncEmbeddings.create", "embeddings", True),
    ),
}


class GroqInstrumentor(Instrumentor):
    """Traces the groq SDK's chat completions and embeddings (GenAI semantic conventions)."""

    name = "groq"
    targets = ("groq",)
    requires = "groq>=0.13,<2"  # older ones pass proxies= to httpx, which httpx 0.28 refuses

    def instrument(self, module: ModuleType) -> None:
        import functools

        from llmtrace_agent.instrumentors.groq.chat import operations

        by_kind = operations((module.Stream, module.AsyncStream))
        for module_name, methods in _METHODS.items():
            hook = functools.partial(self._patch, by_kind, methods)
            self.when_imported(module_name, hook)

    def _patch(self, by_kind: dict, methods: tuple, module: ModuleType) -> None:
        from llmtrace_agent.toolkit.genai import async_llm_wrapper, llm_wrapper

        for path, kind, is_async in methods:
            make_wrapper = async_llm_wrapper if is_async else llm_wrapper
            self.wrap(module, path, make_wrapper(self, by_kind[kind]))


__all__ = ["GroqInstrumentor"]
