"""cohere: one GenAI CLIENT span per call of the ``cohere`` SDK's v2 API (``ClientV2``,
``AsyncClientV2``, and ``client.v2`` of the v1 clients), with ``gen_ai.provider.name``
``cohere``.

Covered, sync and async: ``chat``, ``chat_stream``, ``embed`` and ``rerank``, all on
``cohere.v2.client.V2Client`` / ``AsyncV2Client``, which every v2 client class inherits.

``chat_stream`` is a generator function (an async generator on the async client): calling it
sends nothing, the request goes out when the first event is read. Its span starts at the call
and the first read runs inside it (``sends_when_iterated``), so the HTTP span is its child.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


class CohereInstrumentor(Instrumentor):
    """Traces the ``cohere`` SDK's v2 chat, chat stream, embed and rerank calls."""

    name = "cohere"
    targets = ("cohere",)
    requires = "cohere>=5.11,<8"

    def instrument(self, module: ModuleType) -> None:
        self.when_imported("cohere.v2.client", self._patch_v2_client)

    def _patch_v2_client(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.cohere.operations import (
            ChatOperation,
            EmbedOperation,
            RerankOperation,
        )
        from llmtrace_agent.toolkit.genai import async_llm_wrapper, llm_wrapper

        chat, embed, rerank = ChatOperation(streams=False), EmbedOperation(), RerankOperation()
        # chat_stream is a generator function on both clients: the sync wrapper returns its
        # (async) generator at once, as the SDK does.
        chat_stream = llm_wrapper(self, ChatOperation(streams=True))
        for cls, wrapper in (("V2Client", llm_wrapper), ("AsyncV2Client", async_llm_wrapper)):
            if not self.wrap(module, f"{cls}.chat", wrapper(self, chat)):
                raise RuntimeError(f"cohere.v2.client has no {cls}.chat to instrument")
            self.wrap(module, f"{cls}.chat_stream", chat_stream)
            self.wrap(module, f"{cls}.embed", wrapper(self, embed))
            self.wrap(module, f"{cls}.rerank", wrapper(self, rerank))


__all__ = ["CohereInstrumentor"]
