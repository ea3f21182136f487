"""HTTP server spans, shared by the ASGI and WSGI middlewares and the frameworks' route hooks.

One SERVER span per incoming request, following the stable OpenTelemetry HTTP server conventions
(``docs/http/http-spans.md``): named ``{method} {http.route}`` (just ``{method}`` until a framework
reports its route template, ``websocket {route}`` for a WebSocket), with ``http.request.method``,
``url.path``, ``url.scheme``, ``server.address``/``server.port`` (from the ``Host`` header, else the
listening socket), ``client.address``, ``user_agent.original``, ``network.protocol.version``,
``http.route``, ``http.response.status_code``, and status ERROR plus ``error.type`` for a 5xx
answer or an exception. ``url.query`` only with ``LLMTRACE_SERVER_CAPTURE_QUERY`` (redacted as
``url.full`` is on the client side), headers only from the
``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_*`` allow-lists, never credentials.

Context in: the request's W3C ``traceparent``/``tracestate`` are its parent; with
``LLMTRACE_PROPAGATE_ATTRIBUTES`` its ``baggage`` ``session.id``/``user.id`` open an
``attributes()`` block, so the server span and every span under it carry them. Requests whose URL
matches ``LLMTRACE_SERVER_EXCLUDE_URLS`` or ``OTEL_PYTHON_EXCLUDED_URLS`` are not traced.

A middleware calls ``start_request`` (None: serve untraced), then ``activate``/``deactivate``
around every piece of work it runs for the request (the app call, each body chunk of a WSGI
response), reports ``response`` and ``disconnected``, and ``end`` once. A framework reports its
route template with ``set_route`` from inside the request (it finds the request through a
context variable, so it needs no handle on the middleware).
"""

from __future__ import annotations

import re
from contextvars import ContextVar

from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmtrace_agent._runtime import agent_state
from llmtrace_agent.toolkit.guard import internal_errors
from llmtrace_agent.toolkit.http_spans import (
    KNOWN_METHODS,
    error_type,
    redact_url,
)
from llmtrace_agent.toolkit.semconv import (
    CLIENT_ADDRESS,
    CLIENT_DISCONNECTED_EVENT,
    ERROR_TYPE,
    HTTP_REQUEST_HEADER_TEMPLATE,
    HTTP_REQUEST_METHOD,
    HTTP_REQUEST_METHOD_ORIGINAL,
    HTTP_RESPONSE_HEADER_TEMPLATE,
    HTTP_RESPONSE_STATUS_CODE,
    HTTP_ROUTE,
    NETWORK_PROTOCOL_VERSION,
    SERVER_ADDRESS,
    SERVER_PORT,
    SESSION_ID,
    URL_PATH,
    URL_QUERY,
    URL_SCHEME,
    USER_AGENT_ORIGINAL,
    USER_ID,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer

__all__ = [
    "NEVER_CAPTURED_HEADERS",
    "PROPAGATION_HEADERS",
    "REQUEST_KEY",
    "ServerRequest",
    "current_request",
    "record_exception",
    "set_route",
    "start_request",
    "wanted_headers",
]

PROPAGATION_HEADERS = ("traceparent", "tracestate", "baggage")
REQUEST_KEY = "llmtrace.server_request"
"""Key of the ASGI scope / WSGI environ of a request the agent's middleware took: its
``ServerRequest``, or None when it is deliberately untraced (excluded). A second middleware then
adds no second span, and a framework that traces itself is told to leave the request alone."""
NEVER_CAPTURED_HEADERS = frozenset(
    (
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "x-auth-token",
    )
)
"""Headers no allow-list can record: credentials, session cookies, API keys."""

_SERVER = SpanKind.SERVER
# What ends a request as an error: the app failed, or the process was stopped in the middle of it
# (gunicorn's worker timeout and quick shutdown raise SystemExit inside the view, Ctrl-C
# KeyboardInterrupt): the request went unanswered. A cancelled task or closed generator is the
# client leaving, recorded as a disconnect instead.
_FAILURES = (Exception, SystemExit, KeyboardInterrupt)
_ERROR = Status(StatusCode.ERROR)
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

current_request: ContextVar[ServerRequest | None] = ContextVar(
    "llmtrace_server_request", default=None
)
"""The request being served in this thread or task (while its middleware has it active)."""


class ServerRequest:
    """One incoming request: its SERVER span, the context work for it runs in, its outcome."""

    __slots__ = (
        "_context",
        "_ended",
        "_exception",
        "_name",
        "_status_code",
        "complete",
        "labels",
        "root_path",
        "route",
        "span",
    )

    def __init__(self, span: Span, context: Context, name: str, root_path: str) -> None:
        self.span = span
        self._context = context
        self._name = name  # "GET", "HTTP" (an unknown method) or "websocket"
        self.root_path = root_path
        """The path prefix the server mounts the app under: routes are reported below it."""
        self.route: str | None = None
        self.complete = False
        """Whether the whole response went out (a disconnect after that is no news)."""
        self._status_code = 0
        self._exception: BaseException | None = None
        self.labels: dict[str, str] | None = None
        """``session.id``/``user.id`` from the incoming baggage, for an ``attributes()`` block."""
        self._ended = False

    def activate(self) -> tuple[object, object, object]:
        """Make the span current (and this request findable) for work done for the request."""
        # Hot path: once per request, and per body chunk of a WSGI response.
        block = None
        labels = self.labels
        if labels is not None:
            import llmtrace_agent

            block = llmtrace_agent.attributes(
                session_id=labels.get(SESSION_ID), user_id=labels.get(USER_ID)
            )
            block.__enter__()
        return otel_context.attach(self._context), current_request.set(self), block

    def deactivate(self, tokens: tuple[object, object, object]) -> None:
        """Undo ``activate`` (same thread or task)."""
        with internal_errors:
            current_request.reset(tokens[1])  # type: ignore[arg-type]
            otel_context.detach(tokens[0])  # type: ignore[arg-type]
            if tokens[2] is not None:
                tokens[2].__exit__(None, None, None)  # type: ignore[attr-defined]

    def response(
        self, status_code: int, headers: Iterable[tuple[str | bytes, str | bytes]] = ()
    ) -> None:
        """Record the response status (5xx makes it an error) and allow-listed headers."""
        with internal_errors:
            self._status_code = status_code
            self.span.set_attribute(HTTP_RESPONSE_STATUS_CODE, status_code)
            wanted = agent_state.config.server_response_headers
            if wanted:
                _record_headers(self.span, HTTP_RESPONSE_HEADER_TEMPLATE, wanted, headers)

    def record_exception(self, exc: BaseException) -> None:
        """An exception the framework turned into a response itself: if that response is a 5xx,
        the exception is its ``error.type`` and is recorded on the span."""
        self._exception = exc

    def disconnected(self) -> None:
        """The client went away before the response was complete (recorded once)."""
        with internal_errors:
            if not self.complete:
                self.complete = True
                self.span.add_event(CLIENT_DISCONNECTED_EVENT)

    def end(self, exc: BaseException | None = None) -> None:
        """Name the span after its route, set its outcome and end it; later calls do nothing."""
        with internal_errors:
            if self._ended:
                return
            span = self.span
            route = self.route
            if route is not None:
                span.set_attribute(HTTP_ROUTE, route)
                span.update_name(f"{self._name} {route}")
            if exc is not None and isinstance(exc, _FAILURES):
                span.set_attribute(ERROR_TYPE, error_type(type(exc)))
                span.record_exception(exc)
                span.set_status(_ERROR)
            elif self._status_code >= 500:
                cause = self._exception
                if cause is None:
                    span.set_attribute(ERROR_TYPE, str(self._status_code))
                else:
                    span.set_attribute(ERROR_TYPE, error_type(type(cause)))
                    span.record_exception(cause)
                span.set_status(_ERROR)
            # Last: an exit signal raised in the middle leaves the request for a later end().
            self._ended = True
            _open_requests.discard(self)
            span.end()


def start_request(
    tracer: Tracer,
    method: str | None,
    scheme: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    server: tuple[str, int | None] | None = None,
    client: str | None = None,
    protocol_version: str | None = None,
    root_path: str = "",
) -> ServerRequest | None:
    """Start the SERVER span of one request (``method`` None: a WebSocket); None: not traced.

    ``headers`` maps lower-case names to values and holds at least the ``wanted_headers()``.
    """
    # Hot path: once per request.
    config = agent_state.config
    host = headers.get("host")
    if host:
        address, port = _split_host(host, scheme)
    elif server is not None:
        address, port = server
    else:
        address, port = None, None
    if config.server_exclude_urls or config.otel_excluded_urls:
        url = f"{scheme}://{host or address or ''}{path}"
        if _exclusions(config.server_exclude_urls, config.otel_excluded_urls).search(url):
            return None

    attributes: dict[str, object] = {URL_PATH: path, URL_SCHEME: scheme}
    if method is None:
        name = "websocket"
    else:
        known = config.http_known_methods
        if method in (KNOWN_METHODS if known is None else known):
            name = method
        else:
            name = "HTTP"
            attributes[HTTP_REQUEST_METHOD_ORIGINAL] = method
        attributes[HTTP_REQUEST_METHOD] = "_OTHER" if name == "HTTP" else method
    if address:
        attributes[SERVER_ADDRESS] = address
        if port:
            attributes[SERVER_PORT] = port
    if client:
        attributes[CLIENT_ADDRESS] = client
    user_agent = headers.get("user-agent")
    if user_agent:
        attributes[USER_AGENT_ORIGINAL] = user_agent
    if protocol_version:
        attributes[NETWORK_PROTOCOL_VERSION] = protocol_version
    if query and config.server_capture_query:
        attributes[URL_QUERY] = redact_url("?" + query)[1:]
    if config.server_request_headers:
        _record_headers_into(attributes, config.server_request_headers, headers)

    parent = otel_context.get_current()
    if "traceparent" in headers or "baggage" in headers:
        parent = propagate.extract(headers, context=parent)
    span = tracer.start_span(name, parent, kind=_SERVER, attributes=attributes)  # type: ignore[arg-type]
    request = ServerRequest(span, trace.set_span_in_context(span, parent), name, root_path)
    if not _open_requests:
        _end_at_exit()
    _open_requests.add(request)
    if config.propagate_attributes and "baggage" in headers:
        labels = _labels_from_baggage(parent)
        if labels:
            # The span started before its block opens: give it the labels its children get.
            span.set_attributes(labels)
            request.labels = labels
    return request


_open_requests: set[ServerRequest] = set()
"""Requests whose span has not ended: a worker told to quit at once (gunicorn's SIGINT/SIGQUIT
exits from its signal handler) may leave one between sending the answer and ending the span."""
_exit_hook_registered = False


def _end_at_exit() -> None:
    """Register, once, the exit handler that ends the spans of requests still open. Registered
    after the tracer provider's own (built by the first span), so it runs before that flush."""
    global _exit_hook_registered
    if not _exit_hook_registered:
        _exit_hook_registered = True
        import atexit

        atexit.register(_end_open_requests)


def _end_open_requests() -> None:
    for request in _open_requests.copy():  # a copy made atomically: servers may still run
        request.end()


def set_route(template: str, below_root_path: str = "") -> None:
    """Report the route template (``/ask/{topic}``) of the request being served, if any.

    ``below_root_path`` is the prefix under which the framework found it (a mounted sub-app);
    the server's own root path is left out. Frameworks call this from their routing.
    """
    request = current_request.get()
    if request is not None:
        prefix = below_root_path
        if prefix and request.root_path and prefix.startswith(request.root_path):
            prefix = prefix[len(request.root_path) :]
        request.route = prefix.rstrip("/") + template if prefix else template


def record_exception(exc: BaseException) -> None:
    """Report an exception a framework turns into an error response itself (Flask, Django)."""
    request = current_request.get()
    if request is not None:
        request.record_exception(exc)


def wanted_headers() -> frozenset[str]:
    """The lower-case header names ``start_request`` reads: propagation, host, user agent and
    the request-header allow-list."""
    global _wanted_cache
    captured = agent_state.config.server_request_headers
    cache = _wanted_cache
    if cache is None or cache[0] is not captured:
        names = frozenset(("host", "user-agent", *PROPAGATION_HEADERS, *captured))
        _wanted_cache = cache = (captured, names)
    return cache[1]


_wanted_cache: tuple[tuple[str, ...], frozenset[str]] | None = None


def _split_host(host: str, scheme: str) -> tuple[str | None, int | None]:
    """``Host`` header → (address, port), the scheme's default port when it names none."""
    if host.startswith("["):  # IPv6 literal: [::1]:8000
        end = host.find("]")
        address = host[1:end] if end > 0 else None
        rest = host[end + 1 :] if end > 0 else ""
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        address, _, port_text = host.partition(":")
    if port_text:
        return address or None, int(port_text) if port_text.isdigit() else None
    return address or None, _DEFAULT_PORTS.get(scheme)


def _record_headers_into(
    attributes: dict[str, object], wanted: tuple[str, ...], headers: Mapping[str, str]
) -> None:
    for name in wanted:
        if name in NEVER_CAPTURED_HEADERS:
            continue
        value = headers.get(name)
        if value is not None:
            attributes[f"{HTTP_REQUEST_HEADER_TEMPLATE}.{name}"] = (value,)


def _record_headers(
    span: Span,
    template: str,
    wanted: tuple[str, ...],
    headers: Iterable[tuple[str | bytes, str | bytes]],
) -> None:
    found: dict[str, list[str]] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1") if isinstance(raw_name, bytes) else raw_name
        name = name.lower()
        if name in wanted and name not in NEVER_CAPTURED_HEADERS:
            value = raw_value.decode("latin-1") if isinstance(raw_value, bytes) else raw_value
            found.setdefault(name, []).append(value)
    for name, values in found.items():
        span.set_attribute(f"{template}.{name}", values)


def _labels_from_baggage(context: Context) -> dict[str, str]:
    """The incoming baggage's ``session.id`` and ``user.id`` (what ``attributes()`` sends)."""
    entries = baggage.get_all(context)
    return {key: str(entries[key]) for key in (SESSION_ID, USER_ID) if key in entries}


# Compiled once per distinct pair of settings (tests swap the config, hence the identity check).
_exclusions_cache: tuple[tuple[str, ...], tuple[str, ...], re.Pattern[str]] | None = None


def _exclusions(ours: tuple[str, ...], otel: tuple[str, ...]) -> re.Pattern[str]:
    global _exclusions_cache
    cache = _exclusions_cache
    if cache is None or cache[0] is not ours or cache[1] is not otel:
        compiled = re.compile("|".join(f"(?:{pattern})" for pattern in (*ours, *otel)))
        _exclusions_cache = cache = (ours, otel, compiled)
    return cache[2]
