"""anthropic: one ``chat {model}`` CLIENT span per Messages API call, following the GenAI
conventions' Anthropic page (``docs/gen-ai/anthropic.md``).

Covered: ``messages.create`` (plain and ``stream=True``), ``messages.stream(...)``,
``messages.parse``, their ``beta.messages`` twins, sync and async, on every client class
(``Anthropic``, ``AnthropicBedrock`` → provider ``aws.bedrock``, ``AnthropicVertex`` →
``gcp.vertex_ai``…), since they all share these resource classes.

``messages.stream()`` does not go through ``create``: it returns a ``MessageStreamManager``
holding a deferred ``_post`` that runs on entering it, and the ``MessageStream`` it yields reads
the raw event stream itself for every way of consuming it (iteration, ``text_stream``,
``get_final_message()``, ``until_done()``). So the manager's deferred request is routed through
the same GenAI wrapper as ``create``: the span starts when the request is sent, and the raw stream
the ``MessageStream`` reads is our stream proxy, which sees every event once and ends the span once
(end of stream, error, ``close()`` on leaving the ``with`` block, or garbage collection).

anthropic 1.x and 2.x trace themselves with the global tracer provider (the agent's): a CLIENT
span per API call, and, in newer releases, the tool runner's ``invoke_agent`` span
(``anthropic.messages.tool_runner``) and one ``execute_tool`` span per tool it runs. The API-call
span of a Messages call duplicates ours (two LLM spans per call, and the SDK's span, not the HTTP
span, in the ``traceparent`` sent), so it is dropped: the tracer the SDK gets makes no span for a
CLIENT span started while one of our model-call spans is open. Everything else the SDK traces is
kept, so a tool-runner app gives one trace: the runner's agent span, our ``chat`` span per request
and the SDK's tool spans beneath it. The SDK's spans record content as its own
``open_telemetry`` option says; a client given no option records it when
``LLMTRACE_CAPTURE_CONTENT`` is on (clipped to ``LLMTRACE_CONTENT_MAX_LENGTH`` bytes) unless the
SDK's own variables say otherwise. A client given its own ``tracer_provider`` keeps all its spans
(an explicit choice). Disable this instrumentor (``LLMTRACE_DISABLED_INSTRUMENTORS=anthropic``)
to keep only the SDK's spans instead.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Generator, Mapping
    from types import ModuleType

    from llmtrace_agent.toolkit.instrumentor import Wrapper

# The modules holding the Messages resource classes; one an SDK lacks is skipped.
_RESOURCE_MODULES = ("anthropic.resources.messages", "anthropic.resources.beta.messages")


class AnthropicInstrumentor(Instrumentor):
    """Traces the Anthropic Messages API (``anthropic`` 0.43 and later, up to 2.x)."""

    name = "anthropic"
    targets = ("anthropic",)
    requires = "anthropic>=0.43,<3"  # 0.43: MessageStream reads the stream the request returned

    def instrument(self, module: ModuleType) -> None:
        import importlib
        import sys

        from llmtrace_agent.instrumentors.anthropic.messages import MessagesOperation
        from llmtrace_agent.toolkit.genai import async_llm_wrapper, llm_wrapper

        stream_types = (module.Stream, module.AsyncStream)
        chat = MessagesOperation(stream_types)
        streamed_chat = MessagesOperation(stream_types, always_streams=True)
        sync_call, async_call = llm_wrapper(self, chat), async_llm_wrapper(self, chat)
        sync_stream = stream_manager_wrapper(llm_wrapper(self, streamed_chat), awaited=False)
        async_stream = stream_manager_wrapper(async_llm_wrapper(self, streamed_chat), awaited=True)
        patched = False
        for name in _RESOURCE_MODULES:
            try:
                resources = importlib.import_module(name)
            except ImportError:
                continue
            for method in ("create", "parse"):
                patched |= self.wrap(resources, f"Messages.{method}", sync_call)
                self.wrap(resources, f"AsyncMessages.{method}", async_call)
            self.wrap(resources, "Messages.stream", sync_stream)
            self.wrap(resources, "AsyncMessages.stream", async_stream)
        if not patched:
            raise RuntimeError("anthropic has no Messages.create to instrument")
        base_client = importlib.import_module("anthropic._base_client")
        if hasattr(base_client, "get_tracer"):  # anthropic >= 1: the SDK's own spans
            self.wrap(base_client, "get_tracer", without_duplicate_sdk_spans)
            # The module of get_tracer reads a client's options from the environment.
            sdk_tracing = sys.modules.get(getattr(base_client.get_tracer, "__module__", ""))
            if sdk_tracing is not None:
                self.wrap(sdk_tracing, "env_open_telemetry", self._content_as_configured)
        streaming = importlib.import_module("anthropic._streaming")
        for metaclass in ("_SyncStreamMeta", "_AsyncStreamMeta"):  # anthropic 0.x
            self.wrap(streaming, f"{metaclass}.__instancecheck__", stream_proxy_instancecheck)

    def _content_as_configured(
        self,
        wrapped: Callable[..., object],
        instance: object,
        args: tuple[object, ...],
        kwargs: dict[str, object],
    ) -> object:
        """``anthropic._tracing.env_open_telemetry()``, the option of a client given none: with
        our content capture on, the SDK's spans (the tool runner's tool arguments and results)
        record content too, clipped to our length, unless the SDK's own variables say."""
        from llmtrace_agent.toolkit.guard import internal_errors

        options = wrapped(*args, **kwargs)
        with internal_errors:
            config = self.config
            traces = options.get("traces") if isinstance(options, dict) else None
            if config.capture_content and isinstance(traces, dict):
                traces.setdefault("content_mode", "content")
                traces.setdefault("max_content_bytes", config.content_max_length)
        return options


def stream_manager_wrapper(traced_request: Wrapper, awaited: bool) -> Wrapper:
    """A wrapper for ``messages.stream``: the manager it returns sends its deferred request
    through ``traced_request`` (the GenAI wrapper) when it is entered."""
    from llmtrace_agent.toolkit.guard import internal_errors

    def wrapper(
        wrapped: Callable[..., object],
        instance: object,
        args: tuple[object, ...],
        kwargs: dict[str, object],
    ) -> object:
        manager = wrapped(*args, **kwargs)
        with internal_errors:
            route_deferred_request(manager, traced_request, instance, kwargs, awaited)
        return manager

    return wrapper


def route_deferred_request(
    manager: object,
    traced_request: Wrapper,
    instance: object,
    kwargs: Mapping[str, object],
    awaited: bool,
) -> None:
    """Replace the stream manager's deferred request (``__api_request``, a callable for the sync
    manager, an awaitable for the async one) by one that runs through ``traced_request``, which
    describes the call from the ``stream(...)`` arguments. A manager without it is left alone."""
    import functools

    for attribute, request in vars(manager).items():
        if attribute.endswith("__api_request"):  # name-mangled: _MessageStreamManager__api_request
            if awaited:
                traced = functools.partial(traced_request, _await, instance, (request,), kwargs)
                setattr(manager, attribute, _AwaitLater(traced))
            else:
                traced = functools.partial(traced_request, _call, instance, (request,), kwargs)
                setattr(manager, attribute, traced)
            return


def _call(request: Callable[[], object], /, **_arguments: object) -> object:
    """Send the manager's deferred request (the ``stream(...)`` arguments only describe it)."""
    return request()


async def _await(request: Awaitable[object], /, **_arguments: object) -> object:
    return await request


class _AwaitLater:
    """An awaitable that calls ``start`` only when awaited: the async manager awaits its request
    on ``__aenter__``, so the span starts then (and nothing is left un-awaited if it never is)."""

    __slots__ = ("_start",)

    def __init__(self, start: Callable[[], Awaitable[object]]) -> None:
        self._start = start

    def __await__(self) -> Generator[object, None, object]:
        return self._start().__await__()


def stream_proxy_instancecheck(
    wrapped: Callable[..., object],
    instance: object,
    args: tuple[object, ...],
    kwargs: dict[str, object],
) -> object:
    """``isinstance(obj, Stream)`` in anthropic 0.x, whose stream metaclass answers True only
    for a ``Stream`` itself (its fast path) and for ``MessageStream``: our stream proxies answer
    as the stream they wrap, so ``isinstance(create(stream=True), anthropic.Stream)`` holds."""
    from llmtrace_agent.toolkit.genai import AsyncStreamProxy, StreamProxy

    checked = args[0] if args else kwargs.get("instance")
    if isinstance(checked, (StreamProxy, AsyncStreamProxy)):
        return isinstance(checked.__wrapped__, instance)  # type: ignore[arg-type]
    return wrapped(*args, **kwargs)


def without_duplicate_sdk_spans(
    wrapped: Callable[..., object],
    instance: object,
    args: tuple[object, ...],
    kwargs: dict[str, object],
) -> object:
    """``anthropic._base_client.get_tracer(options, …)``: for a client whose spans go to the
    global provider, a tracer that drops the API-call span of a call ours already traces."""
    from llmtrace_agent.toolkit.guard import internal_errors

    tracer = wrapped(*args, **kwargs)
    with internal_errors:
        options = args[0] if args else kwargs.get("options")
        if tracer is None or not isinstance(options, dict) or options.get("tracer_provider"):
            return tracer
        from llmtrace_agent.instrumentors.anthropic.sdk_spans import WithoutDuplicateCalls

        return WithoutDuplicateCalls(tracer)  # type: ignore[arg-type]
    return tracer
