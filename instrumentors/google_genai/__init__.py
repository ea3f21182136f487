"""google_genai: one GenAI CLIENT span per model request of the ``google-genai`` SDK (Gemini API
and Vertex AI): ``generate_content {model}`` and ``embeddings {model}``.

The SDK's public methods (``models.generate_content``, ``generate_content_stream``,
``embed_content``, their ``client.aio`` twins, and ``chats``' ``send_message`` /
``send_message_stream``, which call them) may send several requests per call: automatic function
calling sends one per round, automatic continuation one per hop. Each request goes through one
private method per kind (``Models._generate_content``, ``_generate_content_stream``,
``_embed_content``, and their ``AsyncModels`` twins), so those are wrapped: one span per request,
with that request's own usage, under whatever span the application has open. The public
``embed_content`` of SDKs that post from it directly (older releases) is wrapped too; where
it calls ``_embed_content`` the outer wrapper's span is the only one.

The synchronous ``_generate_content_stream`` is a generator: its request is sent on the first
read, which the toolkit runs inside the span (``LLMOperation.sends_when_iterated``).

Nothing is imported from the SDK at start-up: the hook patches ``google.genai.models`` once the
application imports ``google.genai``.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


class GoogleGenAIInstrumentor(Instrumentor):
    """Traces ``google-genai``'s content generation and embeddings, sync and async."""

    name = "google_genai"
    targets = ("google.genai",)
    requires = "google-genai>=1.10,<4"

    def instrument(self, module: ModuleType) -> None:
        self.when_imported("google.genai.models", self._patch_models)

    def _patch_models(self, models: ModuleType) -> None:
        from llmtrace_agent.instrumentors.google_genai.models import (
            EmbedContentOperation,
            GenerateContentOperation,
        )
        from llmtrace_agent.toolkit.genai import async_llm_wrapper, llm_wrapper

        embed = EmbedContentOperation()
        methods = (
            ("_generate_content", GenerateContentOperation()),
            ("_generate_content_stream", GenerateContentOperation(streams=True)),
            ("embed_content", embed),
            ("_embed_content", embed),
        )
        found = []
        for method, operation in methods:
            if self.wrap(models, f"Models.{method}", llm_wrapper(self, operation)):
                found.append(method)
            self.wrap(models, f"AsyncModels.{method}", async_llm_wrapper(self, operation))
        if "_generate_content" not in found:
            raise RuntimeError("google.genai.models has no Models._generate_content to instrument")


__all__ = ["GoogleGenAIInstrumentor"]
