"""mistralai: one GenAI CLIENT span per chat or embeddings call of the ``mistralai`` SDK (1.x to
3.x), following the GenAI conventions with ``gen_ai.provider.name`` ``mistral_ai``.

Covered, sync and async: ``chat.complete`` / ``complete_async``, ``chat.stream`` /
``stream_async`` (and ``parse``, ``parse_async``, ``parse_stream``, which call them), and
``embeddings.create`` / ``create_async``. The SDK keeps them in ``mistralai.chat`` and
``mistralai.embeddings`` (1.x) or ``mistralai.client.chat`` / ``mistralai.client.embeddings``
(2.x and later); each module is patched when it loads.

The SDK has OpenTelemetry tracing of its own (a ``TracingHook`` run before every request), which
makes a span per request for the tracer provider it finds: with the agent's global provider that
would be a second model span for each call we trace. So while one of our model spans is open,
the hook creates none; a request we do not trace (agents, workflows…) keeps the SDK's span.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

# 1.x paths first, then 2.x and later.
_CHAT_MODULES = ("mistralai.chat", "mistralai.client.chat")
_EMBEDDINGS_MODULES = ("mistralai.embeddings", "mistralai.client.embeddings")
_TRACING_HOOK_MODULES = ("mistralai._hooks.tracing", "mistralai.client._hooks.tracing")


class MistralInstrumentor(Instrumentor):
    """Traces the ``mistralai`` SDK's chat and embeddings calls."""

    name = "mistralai"
    # Since 2.x ``mistralai`` is a namespace package, whose import no post-import hook sees:
    # ``mistralai.client`` (a regular package) is what an application imports there.
    targets = ("mistralai", "mistralai.client")
    requires = "mistralai>=1.2,<4"  # 1.2: the oldest 1.x that installs beside pydantic>=2.10

    def instrument(self, module: ModuleType) -> None:
        for name in _CHAT_MODULES:
            self.when_imported(name, self._patch_chat)
        for name in _EMBEDDINGS_MODULES:
            self.when_imported(name, self._patch_embeddings)
        for name in _TRACING_HOOK_MODULES:
            self.when_imported(name, self._patch_tracing_hook)

    def _patch_chat(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.mistralai.operations import ChatOperation
        from llmtrace_agent.toolkit.genai import async_llm_wrapper, llm_wrapper

        chat, stream = ChatOperation(streams=False), ChatOperation(streams=True)
        self.wrap(module, "Chat.complete", llm_wrapper(self, chat))
        self.wrap(module, "Chat.complete_async", async_llm_wrapper(self, chat))
        self.wrap(module, "Chat.stream", llm_wrapper(self, stream))
        self.wrap(module, "Chat.stream_async", async_llm_wrapper(self, stream))

    def _patch_embeddings(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.mistralai.operations import EmbeddingsOperation
        from llmtrace_agent.toolkit.genai import async_llm_wrapper, llm_wrapper

        embeddings = EmbeddingsOperation()
        self.wrap(module, "Embeddings.create", llm_wrapper(self, embeddings))
        self.wrap(module, "Embeddings.create_async", async_llm_wrapper(self, embeddings))

    def _patch_tracing_hook(self, module: ModuleType) -> None:
        self.wrap(module, "get_traced_request_and_span", without_sdk_span_inside_our_call)


def without_sdk_span_inside_our_call(
    wrapped: Callable[..., object],
    instance: object,
    args: tuple[object, ...],
    kwargs: dict[str, object],
) -> object:
    """The SDK's ``get_traced_request_and_span(tracing_enabled, tracer, span, operation_id,
    request)``: inside a model span of ours, answer as it does with tracing off (the request
    unchanged, no span), so the SDK neither starts a second model span nor sends its own
    ``traceparent``."""
    from llmtrace_agent.toolkit.context_flags import inside_llm_call

    if inside_llm_call.get():
        names = ("tracing_enabled", "tracer", "span", "operation_id", "request")
        given = dict(zip(names, args, strict=False))
        given.update(kwargs)
        if "request" in given:
            return given["request"], given.get("span")
    return wrapped(*args, **kwargs)


__all__ = ["MistralInstrumentor"]
