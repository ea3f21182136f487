"""The built-in ``openai`` instrumentor: one GenAI CLIENT span per OpenAI API call.

Covers, for ``OpenAI`` and ``AzureOpenAI``, sync and async: ``chat.completions.create`` /
``parse`` / ``stream``, ``responses.create`` / ``parse`` / ``stream``, ``embeddings.create`` and
the legacy ``completions.create``, including their ``with_raw_response`` and
``with_streaming_response`` forms, and the WebSocket mode (``responses.connect()``: one span
per ``response.create`` sent). Works with openai 1.x, 2.x and 3.x.

This module is imported at start-up, so it imports nothing heavy: the patches live in
``_install`` and the API families in their own modules, loaded once ``openai`` is imported.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


class OpenAIInstrumentor(Instrumentor):
    """Traces the openai SDK's inference methods (GenAI semantic conventions)."""

    name = "openai"
    targets = ("openai",)
    requires = "openai>=1.66,<4"

    def instrument(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.openai import _install

        _install.install(self)


__all__ = ["OpenAIInstrumentor"]
