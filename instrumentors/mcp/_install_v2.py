"""The patches on the ``mcp`` SDK 2.x, which traces itself: its spans are replaced by ours.

mcp 2 makes a CLIENT span (``MCP send {method} {target}``) in ``JSONRPCDispatcher.send_raw_request``
around every request a session sends, injecting its context into ``params._meta``, and a SERVER
span per message in the low-level server's ``OpenTelemetryMiddleware``. Both go to the global
tracer provider (the agent's). Keeping them beside ours would trace each message twice, so:

- ``send_raw_request`` runs in our CLIENT span (named per the convention, with ``gen_ai.*``
  attributes, ``tool_error``, content), and the dispatcher's ``otel_span`` hands the SDK that
  span instead of opening its own: the SDK's ``jsonrpc.request.id``, error code and the context it
  injects are then ours. A ``tools/call`` inside a framework's ``execute_tool`` span for that tool
  enriches that span, as with 1.x.
- ``OpenTelemetryMiddleware.__call__`` is replaced by the same SERVER span as with 1.x (the
  ``_meta`` parent with its baggage, the HTTP request linked, session id, content), calling the
  rest of the chain exactly as the SDK's middleware does.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from llmtrace_agent.instrumentors.mcp._install import (
    enclosing_client_span,
    end_sent,
    enrich,
    post_writer_registers,
    server_inherits_tracing,
    stdio_transport,
    tag_streams,
    traces_this_call,
)
from llmtrace_agent.instrumentors.mcp._spans import (
    Durations,
    describe,
    record_arguments,
    record_error,
    record_exception,
    record_outcome,
    remember_protocol,
    server_context,
    session_attributes,
)
from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.genai.agent_spans import current_tool_span
from llmtrace_agent.toolkit.guard import internal_errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator
    from types import ModuleType

    from llmtrace_agent.instrumentors.mcp import MCPInstrumentor

    AsyncCall = Callable[..., Awaitable[object]]

_CLIENT = SpanKind.CLIENT
_SERVER = SpanKind.SERVER
_HTTP = {semconv.NETWORK_TRANSPORT: "tcp", semconv.NETWORK_PROTOCOL_NAME: "http"}
_INVALID_PARAMS = -32602  # what the SDK answers a request whose params fail validation
_INTERNAL_ERROR = -32603  # what it answers a handler's exception with


def install_v2(instrumentor: MCPInstrumentor, module: ModuleType) -> None:
    """Patch mcp 2.x's dispatcher and server middleware."""
    tracer = instrumentor.tracer
    durations = Durations(instrumentor.meter)

    def capture() -> bool:
        return instrumentor.config.capture_content

    dispatcher = importlib.import_module("mcp.shared.jsonrpc_dispatcher")
    middleware = importlib.import_module("mcp.server._otel")
    for owner, path, wrapper in (
        (dispatcher, "otel_span", _sdk_span),
        (dispatcher, "JSONRPCDispatcher.send_raw_request", _send(tracer, durations, capture)),
        (dispatcher, "JSONRPCDispatcher.notify", _notify(tracer, durations)),
        (middleware, "OpenTelemetryMiddleware.__call__", _serve(tracer, durations, capture)),
    ):
        if not instrumentor.wrap(owner, path, wrapper):
            raise RuntimeError(f"{owner.__name__}.{path} not found")
    # The in-memory dispatcher (``Client(server)``) sends without a span or ``_meta`` of the SDK's.
    direct = importlib.import_module("mcp.shared.direct_dispatcher")
    wrap = instrumentor.wrap
    wrap(direct, "DirectDispatcher.send_raw_request", _send(tracer, durations, capture))
    wrap(direct, "DirectDispatcher.notify", _notify(tracer, durations))
    # The transports register what they hand the dispatcher, as with 1.x.
    stdio = tag_streams(stdio_transport)
    client_stdio = importlib.import_module("mcp.client.stdio")
    wrap(client_stdio, "stdio_client", stdio)
    wrap(client_stdio, "get_default_environment", server_inherits_tracing)
    wrap(importlib.import_module("mcp.server.stdio"), "stdio_server", stdio)
    wrap(module, "stdio_client", stdio)  # the package re-exports both
    wrap(module, "stdio_server", stdio)
    instrumentor.when_imported(
        "mcp.server.mcpserver.server", lambda server: wrap(server, "stdio_server", stdio)
    )
    instrumentor.when_imported(
        "mcp.client.streamable_http",
        lambda http: wrap(http, "StreamableHTTPTransport.post_writer", post_writer_registers),
    )


def _sdk_span(
    wrapped: Callable[..., object],
    instance: object,
    args: tuple[object, ...],
    kwargs: dict[str, object],
) -> object:
    """The dispatcher's own span: the current one (ours), given the SDK's attributes."""
    return _current_span(kwargs.get("attributes"))


@contextmanager
def _current_span(attributes: object) -> Iterator[trace.Span]:
    span = trace.get_current_span()
    with internal_errors:
        if isinstance(attributes, dict) and span.is_recording():
            enrich(span, attributes)
    yield span


def _send(tracer: trace.Tracer, durations: Durations, capture: Callable[[], bool]) -> object:
    async def send_raw_request(
        wrapped: AsyncCall, instance: object, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> object:
        # Hot path: once per MCP request sent.
        span = token = merged = None
        method = ""
        with internal_errors:
            method = args[0] if args else kwargs.get("method")  # type: ignore[assignment]
            params = args[1] if len(args) > 1 else kwargs.get("params")
            if isinstance(method, str):
                name, attributes = describe(method, params)
                enclosing = enclosing_client_span(method)
                tool_span = current_tool_span() if method == "tools/call" else None
                if enclosing is not None:  # another MCP instrumentation's span for it
                    enrich(enclosing, {**attributes, **session_attributes(instance)})
                    merged = enclosing  # current: the SDK injects its context
                elif tool_span is not None and traces_this_call(tool_span, attributes):
                    del attributes[semconv.GEN_AI_OPERATION_NAME]
                    known = getattr(tool_span, "attributes", None) or {}
                    if semconv.GEN_AI_TOOL_NAME in known:
                        attributes.pop(semconv.GEN_AI_TOOL_NAME, None)
                    tool_span.set_attributes(attributes)  # the SDK adds the request id
                    merged = tool_span
                else:
                    attributes.update(session_attributes(instance))  # by its write stream
                    span = tracer.start_span(name, kind=_CLIENT, attributes=attributes)
                    if method == "tools/call" and capture():
                        record_arguments(span, params)
                    token = otel_context.attach(trace.set_span_in_context(span))
        if span is None:
            if merged is None:
                return await wrapped(*args, **kwargs)
            result = await wrapped(*args, **kwargs)
            with internal_errors:
                record_outcome(merged, method, result, False)  # tool_error on the tool span
            return result
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as error:
            with internal_errors:
                if semconv.ERROR_TYPE not in (getattr(span, "attributes", None) or {}):
                    record_exception(span, error)  # the SDK recorded a JSON-RPC error itself
            raise
        else:
            with internal_errors:
                if method == "initialize" and isinstance(result, Mapping):
                    remember_protocol(instance, result.get("protocolVersion"))
                record_outcome(span, method, result, capture())
            return result
        finally:
            if token is not None:
                otel_context.detach(token)
            with internal_errors:
                end_sent(span, instance)  # the session id and version the answer brought
                durations.end(span, durations.client)

    return send_raw_request


def _notify(tracer: trace.Tracer, durations: Durations) -> object:
    """A notification sent: its CLIENT span, whose context goes into a copy of its params'
    ``_meta`` (the SDK propagates context on requests only)."""

    async def notify(
        wrapped: AsyncCall, instance: object, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> object:
        # Hot path: once per MCP notification sent.
        span = None
        with internal_errors:
            method = args[0] if args else kwargs.get("method")
            params = args[1] if len(args) > 1 else kwargs.get("params")
            if isinstance(method, str) and (params is None or isinstance(params, Mapping)):
                name, attributes = describe(method, params)
                attributes.update(session_attributes(instance))
                span = tracer.start_span(name, kind=_CLIENT, attributes=attributes)
                carrier: dict[str, str] = {}
                propagate.inject(carrier, trace.set_span_in_context(span))
                meta = (params or {}).get("_meta")
                meta = {**meta, **carrier} if isinstance(meta, Mapping) else carrier
                params = {**(params or {}), "_meta": meta}
                if len(args) > 1:
                    args = (args[0], params, *args[2:])
                else:
                    kwargs = {**kwargs, "params": params}
        if span is None:
            return await wrapped(*args, **kwargs)
        try:
            return await wrapped(*args, **kwargs)
        except BaseException as error:
            with internal_errors:
                record_exception(span, error)
            raise
        finally:
            with internal_errors:
                durations.end(span, durations.client)

    return notify


def _serve(tracer: trace.Tracer, durations: Durations, capture: Callable[[], bool]) -> object:
    async def middleware(
        wrapped: AsyncCall, instance: object, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> object:
        # Hot path: once per MCP message handled.
        span = active = None
        method = ""
        with internal_errors:
            context, call_next = args[0], args[1]
            method = context.method  # type: ignore[attr-defined]
            params = context.params  # type: ignore[attr-defined]
            name, attributes = describe(method, params)
            request_id = context.request_id  # type: ignore[attr-defined]
            if request_id is not None:
                attributes[semconv.JSONRPC_REQUEST_ID] = str(request_id)
            version = getattr(context, "protocol_version", None)
            if isinstance(version, str) and version:
                attributes[semconv.MCP_PROTOCOL_VERSION] = version
            http_request = getattr(context, "request", None)
            if getattr(http_request, "scope", None) is not None:
                attributes.update(_HTTP)
            connection = getattr(getattr(context, "session", None), "_connection", None)
            outbound = getattr(connection, "outbound", None)  # its write stream: the transport
            attributes.update(session_attributes(outbound, http_request))
            session_id = getattr(connection, "session_id", None)
            if isinstance(session_id, str) and session_id:
                attributes[semconv.MCP_SESSION_ID] = session_id
            parent, links = server_context(getattr(context, "meta", None), http_request)
            span = tracer.start_span(name, parent, _SERVER, attributes, links)
            if method == "tools/call" and capture():
                record_arguments(span, params)
            active = trace.set_span_in_context(span, parent)
        if span is None or active is None:
            return await wrapped(*args, **kwargs)  # the SDK's own span, then
        token = otel_context.attach(active)
        try:
            result = await call_next(context)
        except BaseException as error:
            with internal_errors:
                _record_failure(span, error)
            raise
        else:
            with internal_errors:
                record_outcome(span, method, result, capture())
            return result
        finally:
            otel_context.detach(token)
            with internal_errors:
                durations.end(span, durations.server)

    return middleware


def _record_failure(span: trace.Span, error: BaseException) -> None:
    """The JSON-RPC error the SDK answers with: an ``MCPError``'s own code, ``-32602`` for
    invalid params (pydantic's message carries the client's input: not recorded), ``-32603``
    (its message sanitized) for any other exception, which is recorded as an event."""
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        record_error(span, _INVALID_PARAMS, "Invalid request parameters")
    elif isinstance(error, Exception) and getattr(error, "error", None) is None:
        record_error(span, _INTERNAL_ERROR, "Internal error")
        span.record_exception(error)
    else:
        record_exception(span, error)
