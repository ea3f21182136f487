"""The patches on the ``mcp`` SDK (1.x): where messages are sent, handled and answered.

- ``BaseSession.send_request`` / ``send_notification`` (both sides): the CLIENT span of a
  message this side initiates, its context injected into a copy of the request's ``params._meta``
  (the caller's object is left alone). A ``tools/call`` sent while a framework's ``execute_tool``
  span is current enriches that span instead of making a second one.
- ``Server._handle_request`` (every request a low-level ``Server`` or ``FastMCP`` handles) and
  ``ServerSession._received_request`` (``initialize``, which the session answers itself): the
  SERVER span, current while the handler runs; ``RequestResponder.respond`` records the answer
  (an ``ErrorData`` code or a ``CallToolResult`` with ``isError``).
  ``ClientSession._received_request``: the SERVER span of a server-initiated request (sampling,
  elicitation, roots, ping).
- ``Server._handle_message`` and ``ClientSession._received_notification``: the SERVER span of a
  notification from the peer.
- Transports: ``stdio_client``/``stdio_server``, the streamable HTTP client's ``post_writer`` and
  the server transport's ``connect`` register what they hand the session (``network.transport``,
  server address, session id). ``get_default_environment`` (the variables a stdio server the
  client starts inherits) gets the agent's, so that server is traced too. The HTTP client sends
  each POST in a task of its own: it runs in the request's MCP span context (read back from
  ``_meta``), so the HTTP spans nest under it.
"""

from __future__ import annotations

import importlib
import weakref
from urllib.parse import urlsplit

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from llmtrace_agent.instrumentors.mcp._spans import (
    Durations,
    Transport,
    carrier_of,
    describe,
    record_arguments,
    record_error,
    record_exception,
    record_outcome,
    register_transport,
    remember_protocol,
    server_context,
    session_attributes,
)
from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.child_processes import traced_child_environment
from llmtrace_agent.toolkit.genai.agent_spans import current_tool_span
from llmtrace_agent.toolkit.guard import internal_errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import ModuleType

    from opentelemetry.context import Context

    from llmtrace_agent.instrumentors.mcp import MCPInstrumentor

    AsyncCall = Callable[..., Awaitable[object]]

_CLIENT = SpanKind.CLIENT
_SERVER = SpanKind.SERVER
_PIPE = {semconv.NETWORK_TRANSPORT: "pipe"}

# The SERVER span of each request being handled, for ``respond`` to record the answer on.
_answering: weakref.WeakKeyDictionary[object, tuple[trace.Span, str]] = weakref.WeakKeyDictionary()


def install(instrumentor: MCPInstrumentor, module: ModuleType) -> None:
    """Patch the SDK's sessions, low-level server and transports."""
    tracer = instrumentor.tracer
    durations = Durations(instrumentor.meter)

    def capture() -> bool:
        return instrumentor.config.capture_content

    shared = importlib.import_module("mcp.shared.session")
    wrap = instrumentor.wrap
    for path, wrapper in (
        ("BaseSession.send_request", _send_request(tracer, durations, capture)),
        ("BaseSession.send_notification", _send_notification(tracer, durations)),
        ("RequestResponder.respond", _respond(capture)),
    ):
        if not wrap(shared, path, wrapper):
            raise RuntimeError(f"mcp.shared.session.{path} not found")
    serve = _serve(tracer, durations, capture)
    lowlevel = importlib.import_module("mcp.server.lowlevel.server")
    wrap(lowlevel, "Server._handle_request", serve)
    wrap(lowlevel, "Server._handle_message", _handle_notification(tracer, durations, False))
    received = _received_request(serve)
    wrap(importlib.import_module("mcp.server.session"), "ServerSession._received_request", received)
    client = importlib.import_module("mcp.client.session")
    wrap(client, "ClientSession._received_request", received)
    notified = _handle_notification(tracer, durations, True)
    wrap(client, "ClientSession._received_notification", notified)

    stdio = tag_streams(stdio_transport)
    client_stdio = importlib.import_module("mcp.client.stdio")
    server_stdio = importlib.import_module("mcp.server.stdio")
    wrap(client_stdio, "stdio_client", stdio)
    wrap(client_stdio, "get_default_environment", server_inherits_tracing)
    wrap(server_stdio, "stdio_server", stdio)
    wrap(module, "stdio_client", stdio)  # the package re-exports both
    wrap(module, "stdio_server", stdio)
    instrumentor.when_imported(
        "mcp.server.fastmcp.server", lambda fastmcp: wrap(fastmcp, "stdio_server", stdio)
    )
    instrumentor.when_imported(
        "mcp.client.streamable_http",
        lambda http: (
            wrap(http, "StreamableHTTPTransport.post_writer", post_writer_registers),
            wrap(http, "StreamableHTTPTransport._handle_post_request", _in_message_context),
        ),
    )
    instrumentor.when_imported(
        "mcp.server.streamable_http",
        lambda http: wrap(
            http, "StreamableHTTPServerTransport.connect", tag_streams(_server_http_transport)
        ),
    )


def _send_request(
    tracer: trace.Tracer, durations: Durations, capture: Callable[[], bool]
) -> object:
    async def send_request(
        wrapped: AsyncCall, instance: object, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> object:
        # Hot path: once per MCP request sent.
        sending = _start_sending(tracer, capture, instance, args, kwargs, request=True)
        if sending is None:
            return await wrapped(*args, **kwargs)
        span, owned, method, args, kwargs = sending
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as error:
            with internal_errors:
                end_sent(span, instance)
                record_exception(span, error)
                if owned:
                    durations.end(span, durations.client)
            raise
        with internal_errors:
            if method == "initialize":
                remember_protocol(instance, getattr(result, "protocolVersion", None))
            end_sent(span, instance)
            record_outcome(span, method, result, capture() and owned)
            if owned:
                durations.end(span, durations.client)
        return result

    return send_request


def _send_notification(tracer: trace.Tracer, durations: Durations) -> object:
    async def send_notification(
        wrapped: AsyncCall, instance: object, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> object:
        # Hot path: once per MCP notification sent.
        sending = _start_sending(tracer, None, instance, args, kwargs, request=False)
        if sending is None:
            return await wrapped(*args, **kwargs)
        span, _, _, args, kwargs = sending
        try:
            return await wrapped(*args, **kwargs)
        except BaseException as error:
            with internal_errors:
                record_exception(span, error)
            raise
        finally:
            with internal_errors:
                end_sent(span, instance)
                durations.end(span, durations.client)

    return send_notification


def _start_sending(
    tracer: trace.Tracer,
    capture: Callable[[], bool] | None,
    session: object,
    args: tuple[object, ...],
    kwargs: dict[str, object],
    request: bool,
) -> tuple[trace.Span, bool, str, tuple[object, ...], dict[str, object]] | None:
    """The span of a message about to be sent (or the framework's tool span it enriches), and
    the call's arguments with the message carrying the span's context."""
    with internal_errors:
        keyword = "request" if request else "notification"
        message = args[0] if args else kwargs.get(keyword)
        root = getattr(message, "root", message)
        method = getattr(root, "method", None)
        if not isinstance(method, str):
            return None
        params = getattr(root, "params", None)
        name, attributes = describe(method, params)
        if request:
            request_id = getattr(session, "_request_id", None)  # the id send_request will use
            if isinstance(request_id, int):
                attributes[semconv.JSONRPC_REQUEST_ID] = str(request_id)
        attributes.update(session_attributes(session))
        enclosing = enclosing_client_span(method) if request else None
        tool_span = current_tool_span() if method == "tools/call" else None
        if tool_span is not None and not traces_this_call(tool_span, attributes):
            tool_span = None
        if enclosing is not None:  # another MCP instrumentation's span for this very message
            enrich(enclosing, attributes)
            span, owned = enclosing, False
        elif tool_span is not None:  # the framework's execute_tool span: the spec's merge
            del attributes[semconv.GEN_AI_OPERATION_NAME]
            if semconv.GEN_AI_TOOL_NAME in (getattr(tool_span, "attributes", None) or {}):
                attributes.pop(semconv.GEN_AI_TOOL_NAME, None)  # the framework's name stays
            tool_span.set_attributes(attributes)
            span, owned = tool_span, False
        else:
            span, owned = tracer.start_span(name, kind=_CLIENT, attributes=attributes), True
            if capture is not None and method == "tools/call" and capture():
                record_arguments(span, params)
        carrier: dict[str, str] = {}
        propagate.inject(carrier, trace.set_span_in_context(span))
        if carrier:
            message = _with_meta(message, root, params, carrier)
            if args:
                args = (message, *args[1:])
            else:
                kwargs = {**kwargs, keyword: message}
        return span, owned, method, args, kwargs
    return None


def enclosing_client_span(method: str) -> trace.Span | None:
    """The current span, when it is another instrumentation's CLIENT span for this very request.

    FastMCP's client (the ``fastmcp`` package, on this SDK's sessions) traces each call itself,
    around the session's send: a span of ours inside it would repeat it. That span gets our
    attributes and carries the context instead.
    """
    span = trace.get_current_span()
    if getattr(span, "kind", None) is not _CLIENT or not span.is_recording():
        return None
    known = getattr(span, "attributes", None) or {}
    if known.get(semconv.MCP_METHOD_NAME) != method or semconv.JSONRPC_REQUEST_ID in known:
        return None  # another request's span (ours carry the request id from the start)
    return span


def enrich(span: trace.Span, attributes: dict[str, object]) -> None:
    """Add what ``span`` lacks of ``attributes``."""
    known = getattr(span, "attributes", None) or {}
    span.set_attributes({key: value for key, value in attributes.items() if key not in known})


def traces_this_call(tool_span: trace.Span, attributes: dict[str, object]) -> bool:
    """Whether a current ``execute_tool`` span is the framework's span for this very MCP call
    (the spec's merge), rather than an MCP span (a server's ``tools/call`` handler calling on),
    a tool span that already made its MCP call, or another tool whose code calls this one. A
    framework may prefix the tool's name (``mcp__weather__get_weather``), not change it."""
    known = getattr(tool_span, "attributes", None) or {}
    if semconv.MCP_METHOD_NAME in known:
        return False
    name = known.get(semconv.GEN_AI_TOOL_NAME)
    tool = attributes.get(semconv.GEN_AI_TOOL_NAME)
    return not (isinstance(name, str) and isinstance(tool, str)) or name.endswith(tool)


def end_sent(span: trace.Span, session: object) -> None:
    """What is known once the peer answered: the transport, the session id, the version."""
    if span.is_recording():
        span.set_attributes(session_attributes(session))


def _with_meta(message: object, root: object, params: object, carrier: dict[str, str]) -> object:
    """A copy of ``message`` whose ``params._meta`` also holds ``carrier``."""
    if params is None:
        params_type = _params_type(type(root))
        if params_type is None:
            return message
        params = params_type.model_validate({"_meta": carrier})
    else:
        meta = getattr(params, "meta", None)
        if isinstance(meta, dict) or (meta is None and not hasattr(type(params), "Meta")):
            merged: object = {**(meta or {}), **carrier}
        else:
            old = meta.model_dump(by_alias=True, exclude_none=True) if meta is not None else {}
            merged = type(params).Meta.model_validate({**old, **carrier})
        params = params.model_copy(update={"meta": merged})
    copied = root.model_copy(update={"params": params})  # type: ignore[attr-defined]
    return copied if message is root else type(message)(copied)


def _params_type(request_type: type) -> type | None:
    """The params model of a request or notification type sent without params (``ping``)."""
    field_info = getattr(request_type, "model_fields", {}).get("params")
    annotation = getattr(field_info, "annotation", None)
    for candidate in getattr(annotation, "__args__", (annotation,)):
        if isinstance(candidate, type) and hasattr(candidate, "model_validate"):
            return candidate
    return None


def _serve(tracer: trace.Tracer, durations: Durations, capture: Callable[[], bool]) -> object:
    async def handle_request(
        wrapped: AsyncCall, instance: object, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> object:
        # Hot path: once per MCP request handled.
        serving = _start_serving(tracer, capture, *args[:3])
        if serving is None:
            return await wrapped(*args, **kwargs)
        span, responder, active = serving
        token = otel_context.attach(active)
        try:
            return await wrapped(*args, **kwargs)
        except BaseException as error:
            with internal_errors:
                record_exception(span, error)
            raise
        finally:
            otel_context.detach(token)
            with internal_errors:
                _answering.pop(responder, None)
                known = getattr(span, "attributes", None) or {}
                if span.is_recording() and semconv.MCP_PROTOCOL_VERSION not in known:
                    span.set_attributes(session_attributes(args[2]))  # negotiated by initialize
                durations.end(span, durations.server)

    return handle_request


def _received_request(serve: object) -> object:
    """``initialize`` on a server session, every request on a client session, go through
    ``_received_request``: trace them like the low-level server's requests."""

    from mcp.server.session import ServerSession

    async def received_request(
        wrapped: AsyncCall, instance: object, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> object:
        responder = args[0] if args else kwargs.get("responder")
        if isinstance(instance, ServerSession):
            method = getattr(
                getattr(getattr(responder, "request", None), "root", None), "method", None
            )
            if method != "initialize":  # the low-level server's _handle_request traces the rest
                return await wrapped(*args, **kwargs)
        return await serve(  # type: ignore[operator]
            lambda _responder, _request, _session: wrapped(*args, **kwargs),
            instance,
            (responder, None, instance),
            {},
        )

    return received_request


def _start_serving(
    tracer: trace.Tracer,
    capture: Callable[[], bool],
    responder: object,
    request: object,
    session: object,
) -> tuple[trace.Span, object, Context] | None:
    """The SERVER span of a request, and the context to handle it in: the span in the sender's
    context (its baggage too), else in the ambient one."""
    with internal_errors:
        root = getattr(getattr(responder, "request", None), "root", None)
        method = getattr(root, "method", None)
        if not isinstance(method, str):
            return None
        params = getattr(root, "params", None)
        name, attributes = describe(method, params)
        request_id = getattr(responder, "request_id", None)
        if request_id is not None:
            attributes[semconv.JSONRPC_REQUEST_ID] = str(request_id)
        http_request = getattr(
            getattr(responder, "message_metadata", None), "request_context", None
        )
        attributes.update(session_attributes(session, http_request))
        parent, links = server_context(getattr(responder, "request_meta", None), http_request)
        span = tracer.start_span(name, parent, _SERVER, attributes, links)
        if method == "tools/call" and capture():
            record_arguments(span, params)
        _answering[responder] = (span, method)
        return span, responder, trace.set_span_in_context(span, parent)
    return None


def _respond(capture: Callable[[], bool]) -> object:
    async def respond(
        wrapped: AsyncCall, instance: object, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> object:
        # Hot path: once per MCP response.
        with internal_errors:
            answering = _answering.get(instance)
            if answering is not None:
                span, method = answering
                response = args[0] if args else kwargs.get("response")
                code = getattr(response, "code", None)
                if isinstance(code, int) and hasattr(response, "message"):  # ErrorData
                    record_error(span, code, response.message)  # type: ignore[attr-defined]
                else:
                    record_outcome(span, method, response, capture())
        return await wrapped(*args, **kwargs)

    return respond


def _handle_notification(tracer: trace.Tracer, durations: Durations, on_client: bool) -> object:
    """A notification handled: by a low-level server (``_handle_message(message, session…)``,
    also given requests, which it leaves alone) or a client session (``_received_notification``)."""

    async def handle_message(
        wrapped: AsyncCall, instance: object, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> object:
        # Hot path: once per message handled.
        span = active = None
        with internal_errors:
            message = args[0] if args else None
            root = getattr(message, "root", None)
            method = getattr(root, "method", None)
            if isinstance(method, str) and not hasattr(message, "respond"):  # a notification
                params = getattr(root, "params", None)
                name, attributes = describe(method, params)
                session = instance if on_client else args[1] if len(args) > 1 else None
                attributes.update(session_attributes(session))
                parent, links = server_context(getattr(params, "meta", None))
                span = tracer.start_span(name, parent, _SERVER, attributes, links)
                active = trace.set_span_in_context(span, parent)
        if span is None or active is None:
            return await wrapped(*args, **kwargs)
        token = otel_context.attach(active)
        try:
            return await wrapped(*args, **kwargs)
        except BaseException as error:
            with internal_errors:
                record_exception(span, error)
            raise
        finally:
            otel_context.detach(token)
            with internal_errors:
                durations.end(span, durations.server)

    return handle_message


class _StreamTagger(wrapt.ObjectProxy):  # type: ignore[misc]
    """A transport's async context manager whose streams, once yielded, are registered."""

    def __init__(self, manager: object, transport: Transport) -> None:
        super().__init__(manager)
        self._self_transport = transport

    async def __aenter__(self) -> object:
        streams = await self.__wrapped__.__aenter__()
        with internal_errors:
            if isinstance(streams, tuple) and len(streams) >= 2:
                register_transport(streams[1], self._self_transport)
        return streams

    async def __aexit__(self, *exc_info: object) -> object:
        return await self.__wrapped__.__aexit__(*exc_info)


def tag_streams(
    transport_of: Callable[[object, tuple[object, ...], dict[str, object]], Transport],
):
    def tagged(
        wrapped: Callable[..., object],
        instance: object,
        args: tuple[object, ...],
        kwargs: dict[str, object],
    ) -> object:
        manager = wrapped(*args, **kwargs)
        with internal_errors:
            return _StreamTagger(manager, transport_of(instance, args, kwargs))
        return manager

    return tagged


def server_inherits_tracing(
    wrapped: Callable[..., object],
    instance: object,
    args: tuple[object, ...],
    kwargs: dict[str, object],
) -> object:
    """``stdio_client`` starts its server with these variables only (``HOME``, ``PATH``,
    ``USER``…, the app's ``env`` merged over them): add the agent's, so a Python server is traced
    too and its spans join the client's trace. The app's own values win."""
    env = wrapped(*args, **kwargs)
    with internal_errors:
        if isinstance(env, dict):
            for key, value in traced_child_environment().items():
                env.setdefault(key, value)
    return env


def stdio_transport(instance: object, args: object, kwargs: object) -> Transport:
    return Transport(_PIPE)


def _server_http_transport(instance: object, args: object, kwargs: object) -> Transport:
    return Transport(_HTTP, instance, "mcp_session_id")


_HTTP = {semconv.NETWORK_TRANSPORT: "tcp", semconv.NETWORK_PROTOCOL_NAME: "http"}


async def post_writer_registers(
    wrapped: AsyncCall, instance: object, args: tuple[object, ...], kwargs: dict[str, object]
) -> object:
    """The streamable HTTP client transport starts: register it for the session's spans."""
    with internal_errors:
        write_stream = args[3] if len(args) > 3 else kwargs.get("write_stream")
        if write_stream is not None:
            attributes = dict(_HTTP)
            url = urlsplit(str(getattr(instance, "url", "")))
            if url.hostname:
                attributes[semconv.SERVER_ADDRESS] = url.hostname
                attributes[semconv.SERVER_PORT] = url.port or (443 if url.scheme == "https" else 80)
            register_transport(write_stream, Transport(attributes, instance, "session_id"))
    return await wrapped(*args, **kwargs)


async def _in_message_context(
    wrapped: AsyncCall, instance: object, args: tuple[object, ...], kwargs: dict[str, object]
) -> object:
    """POST one message in the context its ``_meta`` carries (the MCP span that sent it)."""
    token = None
    with internal_errors:
        request_context = args[0] if args else kwargs.get("ctx")
        message = getattr(getattr(request_context, "session_message", None), "message", None)
        params = getattr(getattr(message, "root", None), "params", None)
        carrier = carrier_of(params.get("_meta") if isinstance(params, dict) else None)
        if carrier and "traceparent" in carrier:
            token = otel_context.attach(propagate.extract(carrier))
    if token is None:
        return await wrapped(*args, **kwargs)
    try:
        return await wrapped(*args, **kwargs)
    finally:
        otel_context.detach(token)
