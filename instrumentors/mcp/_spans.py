"""MCP spans as ``docs/gen-ai/mcp.md`` (v1.41) shapes them, for both sides of a session.

A request or notification gets ``{mcp.method.name} {target}`` (target: the tool or prompt name;
a resource URI only as ``mcp.resource.uri``, never in the name), CLIENT where it is sent, SERVER
where it is handled. The sender puts its context (``traceparent``, ``tracestate``, ``baggage``)
into ``params._meta``; the handler's span parents on it and links the ambient context (the HTTP
request that carried the message) when that is another span.
"""

from __future__ import annotations

import weakref

from opentelemetry import propagate, trace
from opentelemetry.trace import Link, Status, StatusCode

from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.genai import blob_part, clip
from llmtrace_agent.toolkit.genai.agent_spans import content_json
from llmtrace_agent.toolkit.genai.call import error_type_of
from llmtrace_agent.toolkit.http_server import REQUEST_KEY
from llmtrace_agent.toolkit.readers import as_int, as_str, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from opentelemetry.context import Context
    from opentelemetry.metrics import Histogram, Meter

__all__ = [
    "Durations",
    "Transport",
    "carrier_of",
    "describe",
    "record_arguments",
    "record_error",
    "record_exception",
    "record_outcome",
    "register_transport",
    "remember_protocol",
    "server_context",
    "session_attributes",
    "tool_result_json",
]

_URI_METHODS = frozenset(
    (
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "notifications/resources/updated",
    )
)
_ERROR = StatusCode.ERROR
# The span attributes the duration metrics keep (the spec's list: no ids, no URIs).
_METRIC_KEYS = frozenset(
    (
        semconv.MCP_METHOD_NAME,
        semconv.ERROR_TYPE,
        semconv.GEN_AI_TOOL_NAME,
        semconv.GEN_AI_PROMPT_NAME,
        semconv.RPC_RESPONSE_STATUS_CODE,
        semconv.GEN_AI_OPERATION_NAME,
        semconv.MCP_PROTOCOL_VERSION,
        semconv.NETWORK_TRANSPORT,
        semconv.NETWORK_PROTOCOL_NAME,
        semconv.SERVER_ADDRESS,
        semconv.SERVER_PORT,
    )
)


class Durations:
    """``mcp.client.operation.duration`` and ``mcp.server.operation.duration``, each recorded
    as its span ends, from the span's own times and attributes."""

    __slots__ = ("client", "server")

    def __init__(self, meter: Meter) -> None:
        buckets = list(semconv.MCP_OPERATION_DURATION_BUCKETS)
        self.client = meter.create_histogram(
            semconv.MCP_CLIENT_OPERATION_DURATION,
            unit="s",
            description="Duration of an MCP request or notification, as its sender saw it.",
            explicit_bucket_boundaries_advisory=buckets,
        )
        self.server = meter.create_histogram(
            semconv.MCP_SERVER_OPERATION_DURATION,
            unit="s",
            description="Duration of an MCP request or notification, as its receiver saw it.",
            explicit_bucket_boundaries_advisory=buckets,
        )

    def end(self, span: trace.Span, histogram: Histogram) -> None:
        """End ``span`` and record its duration (a span the SDK does not record has none)."""
        span.end()
        start = getattr(span, "start_time", None)
        end = getattr(span, "end_time", None)
        if start is not None and end is not None:
            attributes = getattr(span, "attributes", None) or {}
            histogram.record(
                (end - start) / 1e9, {k: v for k, v in attributes.items() if k in _METRIC_KEYS}
            )


class Transport:
    """What a session's transport adds to its spans: ``network.transport`` (``pipe`` for stdio,
    ``tcp`` for HTTP), the server's address and the ``mcp.session.id`` it carries."""

    __slots__ = ("attributes", "holder", "session_attribute")

    def __init__(
        self,
        attributes: dict[str, object],
        holder: object = None,
        session_attribute: str = "",
    ) -> None:
        self.attributes = attributes
        self.holder = holder
        """The SDK's transport object, read at span end (the session id arrives with the
        ``initialize`` response)."""
        self.session_attribute = session_attribute

    def session_id(self) -> str | None:
        return as_str(getattr(self.holder, self.session_attribute, None)) if self.holder else None


# The transport of each session, by the write stream the transport handed the session
# (``session._write_stream``): set where the SDK's transports yield their streams.
_transports: weakref.WeakKeyDictionary[object, Transport] = weakref.WeakKeyDictionary()
# The protocol version each client session negotiated, from its ``initialize`` result.
_protocols: weakref.WeakKeyDictionary[object, str] = weakref.WeakKeyDictionary()


def register_transport(write_stream: object, transport: Transport) -> None:
    """Remember the transport behind a session's write stream."""
    key = _stream_key(write_stream)
    if key is not None:
        _transports[key] = transport


def _stream_key(stream: object) -> object:
    """``stream``, or the memory stream inside mcp 2's slotted ``ContextSendStream`` (neither
    can be weakly referenced otherwise); None if neither can."""
    for candidate in (stream, getattr(stream, "_inner", None)):
        if candidate is not None and hasattr(type(candidate), "__weakref__"):
            return candidate
    return None


def remember_protocol(session: object, version: object) -> None:
    if isinstance(version, str):
        _protocols[session] = version


def session_attributes(session: object, request_context: object = None) -> dict[str, object]:
    """Transport, session id and protocol version of ``session`` (client or server side)."""
    attributes: dict[str, object] = {}
    transport = None
    stream = _stream_key(getattr(session, "_write_stream", None))
    if stream is not None:
        transport = _transports.get(stream)
    session_id = None
    if transport is not None:
        attributes.update(transport.attributes)
        session_id = transport.session_id()
    if request_context is not None:  # the server's HTTP request (starlette), per message
        headers = getattr(request_context, "headers", None)
        if session_id is None and headers is not None:
            session_id = as_str(headers.get("mcp-session-id"))
        client = getattr(request_context, "client", None)
        if client is not None:
            attributes[semconv.CLIENT_ADDRESS] = client[0]
            attributes[semconv.CLIENT_PORT] = client[1]
    if session_id is not None:
        attributes[semconv.MCP_SESSION_ID] = session_id
    version = None
    if session is not None:
        version = _protocols.get(session) or _negotiated_version(session)
    if version is not None:
        attributes[semconv.MCP_PROTOCOL_VERSION] = version
    return attributes


def _negotiated_version(session: object) -> str | None:
    """A server session's version: the client's if the server supports it (as the SDK answers)."""
    params = getattr(session, "_client_params", None)
    requested = as_str(getattr(params, "protocolVersion", None))
    if requested is None:
        return None
    from mcp.shared.version import SUPPORTED_PROTOCOL_VERSIONS
    from mcp.types import LATEST_PROTOCOL_VERSION

    return requested if requested in SUPPORTED_PROTOCOL_VERSIONS else LATEST_PROTOCOL_VERSION


def describe(method: str, params: object) -> tuple[str, dict[str, object]]:
    """The span name and request attributes of one MCP message."""
    # Hot path: once per MCP message.
    attributes: dict[str, object] = {semconv.MCP_METHOD_NAME: method}
    name = method
    if method == "tools/call":
        attributes[semconv.GEN_AI_OPERATION_NAME] = "execute_tool"
        tool = as_str(field(params, "name"))
        if tool is not None:
            attributes[semconv.GEN_AI_TOOL_NAME] = tool
            name = f"{method} {tool}"
    elif method == "prompts/get":
        prompt = as_str(field(params, "name"))
        if prompt is not None:
            attributes[semconv.GEN_AI_PROMPT_NAME] = prompt
            name = f"{method} {prompt}"
    elif method in _URI_METHODS:
        uri = field(params, "uri")
        if uri is not None:
            attributes[semconv.MCP_RESOURCE_URI] = str(uri)
    return name, attributes


def carrier_of(meta: object) -> Mapping[str, object] | None:
    """The ``_meta`` property bag as a mapping (a dict on the wire, a pydantic model in the SDK's
    typed requests, its extra fields holding ``traceparent``)."""
    if meta is None:
        return None
    if isinstance(meta, dict):
        return meta
    extra = getattr(meta, "model_extra", None)
    return extra if extra else None


def server_context(
    meta: object, request_context: object = None
) -> tuple[Context | None, list[Link] | None]:
    """The parent of a SERVER span (the sender's context from ``_meta``, else the ambient one)
    and a link to the ambient span (the HTTP request) when it is another one."""
    carrier = carrier_of(meta)
    parent = None
    if carrier and "traceparent" in carrier:
        extracted = propagate.extract(carrier)
        if trace.get_current_span(extracted).get_span_context().is_valid:
            parent = extracted
    if parent is None:
        return None, None
    ambient = trace.get_current_span().get_span_context()
    scope = getattr(request_context, "scope", None)
    if isinstance(scope, dict):  # the ASGI request span, when our ASGI instrumentor serves it
        http_request = scope.get(REQUEST_KEY)
        if http_request is not None:
            ambient = http_request.span.get_span_context()
    if ambient.is_valid and ambient != trace.get_current_span(parent).get_span_context():
        return parent, [Link(ambient)]
    return parent, None


def record_error(span: trace.Span, code: object, message: object) -> None:
    """A JSON-RPC error response: its code is ``error.type`` and the status description its
    message (the spec's rule)."""
    text = str(code)
    span.set_attribute(semconv.ERROR_TYPE, text)
    span.set_attribute(semconv.RPC_RESPONSE_STATUS_CODE, text)
    span.set_status(Status(_ERROR, as_str(message)))


def record_exception(span: trace.Span, error: BaseException) -> None:
    """An exception instead of a response: an ``McpError`` carries the JSON-RPC error."""
    data = getattr(error, "error", None)
    code = as_int(getattr(data, "code", None))
    if code is not None:
        record_error(span, code, getattr(data, "message", None))
    elif isinstance(error, Exception):
        span.set_attribute(semconv.ERROR_TYPE, error_type_of(error))
        span.set_status(Status(_ERROR, f"{type(error).__name__}: {error}"[:1024]))
        span.record_exception(error)


def record_outcome(span: trace.Span, method: str, result: object, capture: bool) -> None:
    """A result: a ``CallToolResult`` with ``isError`` is a ``tool_error``; a tool's result is
    content (recorded with capture on, only when the tool succeeded, as the spec says)."""
    if method != "tools/call":
        return
    result = getattr(result, "root", result)  # a ServerResult on the server side
    if _either(result, "isError", "is_error") is True:
        span.set_attribute(semconv.ERROR_TYPE, "tool_error")
        span.set_status(Status(_ERROR))
    elif capture:
        span.set_attribute(semconv.GEN_AI_TOOL_CALL_RESULT, tool_result_json(result))


def record_arguments(span: trace.Span, params: object) -> None:
    """A tool call's arguments (content: the caller checks capture is on)."""
    arguments = field(params, "arguments")
    if arguments is not None:
        span.set_attribute(semconv.GEN_AI_TOOL_CALL_ARGUMENTS, content_json(arguments))


def tool_result_json(result: object) -> str:
    """A tool's result as JSON: its structured content when it has some, else its content
    blocks, with images and audio replaced by placeholders."""
    structured = _either(result, "structuredContent", "structured_content")
    if structured is not None:
        return content_json(structured)
    parts: list[object] = []
    for block in field(result, "content") or ():
        kind = field(block, "type")
        if kind == "text":
            parts.append({"type": "text", "content": clip(field(block, "text"))})
        elif kind in ("image", "audio"):
            mime_type = _either(block, "mimeType", "mime_type")
            parts.append(blob_part(kind, mime_type, field(block, "data")))
        else:  # an embedded resource or a resource link: its URI says what it is
            resource = field(block, "resource") or block
            parts.append({"type": kind, "uri": str(field(resource, "uri"))})
    return content_json(parts)


def _either(obj: object, wire: str, python: str) -> object:
    """A field by its wire (camelCase) name, in a dict or a 1.x model, or by its Python name in
    a 2.x model (``is_error``, ``structured_content``)."""
    value = field(obj, wire)
    return value if value is not None or isinstance(obj, dict) else getattr(obj, python, None)
