"""Where the openai SDK is patched.

``import openai`` does not load the resource modules (the client imports them on first use),
so each is patched by an import hook when it loads, or at once if it already has: tracing
never makes the application import more of openai than it would anyway.

Only methods that send a request are wrapped: ``create`` and ``parse`` (which posts by itself).
The ``stream()`` helpers, ``with_raw_response`` and ``with_streaming_response`` all call the
wrapped ``create`` / ``parse``, so they get their one span from there; the helpers' ``close()``
is wrapped only so that leaving one early ends the span at once.
"""

from __future__ import annotations

import functools

from llmtrace_agent.instrumentors.openai import websocket
from llmtrace_agent.instrumentors.openai.chat import ChatOperation
from llmtrace_agent.instrumentors.openai.completions import CompletionsOperation
from llmtrace_agent.instrumentors.openai.embeddings import EmbeddingsOperation
from llmtrace_agent.instrumentors.openai.responses import (
    ResponsesOperation,
    ResumedResponseOperation,
)
from llmtrace_agent.toolkit import genai, guard

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import ModuleType

    from llmtrace_agent.instrumentors.openai import OpenAIInstrumentor
    from llmtrace_agent.toolkit.genai import LLMOperation
    from llmtrace_agent.toolkit.instrumentor import Wrapper

_chat = ChatOperation()
_responses = ResponsesOperation()
_resumed = ResumedResponseOperation()

_CHAT_METHODS = (
    ("Completions.create", _chat, False),
    ("Completions.parse", _chat, False),
    ("AsyncCompletions.create", _chat, True),
    ("AsyncCompletions.parse", _chat, True),
)

# module -> (Class.method, operation, is the method async). A class reached through two modules
# (a package re-exporting it) is wrapped once.
API_METHODS: dict[str, tuple[tuple[str, LLMOperation, bool], ...]] = {
    "openai.resources.chat.completions.completions": _CHAT_METHODS,
    "openai.resources.chat.completions": _CHAT_METHODS,  # a module itself before openai 1.61
    # openai 1.40 to 1.9x: parse() (posting by itself) lived under client.beta.chat.completions
    "openai.resources.beta.chat.completions": (
        ("Completions.parse", _chat, False),
        ("AsyncCompletions.parse", _chat, True),
    ),
    "openai.resources.responses.responses": (
        ("Responses.create", _responses, False),
        ("Responses.parse", _responses, False),
        ("AsyncResponses.create", _responses, True),
        ("AsyncResponses.parse", _responses, True),
        ("Responses.retrieve", _resumed, False),
        ("AsyncResponses.retrieve", _resumed, True),
    ),
    # openai 3.x: the beta Responses API (client.beta.responses), same request and event shapes
    "openai.resources.beta.responses.responses": (
        ("Responses.create", _responses, False),
        ("AsyncResponses.create", _responses, True),
        ("Responses.retrieve", _resumed, False),
        ("AsyncResponses.retrieve", _resumed, True),
    ),
    "openai.resources.embeddings": (
        ("Embeddings.create", EmbeddingsOperation(), False),
        ("AsyncEmbeddings.create", EmbeddingsOperation(), True),
    ),
    "openai.resources.completions": (
        ("Completions.create", CompletionsOperation(), False),
        ("AsyncCompletions.create", CompletionsOperation(), True),
    ),
}

# module -> (Class.close, is it async): the stream helpers close the HTTP response themselves,
# not the raw stream they read from (which carries the span).
HELPER_CLOSES: dict[str, tuple[tuple[str, bool], ...]] = {
    "openai.lib.streaming.chat._completions": (
        ("ChatCompletionStream.close", False),
        ("AsyncChatCompletionStream.close", True),
    ),
    "openai.lib.streaming.responses._responses": (
        ("ResponseStream.close", False),
        ("AsyncResponseStream.close", True),
    ),
}


# Late openai 2.x and 3.x: the Responses API over a WebSocket (``responses.connect()``).
WEBSOCKET_MODULES = (
    "openai.resources.responses.responses",
    "openai.resources.beta.responses.responses",
)


def install(instrumentor: OpenAIInstrumentor) -> None:
    """Patch each API module now or when it is imported."""
    for module_name, methods in API_METHODS.items():
        hook = functools.partial(_patch_api_methods, instrumentor, methods)
        instrumentor.when_imported(module_name, hook)
    for module_name in WEBSOCKET_MODULES:
        instrumentor.when_imported(module_name, functools.partial(_patch_websocket, instrumentor))
    for module_name, closes in HELPER_CLOSES.items():
        hook = functools.partial(_patch_helper_closes, instrumentor, closes)
        instrumentor.when_imported(module_name, hook)


def _patch_api_methods(
    instrumentor: OpenAIInstrumentor,
    methods: tuple[tuple[str, LLMOperation, bool], ...],
    module: ModuleType,
) -> None:
    for path, operation, is_async in methods:
        make_wrapper = genai.async_llm_wrapper if is_async else genai.llm_wrapper
        wrapper = make_wrapper(instrumentor, operation)
        if isinstance(operation, ResumedResponseOperation):
            wrapper = _streamed_only(genai.with_keywords(("response_id",), wrapper))
        instrumentor.wrap(module, path, wrapper)


def _patch_websocket(instrumentor: OpenAIInstrumentor, module: ModuleType) -> None:
    """The connection classes' send, receive and close (absent from older releases: skipped)."""
    for cls, send, recv_bytes in (
        ("ResponsesConnection", websocket.send_wrapper, websocket.recv_bytes_wrapper),
        (
            "AsyncResponsesConnection",
            websocket.async_send_wrapper,
            websocket.async_recv_bytes_wrapper,
        ),
    ):
        instrumentor.wrap(module, f"{cls}.send", send(instrumentor))
        instrumentor.wrap(module, f"{cls}.parse_event", websocket.parse_event_wrapper)
        instrumentor.wrap(module, f"{cls}.recv_bytes", recv_bytes)
        instrumentor.wrap(module, f"{cls}.close", websocket.close_wrapper)
    for cls, enters, enter in (
        ("ResponsesConnectionManager", "__enter__", websocket.enter_wrapper),
        ("AsyncResponsesConnectionManager", "__aenter__", websocket.async_enter_wrapper),
    ):
        instrumentor.wrap(module, f"{cls}.send", websocket.send_wrapper(instrumentor))
        instrumentor.wrap(module, f"{cls}.{enters}", enter)
        instrumentor.wrap(module, f"{cls}.enter", enter)  # an alias, bound to the original


def _streamed_only(traced: Wrapper) -> Wrapper:
    """``retrieve`` makes a model-call span only when it streams a response's events again; a
    plain ``retrieve`` (polling a background response) is a lookup, not a call."""

    def wrapper(
        wrapped: Callable[..., object], instance: object, args: tuple, kwargs: dict
    ) -> object:
        if kwargs.get("stream") is True:
            return traced(wrapped, instance, args, kwargs)
        return wrapped(*args, **kwargs)

    return wrapper


def _patch_helper_closes(
    instrumentor: OpenAIInstrumentor, closes: tuple[tuple[str, bool], ...], module: ModuleType
) -> None:
    for path, is_async in closes:
        instrumentor.wrap(module, path, _close_raw_stream_async if is_async else _close_raw_stream)


def _close_raw_stream(
    wrapped: Callable[..., object], instance: object, args: tuple, kwargs: dict
) -> object:
    try:
        return wrapped(*args, **kwargs)
    finally:
        raw_stream = getattr(instance, "_raw_stream", None)
        if isinstance(raw_stream, genai.StreamProxy):
            with guard.internal_errors:
                raw_stream.close()  # ends the span now (once; later ends are no-ops)


def _close_raw_stream_async(
    wrapped: Callable[..., Awaitable[object]], instance: object, args: tuple, kwargs: dict
) -> Awaitable[object]:
    return _closing(wrapped(*args, **kwargs), instance)


async def _closing(closed: Awaitable[object], instance: object) -> object:
    try:
        return await closed
    finally:
        raw_stream = getattr(instance, "_raw_stream", None)
        if isinstance(raw_stream, genai.AsyncStreamProxy):
            with guard.internal_errors:
                await raw_stream.close()
