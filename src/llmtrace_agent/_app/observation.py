"""``observe``: a span around a function, method, generator or block of the user's own code.

Decorating wraps the function in a ``wrapt.FunctionWrapper``, which keeps what frameworks read
(``inspect.signature``, ``__name__``, ``__qualname__``, ``__doc__``, ``__wrapped__`` and the
coroutine / generator flags ``inspect`` checks) and binds like the function it wraps: methods,
staticmethods and classmethods, with ``@observe`` above or below ``@staticmethod`` /
``@classmethod``. Generators and async generators are returned behind a proxy, so the span covers
the whole iteration and ends on exhaustion, exception, ``close()`` or garbage collection.

Spans come from the OpenTelemetry API: without the agent they are the API's no-op spans and each
call goes straight through. (Named ``observation`` rather than ``observe`` so that importing the
module never shadows the ``llmtrace_agent.observe`` function.)
"""

from __future__ import annotations

import contextlib
import inspect
import weakref
from types import FunctionType

import wrapt
from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmtrace_agent._runtime import agent_state, import_hooks
from llmtrace_agent._version import __version__
from llmtrace_agent.toolkit import guard, semconv

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping
    from types import ModuleType, TracebackType

    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer
    from opentelemetry.util.types import AttributeValue

    Args = tuple[object, ...]
    Kwargs = dict[str, object]

    from typing import Any, Protocol, TypeVar

    F = TypeVar("F", bound=Callable[..., object])

    class Extractor(Protocol):
        """Adds attributes computed from a call (declarative ``[wrap.attributes]``)."""

        def at_start(self, span: Span, instance: object, args: Args, kwargs: Kwargs) -> None:
            """Set the attributes that need only the arguments."""

        def at_end(
            self, span: Span, instance: object, args: Args, kwargs: Kwargs, output: object
        ) -> None:
            """Set the attributes that need the return value (None when the call raised)."""


_tracer: Tracer | None = None


def observe(
    func: object = None,
    /,
    *,
    name: str | None = None,
    kind: SpanKind | str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Any:
    """Trace a function (``@observe``, ``@observe(name=..., kind=...)``) or a block
    (``with observe("retrieve"):``).

    ``kind`` is a ``SpanKind`` or its name (``"client"``); ``attributes`` are set on every span.
    With ``LLMTRACE_CAPTURE_CONTENT=true`` the arguments and the return value are recorded too.
    """
    if isinstance(func, str):
        return Observation(func, kind, attributes)
    if func is None:
        return Observation(name, kind, attributes)
    if callable(func) or isinstance(func, (staticmethod, classmethod)):
        return Observation(name, kind, attributes)(func)
    raise TypeError(f"observe() takes a function or a span name, not {type(func).__name__}")


class Observation:
    """What ``observe(...)`` returns when not given the function: a decorator and a context
    manager (use one per ``with`` statement; ``__enter__`` returns the span)."""

    __slots__ = ("_attributes", "_kind", "_name", "_open")

    def __init__(
        self,
        name: str | None,
        kind: SpanKind | str | None,
        attributes: Mapping[str, AttributeValue] | None,
    ) -> None:
        self._name = name
        self._kind = span_kind(kind)
        self._attributes = dict(attributes) if attributes else None
        self._open: list[tuple[SpanSpec, Span | None, object]] = []

    def __call__(self, func: F) -> F:
        spec = SpanSpec(self._name or qualified_name(func), self._kind, self._attributes)
        return wrap(func, spec)  # type: ignore[return-value]

    def __enter__(self) -> Span:
        if self._name is None:
            raise TypeError("observe() used as a block needs a span name: with observe('step'):")
        spec = SpanSpec(self._name, self._kind, self._attributes)
        span = token = None
        with guard.internal_errors:
            span = start_span(spec, None, (), {})
            token = context_api.attach(trace.set_span_in_context(span))
        self._open.append((spec, span, token))
        return span if span is not None else trace.INVALID_SPAN

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        spec, span, token = self._open.pop()
        _finish(spec, span, token, exc)

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def span_kind(kind: SpanKind | str | None) -> SpanKind:
    """``kind`` as a ``SpanKind``: None is INTERNAL; a string is a member's name, any case."""
    if kind is None:
        return SpanKind.INTERNAL
    if isinstance(kind, SpanKind):
        return kind
    if isinstance(kind, str) and kind.strip().upper() in SpanKind.__members__:
        return SpanKind[kind.strip().upper()]
    names = ", ".join(member.lower() for member in SpanKind.__members__)
    raise ValueError(f"span kind must be a SpanKind or one of {names}; got {kind!r}")


def qualified_name(func: object) -> str:
    """The default span name: the function's ``__qualname__``."""
    target = getattr(func, "__func__", func)  # staticmethod / classmethod objects
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
    return name if isinstance(name, str) else type(target).__name__


class SpanSpec:
    """How to trace one function: span name, kind and static attributes, plus the optional
    ``extractor`` (declarative wrapping) that adds attributes from the call."""

    __slots__ = ("_signatures", "attributes", "extractor", "kind", "name", "target")

    def __init__(
        self,
        name: str,
        kind: SpanKind,
        attributes: dict[str, AttributeValue] | None = None,
        extractor: Extractor | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.attributes = attributes
        self.extractor = extractor
        self.target: Callable[..., object] | None = None
        self._signatures: tuple[inspect.Signature, inspect.Signature] | None = None

    def arguments(self, instance: object, args: Args, kwargs: Kwargs) -> dict[str, object]:
        """The call's arguments by parameter name (``self`` / ``cls`` left out)."""
        if self._signatures is None:
            signature = inspect.signature(self.target)  # type: ignore[arg-type]
            unbound = signature
            if not inspect.ismethod(self.target):  # a bound method's signature has no self
                unbound = signature.replace(parameters=list(signature.parameters.values())[1:])
            self._signatures = (signature, unbound)
        # wrapt passes a method's self / cls as ``instance``, and the rest as ``args``.
        signature = self._signatures[0 if instance is None else 1]
        try:
            bound = signature.bind_partial(*args, **kwargs)
        except TypeError:  # the call itself fails the same way; show what was passed
            return {"args": list(args), "kwargs": kwargs} if kwargs else {"args": list(args)}
        return dict(bound.arguments)


def wrap(func: Callable[..., object], spec: SpanSpec) -> Callable[..., object]:
    """``func`` wrapped so each call is a span as ``spec`` says (shared with declarative)."""
    target = (
        getattr(func, "__func__", func) if isinstance(func, (staticmethod, classmethod)) else func
    )
    spec.target = target
    if inspect.isasyncgenfunction(target):
        wrapper = _generator_wrapper(spec, AsyncGeneratorProxy)
    elif inspect.iscoroutinefunction(target):
        wrapper = _coroutine_wrapper(spec)
    elif inspect.isgeneratorfunction(target):
        wrapper = _generator_wrapper(spec, GeneratorProxy)
    else:
        wrapper = _function_wrapper(spec)
    wrapped = wrapt.FunctionWrapper(func, wrapper)
    if type(func) is FunctionType:
        _remember_for_frameworks(func, wrapped)
    return wrapped  # type: ignore[no-any-return]


def tracer() -> Tracer:
    """The tracer of every observe span, taken from the global provider on first use."""
    global _tracer
    if _tracer is None:
        _tracer = trace.get_tracer("llmtrace_agent.observe", __version__)
    return _tracer


def start_span(spec: SpanSpec, instance: object, args: Args, kwargs: Kwargs) -> Span:
    """Start (but do not make current) the span of one call."""
    # Hot path: once per call of an observed function.
    span = (_tracer or tracer()).start_span(spec.name, kind=spec.kind, attributes=spec.attributes)
    if span.is_recording():
        with guard.internal_errors:  # a failing capture must not lose the span
            if agent_state.config.capture_content and spec.target is not None:
                _record_input(span, spec, instance, args, kwargs)
            if spec.extractor is not None:
                spec.extractor.at_start(span, instance, args, kwargs)
    return span


def end_span(
    spec: SpanSpec,
    span: Span,
    error: BaseException | None,
    call: tuple[object, Args, Kwargs] | None = None,
    output: object = None,
    has_output: bool = False,
) -> None:
    """Record the outcome of one call on its span and end it."""
    if span.is_recording():
        if error is not None:
            record_error(span, error)
        elif has_output and agent_state.config.capture_content:
            _record_content(span, semconv.OUTPUT_VALUE, semconv.OUTPUT_MIME_TYPE, output)
        if spec.extractor is not None and call is not None:
            spec.extractor.at_end(span, *call, output)
    span.end()


def record_error(span: Span, error: BaseException) -> None:
    """Status ERROR, ``error.type`` the exception's qualified class name, the exception event."""
    cls = type(error)
    span.set_attribute(
        semconv.ERROR_TYPE,
        cls.__qualname__
        if cls.__module__ == "builtins"
        else f"{cls.__module__}.{cls.__qualname__}",
    )
    span.set_status(Status(StatusCode.ERROR, f"{cls.__name__}: {error}"))
    span.record_exception(error)


def _finish(
    spec: SpanSpec,
    span: Span | None,
    token: object,
    error: BaseException | None,
    call: tuple[object, Args, Kwargs] | None = None,
    output: object = None,
    has_output: bool = False,
) -> None:
    if span is None:
        return
    with guard.internal_errors:
        if token is not None:
            context_api.detach(token)  # type: ignore[arg-type]
        end_span(spec, span, error, call, output, has_output)


# --- wrappers: one per kind of function, chosen once when decorating ---------------------------


def _enter(
    spec: SpanSpec, instance: object, args: Args, kwargs: Kwargs
) -> tuple[Span | None, object]:
    """Start the call's span and make it current; (None, None) if that failed."""
    span = token = None
    with guard.internal_errors:
        span = start_span(spec, instance, args, kwargs)
        token = context_api.attach(trace.set_span_in_context(span))
    return span, token


def _function_wrapper(spec: SpanSpec) -> Callable[..., object]:
    def call(
        wrapped: Callable[..., object], instance: object, args: Args, kwargs: Kwargs
    ) -> object:
        # Hot path: every call of an observed function.
        span, token = _enter(spec, instance, args, kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _finish(spec, span, token, exc, (instance, args, kwargs))
            raise
        _finish(spec, span, token, None, (instance, args, kwargs), result, True)
        return result

    return call


def _coroutine_wrapper(spec: SpanSpec) -> Callable[..., object]:
    async def call(
        wrapped: Callable[..., object], instance: object, args: Args, kwargs: Kwargs
    ) -> object:
        # Hot path: every call of an observed coroutine function.
        span, token = _enter(spec, instance, args, kwargs)
        try:
            result = await wrapped(*args, **kwargs)  # type: ignore[misc]
        except BaseException as exc:
            _finish(spec, span, token, exc, (instance, args, kwargs))
            raise
        _finish(spec, span, token, None, (instance, args, kwargs), result, True)
        return result

    return call


def _generator_wrapper(
    spec: SpanSpec, proxy: type[GeneratorProxy | AsyncGeneratorProxy]
) -> Callable[..., object]:
    """Calling the function only makes the generator: the span starts now, the proxy ends it."""

    def call(
        wrapped: Callable[..., object], instance: object, args: Args, kwargs: Kwargs
    ) -> object:
        span = None
        with guard.internal_errors:
            span = start_span(spec, instance, args, kwargs)
        try:
            generator = wrapped(*args, **kwargs)
        except BaseException as exc:
            _finish(spec, span, None, exc, (instance, args, kwargs))
            raise
        if span is None:
            return generator
        return proxy(generator, _Iteration(spec, span, (instance, args, kwargs)))

    return call


# --- generators: the span covers the whole iteration -------------------------------------------


class _Iteration:
    """One generator call's span; each step runs with it as the current span."""

    __slots__ = ("call", "context", "ended", "span", "spec")

    def __init__(self, spec: SpanSpec, span: Span, call: tuple[object, Args, Kwargs]) -> None:
        self.spec = spec
        self.span = span
        self.call = call
        self.context: Context = trace.set_span_in_context(span)
        self.ended = False

    def end(self, error: BaseException | None) -> None:
        if self.ended:
            return
        self.ended = True
        with guard.internal_errors:
            end_span(self.spec, self.span, error, self.call)


class _IterationProxy(wrapt.BaseObjectProxy):  # type: ignore[misc]
    """What the generator proxies share: the iteration they trace, ended when abandoned."""

    _self_iteration: _Iteration

    def __init__(self, generator: object, iteration: _Iteration) -> None:
        super().__init__(generator)
        self._self_iteration = iteration

    def __del__(self) -> None:
        # Abandoned before the end: the span ends with it (never raise from __del__).
        with contextlib.suppress(Exception):
            self._self_iteration.end(None)


class GeneratorProxy(_IterationProxy):
    """A generator whose steps run under its span, which ends exactly once."""

    def __iter__(self) -> GeneratorProxy:
        return self

    def __next__(self) -> object:
        return self._step(self.__wrapped__.send, None)

    def send(self, value: object) -> object:
        return self._step(self.__wrapped__.send, value)

    def throw(self, *exc_info: object) -> object:
        return self._step(self.__wrapped__.throw, *exc_info)

    def close(self) -> None:
        self._step(self.__wrapped__.close)
        self._self_iteration.end(None)

    def _step(self, step: Callable[..., object], *args: object) -> object:
        # Hot path: once per item.
        iteration = self._self_iteration
        token = context_api.attach(iteration.context)
        try:
            return step(*args)
        except StopIteration:
            iteration.end(None)
            raise
        except BaseException as exc:
            iteration.end(exc)
            raise
        finally:
            context_api.detach(token)


class AsyncGeneratorProxy(_IterationProxy):
    """An async generator whose steps run under its span, which ends exactly once."""

    def __aiter__(self) -> AsyncGeneratorProxy:
        return self

    def __anext__(self) -> object:
        return self._step(self.__wrapped__.asend, None)

    def asend(self, value: object) -> object:
        return self._step(self.__wrapped__.asend, value)

    def athrow(self, *exc_info: object) -> object:
        return self._step(self.__wrapped__.athrow, *exc_info)

    async def aclose(self) -> None:
        await self._step(self.__wrapped__.aclose)
        self._self_iteration.end(None)

    async def _step(self, step: Callable[..., Awaitable[object]], *args: object) -> object:
        # Hot path: once per item.
        iteration = self._self_iteration
        token = context_api.attach(iteration.context)
        try:
            return await step(*args)
        except StopAsyncIteration:
            iteration.end(None)
            raise
        except BaseException as exc:
            iteration.end(exc)
            raise
        finally:
            context_api.detach(token)


# --- content capture (LLMTRACE_CAPTURE_CONTENT=true only) --------------------------------------

_MAX_DEPTH = 6  # nesting kept when arguments are turned into JSON
_MAX_ITEMS = 100  # items kept per list or dict


def _record_input(span: Span, spec: SpanSpec, instance: object, args: Args, kwargs: Kwargs) -> None:
    arguments = spec.arguments(instance, args, kwargs)
    if arguments:
        _record_content(span, semconv.INPUT_VALUE, semconv.INPUT_MIME_TYPE, arguments)


def _record_content(span: Span, value_key: str, mime_key: str, value: object) -> None:
    """``value`` as text (a string) or JSON, cut at LLMTRACE_CONTENT_MAX_LENGTH."""
    if value is None:
        return
    from llmtrace_agent.toolkit.genai.content import TRUNCATION_MARK, clip, to_json

    if isinstance(value, str):
        text, mime = clip(value), "text/plain"
    else:
        text, mime = to_json(_jsonable(value, clip, 0)), "application/json"
        limit = agent_state.config.content_max_length
        if len(text) > limit:  # cut JSON is no longer JSON
            text, mime = text[:limit] + TRUNCATION_MARK, "text/plain"
    span.set_attribute(value_key, text)  # type: ignore[arg-type]
    span.set_attribute(mime_key, mime)


def _jsonable(value: object, clip: Callable[[object], object], depth: int) -> object:
    """A JSON-encodable copy of ``value`` with long strings clipped and large containers cut."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return clip(value)
    if depth >= _MAX_DEPTH:
        return clip(str(value))
    if isinstance(value, dict):
        items = list(value.items())[:_MAX_ITEMS]
        return {str(key): _jsonable(item, clip, depth + 1) for key, item in items}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(item, clip, depth + 1) for item in list(value)[:_MAX_ITEMS]]
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    model_dump = getattr(type(value), "model_dump", None)  # pydantic v2 models
    if callable(model_dump):
        return _jsonable(model_dump(value, mode="json"), clip, depth + 1)
    return clip(str(value))


# --- frameworks that keep the function they were given ------------------------------------------
# ``@observe`` above ``@app.get(...)`` wraps the function after FastAPI has stored it. Remember
# which wrapper belongs to which plain function, and let FastAPI call the wrapper.

_wrappers_by_function: weakref.WeakKeyDictionary[FunctionType, weakref.ref[object]] = (
    weakref.WeakKeyDictionary()
)
_watching_frameworks = False


def _remember_for_frameworks(func: FunctionType, wrapped: object) -> None:
    global _watching_frameworks
    _wrappers_by_function[func] = weakref.ref(wrapped)
    if not _watching_frameworks:
        _watching_frameworks = True
        import_hooks.when_imported("fastapi", _patch_fastapi)


def wrapper_of(func: object) -> object | None:
    """The observe wrapper made for plain function ``func``, if it is still alive."""
    if type(func) is not FunctionType:
        return None
    ref = _wrappers_by_function.get(func)  # type: ignore[arg-type]
    return ref() if ref is not None else None


@guard.guarded
def _patch_fastapi(module: ModuleType) -> None:
    # Runs under fastapi's import lock: patch only.
    app_class = module.FastAPI
    if not getattr(app_class.build_middleware_stack, "_self_llmtrace_observe", False):
        wrapper = wrapt.FunctionWrapper(app_class.build_middleware_stack, _adopt_observed_endpoints)
        wrapper._self_llmtrace_observe = True
        app_class.build_middleware_stack = wrapper


def _adopt_observed_endpoints(
    wrapped: Callable[..., object], instance: object, args: Args, kwargs: Kwargs
) -> object:
    """Before a FastAPI app first serves, point each route at its endpoint's observe wrapper."""
    with guard.internal_errors:
        for route in getattr(getattr(instance, "router", None), "routes", ()):
            dependant = getattr(route, "dependant", None)
            observed = wrapper_of(getattr(dependant, "call", None))
            if observed is not None:
                dependant.call = observed  # type: ignore[union-attr]
    return wrapped(*args, **kwargs)
