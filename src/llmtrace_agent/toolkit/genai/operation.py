"""What a provider instrumentor writes: how one SDK method's request and response map to a span.

Subclass ``LLMOperation`` once per method family (chat, embeddings…), and ``StreamState`` for the
chunks of its streamed form. Every extraction must tolerate missing, null or oddly typed fields:
skip the attribute, never raise (the guard would catch it, but the call would lose its span data).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from llmtrace_agent.toolkit.genai.call import LLMCall, Request
    from llmtrace_agent.toolkit.genai.raw_response import RawResponses


class StreamState:
    """Accumulates one streamed response, chunk by chunk, then records it on the call."""

    __slots__ = ()

    def on_chunk(self, chunk: object) -> None:
        """Hot path: called for every chunk the user receives. Keep it to a few attribute reads."""

    def finish(self, call: LLMCall) -> None:
        """Record what was accumulated (id, model, finish reasons, usage, output) on ``call``."""


class LLMOperation:
    """One SDK method (e.g. ``chat.completions.create``) described for the shared GenAI code."""

    operation_name = "chat"
    """``gen_ai.operation.name``: chat, text_completion, embeddings, generate_content…"""
    provider_name = ""
    """``gen_ai.provider.name`` (``openai``, ``anthropic``…); see ``provider`` to vary it."""
    sends_when_iterated = False
    """True for an SDK method that is a generator function (sync or async, e.g. cohere's
    ``chat_stream``): calling it sends nothing, the request goes out on the first ``next()``.
    Its stream proxy then fetches the first chunk with the call's span current (so the HTTP
    span is its child and no inner SDK adds a second model span). Install ``llm_wrapper`` on
    such a method even when it is an async generator: calling it returns the stream at once."""

    raw_responses: RawResponses | None = None
    """A Stainless SDK's raw-response classes (openai, anthropic, groq…): set, a call made through
    ``with_raw_response`` / ``with_streaming_response`` is recorded like any other, its span kept
    open until the user parses or closes the body (``toolkit.genai.raw_response``)."""

    def provider(self, instance: object) -> str:
        """The provider for the client ``instance`` (e.g. Azure OpenAI is ``azure.ai.openai``)."""
        return self.provider_name

    def request(self, instance: object, kwargs: Mapping[str, object], capture: bool) -> Request:
        """Describe the call from its keyword arguments; content attributes only if ``capture``."""
        raise NotImplementedError

    def record_response(self, call: LLMCall, response: object) -> None:
        """Record a complete (non-streamed) response on ``call``."""

    def stream_state(self, call: LLMCall, result: object) -> StreamState | None:
        """A fresh accumulator when ``result`` is a stream; None when it is a complete response."""
        return None

    def result_proxy(self, call: LLMCall, result: object) -> object | None:
        """A stand-in for a ``result`` that is neither a stream nor a complete response, which
        takes over ending ``call`` (e.g. a raw HTTP response whose body the user parses later:
        Stainless SDKs' ``with_raw_response`` / ``with_streaming_response``, handled here when
        ``raw_responses`` is set); None otherwise."""
        raw = self.raw_responses
        return None if raw is None else raw.proxy(call, result, self)
