"""The wrapt wrappers every LLM instrumentor installs: one span per SDK call, made current while
the SDK runs (so its HTTP request is a child), results and exceptions passed through untouched.
"""

from __future__ import annotations

from opentelemetry import context, trace

from llmtrace_agent.toolkit import guard
from llmtrace_agent.toolkit.context_flags import HTTPAttempts, inside_llm_call, llm_call_attempts
from llmtrace_agent.toolkit.genai.call import LLMCall
from llmtrace_agent.toolkit.genai.stream import AsyncStreamProxy, StreamProxy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from llmtrace_agent.toolkit.genai.operation import LLMOperation
    from llmtrace_agent.toolkit.instrumentor import Instrumentor, Wrapper

# A wrapped method reached while a model-call span is open (``inside_llm_call``: ``parse`` calling
# ``create``, a raw-response wrapper, another library's patch around ours, a router such as
# LiteLLM sending through a provider SDK) is part of that call: it makes no span of its own.


def llm_wrapper(instrumentor: Instrumentor, operation: LLMOperation) -> Wrapper:
    """A wrapt wrapper for a synchronous SDK method described by ``operation``."""

    def wrapper(
        wrapped: Callable[..., object], instance: object, args: tuple[object, ...], kwargs: dict
    ) -> object:
        # Hot path: every LLM call.
        if inside_llm_call.get():
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
        if inside_llm_call.get():
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


def with_keywords(names: tuple[str, ...], traced: Wrapper) -> Wrapper:
    """Wrap ``traced`` (an ``llm_wrapper``) so that the leading positional arguments, named
    ``names`` (``chat("llama3.2", messages)``), reach it and the SDK by keyword: operations read
    only ``kwargs``, and for positional-or-keyword parameters it is the same call."""

    def wrapper(
        wrapped: Callable[..., object],
        instance: object,
        args: tuple[object, ...],
        kwargs: dict[str, object],
    ) -> object:
        # Hot path: every call.
        if args and len(args) <= len(names) and not any(n in kwargs for n in names[: len(args)]):
            kwargs = {**dict(zip(names, args, strict=False)), **kwargs}
            args = ()
        return traced(wrapped, instance, args, kwargs)

    return wrapper


def _start(
    instrumentor: Instrumentor, operation: LLMOperation, instance: object, kwargs: dict
) -> LLMCall | None:
    try:
        capture = instrumentor.config.capture_content
        request = operation.request(instance, kwargs, capture)
        provider = request.provider or operation.provider(instance)
        return LLMCall(instrumentor.tracer, operation.operation_name, provider, request)
    except Exception as exc:
        guard.handle(exc)
        return None


def _enter(call: LLMCall) -> tuple[object, object, object]:
    return (
        context.attach(trace.set_span_in_context(call.span)),
        inside_llm_call.set(True),
        llm_call_attempts.set(HTTPAttempts()),
    )


def _exit(tokens: tuple[object, object, object]) -> None:
    otel_token, flag_token, attempts_token = tokens
    llm_call_attempts.reset(attempts_token)  # type: ignore[arg-type]
    inside_llm_call.reset(flag_token)  # type: ignore[arg-type]
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
            if operation.sends_when_iterated:
                is_async = hasattr(result, "__anext__")
                proxy = DeferredAsyncStreamProxy if is_async else DeferredStreamProxy
            return proxy(result, call, state)
        stand_in = operation.result_proxy(call, result)
        if stand_in is not None:
            return stand_in
        raw = operation.raw_responses
        response = result if raw is None else raw.parsed(result)  # a raw body already read
        if response is not None:
            operation.record_response(call, response)
    except Exception as exc:
        _end(call, None)
        guard.handle(exc)
        return result
    _end(call, None)
    return result


class DeferredStreamProxy(StreamProxy):
    """The stream of a generator method (``LLMOperation.sends_when_iterated``): until the first
    chunk arrives, each ``next()`` runs inside the call, as the request is sent then."""

    def _self_chunks(self, source: Iterator[object]) -> Iterator[object]:
        if self._self_on_chunk is None:
            try:
                first = self.__next__()  # sends the request, inside the call
            except StopIteration:
                return
            yield first
        yield from StreamProxy._self_chunks(self, source)

    def __next__(self) -> object:
        if self._self_on_chunk is not None:
            return StreamProxy.__next__(self)
        tokens = _enter(self._self_call)
        try:
            return StreamProxy.__next__(self)
        finally:
            _exit(tokens)


class DeferredAsyncStreamProxy(AsyncStreamProxy):
    """The async twin of ``DeferredStreamProxy`` (an async generator method)."""

    async def __anext__(self) -> object:
        if self._self_on_chunk is not None:
            return await AsyncStreamProxy.__anext__(self)
        tokens = _enter(self._self_call)
        try:
            return await AsyncStreamProxy.__anext__(self)
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
