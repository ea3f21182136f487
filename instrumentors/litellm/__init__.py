"""litellm: one GenAI CLIENT span per LiteLLM call, named and priced for the provider it routes to.

Covered: ``completion`` / ``acompletion`` (plain and streamed) and ``embedding`` /
``aembedding``, as ``litellm.*``, ``litellm.main.*`` and, from the releases that route through
a dispatch module, that module's own names (each entry point gets one span).

Traced once: the LiteLLM-level span is the one kept. It is made current and flagged as an open
model call (``inside_llm_call``) while LiteLLM runs, so a provider SDK LiteLLM sends through
(the openai SDK for OpenAI routes) adds no second GenAI span, only its HTTP request as a child;
LiteLLM's response carries the provider's own id, model and usage, so the span loses nothing.
When the application turned on LiteLLM's own OpenTelemetry callback (``callbacks=["otel"]``…),
that explicit choice wins: no span of ours, and still none from the SDK underneath.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


class LiteLLMInstrumentor(Instrumentor):
    """Traces LiteLLM's completion and embedding entry points (GenAI semantic conventions)."""

    name = "litellm"
    targets = ("litellm",)
    requires = "litellm>=1.60,<2"

    def instrument(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.litellm.calls import install

        install(self, module)


__all__ = ["LiteLLMInstrumentor"]
