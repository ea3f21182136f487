"""The wrapt wrappers every LLM instrumentor installs: one span per SDK call, made current while
the SDK runs (so its HTTP request is a child), results and exceptions passed through untouched.
"""

from __future__ import annotations

from contextvars import ContextVar

from opentelemetry import context, trace

from llmtrace_agent.toolkit import guard
from llmtrace_agent.toolkit.context_flags import inside_llm_call
from llmtrace_agent.toolkit.genai.call import LLMCall
from llmtrace_agent.toolkit.genai.stream import AsyncStreamProxy, StreamProxy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from llmtrace_agent.toolkit.genai.operation import LLMOperation
    from llmtrace_agent.toolkit.instrumentor import Instrumentor, Wrapper

# The call in progress in this context. A wrapped method reached while one runs (``parse`` calling
# ``create``, a raw-response wrapper, another library's patch around ours) is part of that call.
_current_call: ContextVar[LLMCall | None] = ContextVar("llmtrace_current_call", default=None)


def llm_wrapper(instrumentor: Instrumentor, operation: LLMOperation) -> Wrapper:
    """A wrapt wrapper for a synchronous SDK method described by ``operation``."""

    def wrapper(
        wrapped: Callable[..., object], instance: object, args: tuple[object, ...], kwargs: dict
    ) -> object:
        # Hot path: every LLM call.
        if _current_call.get() is not None:
            return wrapped(*args, **kwargs)
        call = _start(instrumentor, operation, instance, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        tokens = _enter(call)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _exit(tokens)
            _end(call, exc)
            raise
        _exit(tokens)
        return _finish(operation, call, result, StreamProxy)

    return wrapper


def async_llm_wrapper(instrumentor: Instrumentor, operation: LLMOperation) -> Wrapper:
    """A wrapt wrapper for an ``async def`` SDK method described by ``operation``."""

    def wrapper(
        wrapped: Callable[..., Awaitable[object]],
        instance: object,
        args: tuple[object, ...],
        kwargs: dict,
    ) -> Awaitable[object]:
        if _current_call.get() is not None:
            return wrapped(*args, **kwargs)
        return _traced_coroutine(wrapped, instance, args, kwargs)

    async def _traced_coroutine(
        wrapped: Callable[..., Awaitable[object]],
        instance: object,
        args: tuple[object, ...],
        kwargs: dict,
    ) -> object:
        call = _start(instrumentor, operation, instance, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        tokens = _enter(call)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:  # CancelledError too: the span records the cancellation
            _exit(tokens)
            _end(call, exc)
            raise
        _exit(tokens)
        return _finish(operation, call, result, AsyncStreamProxy)

    return wrapper


def _start(
    instrumentor: Instrumentor, operation: LLMOperation, instance: object, kwargs: dict
) -> LLMCall | None:
    try:
        capture = instrumentor.config.capture_content
        request = operation.request(instance, kwargs, capture)
        return LLMCall(
            instrumentor.tracer, operation.operation_name, operation.provider(instance), request
        )
    except Exception as exc:
        guard.handle(exc)
        return None


def _enter(call: LLMCall) -> tuple[object, object, object]:
    return (
        context.attach(trace.set_span_in_context(call.span)),
        _current_call.set(call),
        inside_llm_call.set(True),
    )


def _exit(tokens: tuple[object, object, object]) -> None:
    otel_token, call_token, flag_token = tokens
    inside_llm_call.reset(flag_token)  # type: ignore[arg-type]
    _current_call.reset(call_token)  # type: ignore[arg-type]
    context.detach(otel_token)  # type: ignore[arg-type]


def _end(call: LLMCall, error: BaseException | None) -> None:
    try:
        call.end(error)
    except Exception as exc:
        guard.handle(exc)


def _finish(
    operation: LLMOperation,
    call: LLMCall,
    result: object,
    proxy: type[StreamProxy] | type[AsyncStreamProxy],
) -> object:
    try:
        state = operation.stream_state(call, result)
        if state is not None:
            return proxy(result, call, state)
        stand_in = operation.result_proxy(call, result)
        if stand_in is not None:
            return stand_in
        operation.record_response(call, result)
    except Exception as exc:
        _end(call, None)
        guard.handle(exc)
        return result
    _end(call, None)
    return result


class LazyStreamProxy(StreamProxy):
    """A stream whose request is sent when it is first read (what an SDK's generator function
    returns: nothing runs until ``next``). That first read runs as the call itself would, with
    the call's span current and the model-call flags set, so the HTTP request is the span's
    child and no inner instrumented SDK adds a second model-call span. An operation returns it
    from ``result_proxy``."""

    def __next__(self) -> object:
        # Hot path: once per chunk; only the first read pays for entering the call's context.
        if self._self_on_chunk is not None:
            return StreamProxy.__next__(self)
        tokens = _enter(self._self_call)
        try:
            return StreamProxy.__next__(self)
        finally:
            _exit(tokens)


_servers: dict[str, tuple[str | None, int | None]] = {}


def server_of(base_url: object) -> tuple[str | None, int | None]:
    """``server.address`` and ``server.port`` of a client's base URL (cached per URL)."""
    key = str(base_url)
    found = _servers.get(key)
    if found is None:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(key)
            port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
            found = (parts.hostname or None, port)
        except ValueError:
            found = (None, None)
        if len(_servers) < 256:
            _servers[key] = found
    return found
