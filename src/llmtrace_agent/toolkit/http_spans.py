"""HTTP client spans and W3C context propagation, shared by every HTTP-client instrumentor.

One CLIENT span per request sent, following the stable OpenTelemetry HTTP client conventions
(``docs/http/http-spans.md``): named after the method, with ``http.request.method``,
``url.full`` (credentials and signed-URL secrets redacted), ``server.address``,
``server.port``, ``http.response.status_code``, ``network.protocol.version``, and
``error.type`` plus status ERROR for 4xx/5xx answers and transport errors. Request and response
headers are never recorded.

The request carries ``traceparent``/``tracestate``/``baggage`` with this span as parent, unless
the caller set ``traceparent`` itself. A request is passed through untouched (no span, nothing
injected) when the OpenTelemetry SDK suppresses instrumentation (its exporters do, so the OTLP
exporter's own requests never feed back), when it runs under another of our HTTP spans (urllib3
under requests) or when its URL matches ``LLMTRACE_HTTP_EXCLUDE_URLS``.

Inside an LLM call (``LLMTRACE_HTTP_UNDER_LLM``) a request gets its span only when it tells
something the LLM span does not: by default (``retries``) when it failed (a 4xx/5xx answer or a
transport error) or when the model call sent more than one request (SDK retries, redirect hops),
and then every attempt gets its span, numbered by ``http.request.resend_count``. A single
successful request records no span: it would add a quarter or more to the CPU the agent spends
on the call (``bench/http_under_llm.py``), and say nothing the LLM span does not. Its start time
and attributes are kept until the request ends, so a failure or a later attempt still gets a
span with the real start and end. ``always`` records every request, ``never`` none. Whichever
the setting, the request carries the LLM span's context (the span of the request itself when it
was recorded from the start), so a traced LLM server joins the trace.

An instrumentor's wrapper calls ``start_request`` and, when it gets a scope, runs the library
call inside ``with scope:`` and reports ``scope.response(status_code, protocol_version)``.
"""

from __future__ import annotations

import re
import time
from contextvars import ContextVar
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmtrace_agent._runtime import agent_state
from llmtrace_agent.toolkit.context_flags import (
    HTTPAttempts,
    inside_http_request,
    inside_llm_call,
    llm_call_attempts,
)
from llmtrace_agent.toolkit.guard import internal_errors
from llmtrace_agent.toolkit.semconv import (
    ERROR_TYPE,
    HTTP_REQUEST_METHOD,
    HTTP_REQUEST_METHOD_ORIGINAL,
    HTTP_REQUEST_RESEND_COUNT,
    HTTP_RESPONSE_STATUS_CODE,
    NETWORK_PROTOCOL_VERSION,
    SERVER_ADDRESS,
    SERVER_PORT,
    URL_FULL,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import MutableMapping
    from types import TracebackType

    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer

__all__ = [
    "KNOWN_METHODS",
    "SENSITIVE_QUERY_PARAMETERS",
    "DeferredRequestScope",
    "HTTPRequestScope",
    "error_type",
    "redact_url",
    "start_request",
]

KNOWN_METHODS = frozenset(
    ("CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE")
)
"""RFC 9110 methods, PATCH (RFC 5789) and QUERY: the conventions' default "known" methods.
``OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`` replaces the list, as the conventions require."""

# ``network.protocol.version`` from what the libraries report: httpx's ``http_version`` strings and
# urllib3's ``version`` integers (which requests exposes as ``response.raw.version``).
_PROTOCOL_VERSIONS: dict[object, str] = {
    "HTTP/0.9": "0.9", "HTTP/1.0": "1.0", "HTTP/1.1": "1.1", "HTTP/2": "2", "HTTP/3": "3",
    9: "0.9", 10: "1.0", 11: "1.1", 20: "2", 30: "3",
}  # fmt: skip

SENSITIVE_QUERY_PARAMETERS = frozenset(
    (
        # The conventions' current list (url.full, semantic conventions 1.3x).
        "X-Amz-Signature",
        "X-Amz-Credential",
        "X-Amz-Security-Token",
        "sig",
        "X-Goog-Signature",
        # The conventions' earlier list: still AWS SigV2 presigned-URL secrets.
        "AWSAccessKeyId",
        "Signature",
        "X-Goog-Credential",
        # API keys passed in the query string by LLM APIs (Gemini's ``?key=``) and others.
        "key",
        "api_key",
        "apikey",
        "api-key",
        # OAuth 2.0 and OpenID Connect (RFC 6749, 7636, 7523), passwords, sessions.
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "auth",
        "auth_token",
        "client_secret",
        "client_assertion",
        "code_verifier",
        "password",
        "passwd",
        "pwd",
        "secret",
        "session",
        "session_id",
        "sessionid",
        "jwt",
    )
)
"""Query keys whose values ``url.full`` shows as ``REDACTED``, and ``code`` in an OAuth callback
(a query with ``state``, or a URL naming oauth or a callback). Matched case-sensitively, as the
conventions say; the export pipeline's scrubber masks them in any spelling (and any other name
that says credential), in every exported value."""
OAUTH_CODE_PARAMETER = "code"


def is_oauth_callback(url: str) -> bool:
    """Whether ``url`` (a URL, or the text around one) looks like an OAuth authorization response,
    whose ``code`` is a credential."""
    lowered = url.lower()
    return "state=" in lowered or "oauth" in lowered or "callback" in lowered


REDACTED = "REDACTED"
_CREDENTIALS = "REDACTED:REDACTED"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_ERROR = Status(StatusCode.ERROR)
_CLIENT = SpanKind.CLIENT
_SUPPRESS_KEYS = tuple(
    key
    for key in (
        getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", None),
        getattr(otel_context, "_SUPPRESS_HTTP_INSTRUMENTATION_KEY", None),
    )
    if key is not None
)

# The propagation headers this context injected last, and that request's resend count. A request
# that still carries them is the same request sent again (a redirect hop or an auth retry copies
# the previous hop's headers): it is a resend, and the stale headers are ours to replace.
_last_injected: ContextVar[tuple[dict[str, str], int] | None] = ContextVar(
    "llmtrace_last_injected", default=None
)


class HTTPRequestScope:
    """One request in flight: its span (if any) and the context it propagates.

    ``with scope:`` makes the span current and marks the context as inside an HTTP request for
    the duration of the library call; leaving it records an escaping exception and ends the span.
    """

    __slots__ = ("_context", "_context_token", "_flag_token", "_span")

    def __init__(self, span: Span | None, context: Context | None) -> None:
        self._span = span
        self._context = context  # what to inject; None: inject nothing
        self._context_token: object = None
        self._flag_token: object = None

    @property
    def propagates(self) -> bool:
        """Whether ``propagate`` would add headers (callers that must copy headers first ask)."""
        return self._context is not None

    def propagate(self, headers: MutableMapping[str, str]) -> None:
        """Add the W3C propagation headers to the outgoing ``headers``, never over the caller's.

        ``headers`` must be case-insensitive (requests', httpx's and urllib3's header types are).
        """
        context = self._context
        if context is None:
            return
        with internal_errors:
            carrier: dict[str, str] = {}
            propagate.inject(carrier, context=context)
            if not carrier:
                return
            resend_count = 0
            last = _last_injected.get()
            if last is not None and _carries(headers, last[0]):
                resend_count = last[1] + 1
                for name in last[0]:
                    headers.pop(name, None)
                self._resent(resend_count)
            if "traceparent" in headers:
                return  # the caller's own parent: its tracestate and baggage are left alone too
            injected = {}
            for name, value in carrier.items():
                if name not in headers:
                    headers[name] = injected[name] = value
            _last_injected.set((injected, resend_count))

    def _resent(self, resend_count: int) -> None:
        """The request turned out to be a resend (a redirect hop or auth retry copied headers)."""
        if self._span is not None:
            self._span.set_attribute(HTTP_REQUEST_RESEND_COUNT, resend_count)

    def response(self, status_code: int, protocol_version: object = None) -> None:
        """Record the response status (4xx and 5xx make a client span an error) and the HTTP
        version the library reports (``"HTTP/2"``, or urllib3's ``11``)."""
        span = self._span
        if span is None:
            return
        with internal_errors:
            span.set_attribute(HTTP_RESPONSE_STATUS_CODE, status_code)
            if status_code >= 400 or status_code < 100:
                span.set_attribute(ERROR_TYPE, str(status_code))
                span.set_status(_ERROR)
            # Last: an odd value from a library (unhashable) must not cost the error status.
            version = _PROTOCOL_VERSIONS.get(protocol_version)  # type: ignore[arg-type]
            if version is not None:
                span.set_attribute(NETWORK_PROTOCOL_VERSION, version)

    def __enter__(self) -> HTTPRequestScope:
        self._flag_token = inside_http_request.set(True)
        if self._span is not None:
            self._context_token = otel_context.attach(self._context)  # type: ignore[arg-type]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        with internal_errors:
            if self._context_token is not None:
                otel_context.detach(self._context_token)  # type: ignore[arg-type]
            inside_http_request.reset(self._flag_token)  # type: ignore[arg-type]
            span = self._span
            if span is not None:
                if exc is not None:
                    span.set_attribute(ERROR_TYPE, error_type(type(exc)))
                    span.record_exception(exc)
                    span.set_status(_ERROR)
                span.end()
        return False


class DeferredRequestScope(HTTPRequestScope):
    """A request inside a model call whose span is made only if it proves worth it: the request
    failed, or another request of the same call follows (then at that moment, backdated).

    Until then it costs a clock read and this object: the request's attributes are computed only
    for a span actually made.
    """

    __slots__ = (
        "_attempts",
        "_ended_at",
        "_error",
        "_method",
        "_protocol_version",
        "_resend_count",
        "_started_at",
        "_status_code",
        "_tracer",
        "_url",
    )

    def __init__(
        self,
        tracer: Tracer,
        context: Context,
        method: str,
        url: str,
        attempts: HTTPAttempts | None,
    ) -> None:
        super().__init__(None, context)
        self._tracer = tracer
        self._method = method
        self._url = url
        self._attempts = attempts
        self._resend_count = 0
        self._status_code: int | None = None
        self._protocol_version: object = None
        self._error: BaseException | None = None
        self._ended_at = 0
        self._started_at = time.time_ns()

    def _resent(self, resend_count: int) -> None:
        self._resend_count = resend_count

    def response(self, status_code: int, protocol_version: object = None) -> None:
        self._status_code = status_code
        self._protocol_version = protocol_version

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        # Hot path: once per model call (its single, successful request records nothing).
        with internal_errors:
            inside_http_request.reset(self._flag_token)  # type: ignore[arg-type]
            self._ended_at = time.time_ns()
            status = self._status_code
            if exc is not None or (status is not None and not 100 <= status < 400):
                self._error = exc
                self.record()
            elif self._attempts is not None:
                # Recorded if the call sends another request. Dropped with the call's
                # HTTPAttempts otherwise: no reference back to it (a cycle would wait for the GC).
                self._attempts.pending, self._attempts = self, None
        return False

    def record(self) -> None:
        """Make the span this request would have had, with its real start and end."""
        config = agent_state.config
        name, attributes = _request_attributes(self._method, self._url, config.http_known_methods)
        if self._resend_count:
            attributes[HTTP_REQUEST_RESEND_COUNT] = self._resend_count
        span = self._tracer.start_span(
            name, self._context, kind=_CLIENT, attributes=attributes, start_time=self._started_at
        )
        if self._status_code is not None:
            HTTPRequestScope(span, None).response(self._status_code, self._protocol_version)
        error = self._error
        if error is not None:
            span.set_attribute(ERROR_TYPE, error_type(type(error)))
            span.record_exception(error)
            span.set_status(_ERROR)
        span.end(self._ended_at)


def start_request(
    tracer: Tracer,
    method: str,
    url: str,
    headers: MutableMapping[str, str] | None = None,
    resend_count: int = 0,
) -> HTTPRequestScope | None:
    """Begin tracing one outgoing request; None means send it untouched and untraced.

    With ``headers``, the propagation headers are added to them at once; callers that must copy
    the headers first pass None and call ``scope.propagate`` on the copy.
    """
    # Hot path: once per HTTP request.
    if inside_http_request.get():
        return None
    context = otel_context.get_current()
    for key in _SUPPRESS_KEYS:
        if context.get(key):
            return None
    config = agent_state.config
    if config.http_exclude_urls and _exclusions(config.http_exclude_urls).search(url):
        return HTTPRequestScope(None, None)
    under_llm = inside_llm_call.get()
    if under_llm and config.http_under_llm == "retries":
        attempts = llm_call_attempts.get()
        resend_count = _earlier_attempts(attempts, resend_count)
        if not resend_count:
            scope = DeferredRequestScope(tracer, context, method, url, attempts)
            if headers is not None:
                scope.propagate(headers)
            return scope
    if under_llm and config.http_under_llm == "never":
        scope = HTTPRequestScope(None, context)
    else:
        name, attributes = _request_attributes(method, url, config.http_known_methods)
        if resend_count:
            attributes[HTTP_REQUEST_RESEND_COUNT] = resend_count
        span = tracer.start_span(name, context, kind=_CLIENT, attributes=attributes)
        scope = HTTPRequestScope(span, trace.set_span_in_context(span, context))
    if headers is not None:
        scope.propagate(headers)
    return scope


def _earlier_attempts(attempts: HTTPAttempts | None, resend_count: int) -> int:
    """Count a request of the open model call; return how many it sent before (or the SDK's own
    retry count, if higher). Before a second request, the first one is recorded after all."""
    if attempts is None:
        return resend_count
    attempts.count += 1
    earlier = max(attempts.count - 1, resend_count)
    if earlier:
        pending = attempts.pending
        if isinstance(pending, DeferredRequestScope):
            attempts.pending = None
            with internal_errors:
                pending.record()
    return earlier


def _request_attributes(
    method: str, url: str, known: tuple[str, ...] | None
) -> tuple[str, dict[str, object]]:
    """The span name and start attributes of a request."""
    attributes: dict[str, object] = {}
    known_methods = KNOWN_METHODS if known is None else _known_methods(known)
    if method in known_methods:
        name = method
    else:
        upper = method.upper()
        name = upper if upper in known_methods else "_OTHER"
        attributes[HTTP_REQUEST_METHOD_ORIGINAL] = method
    attributes[HTTP_REQUEST_METHOD] = name
    attributes[URL_FULL] = redact_url(url)
    parts = urlsplit(url)
    host = parts.hostname
    if host:
        attributes[SERVER_ADDRESS] = host
        try:
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
        except ValueError:  # a port that is not a number: leave it out
            port = None
        if port:
            attributes[SERVER_PORT] = port
    return ("HTTP" if name == "_OTHER" else name), attributes


def redact_url(url: str) -> str:
    """``url`` as ``url.full`` may show it: no credentials, no signed-URL or API-key secrets.

    ``https://user:pass@host/p?sig=abc&x=1`` becomes ``https://REDACTED:REDACTED@host/p?sig=REDACTED&x=1``.
    """
    if "@" in url:
        url = _redact_userinfo(url)
    if "?" in url:
        url = _redact_query(url)
    return url


def _redact_userinfo(url: str) -> str:
    start = url.find("//")
    if start < 0:
        return url
    start += 2
    end = len(url)
    for delimiter in "/?#":
        index = url.find(delimiter, start, end)
        if index >= 0:
            end = index
    at = url.rfind("@", start, end)
    if at < 0:
        return url
    return url[:start] + _CREDENTIALS + url[at:]


def _redact_query(url: str) -> str:
    start = url.find("?")
    fragment = url.find("#")
    if 0 <= fragment < start:
        return url  # the "?" is inside the fragment
    start += 1
    end = len(url) if fragment < 0 else fragment
    pairs = url[start:end].split("&")
    redacted = False
    for index, pair in enumerate(pairs):
        key, equals, value = pair.partition("=")
        if not (equals and value):
            continue
        if key in SENSITIVE_QUERY_PARAMETERS or (
            key == OAUTH_CODE_PARAMETER and is_oauth_callback(url)
        ):
            pairs[index] = key + "=" + REDACTED
            redacted = True
    if not redacted:
        return url
    return url[:start] + "&".join(pairs) + url[end:]


def error_type(cls: type[BaseException]) -> str:
    """``error.type`` of an exception: its class's canonical, fully qualified name."""
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    return module + "." + cls.__qualname__


def _carries(headers: MutableMapping[str, str], injected: dict[str, str]) -> bool:
    """Whether ``headers`` still holds every header of an earlier injection, unchanged."""
    # Hot path: the first lookup almost always differs, so no generator is set up for it.
    for name, value in injected.items():
        if headers.get(name) != value:
            return False
    return bool(injected)


# Compiled once per distinct setting, kept as (setting, compiled) so a reader in another thread
# never pairs one setting with another's compiled form. Tests swap the config, hence the check.
_exclusions_cache: tuple[tuple[str, ...], re.Pattern[str]] | None = None
_known_cache: tuple[tuple[str, ...], frozenset[str]] | None = None


def _exclusions(patterns: tuple[str, ...]) -> re.Pattern[str]:
    global _exclusions_cache
    cache = _exclusions_cache
    if cache is None or cache[0] is not patterns:
        compiled = re.compile("|".join(f"(?:{pattern})" for pattern in patterns))
        _exclusions_cache = cache = (patterns, compiled)
    return cache[1]


def _known_methods(methods: tuple[str, ...]) -> frozenset[str]:
    global _known_cache
    cache = _known_cache
    if cache is None or cache[0] is not methods:
        _known_cache = cache = (methods, frozenset(methods))
    return cache[1]
