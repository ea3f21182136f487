"""aiohttp: one HTTP client span per request a ``ClientSession`` makes, with W3C propagation.

Patches ``ClientSession._request``, the coroutine behind ``session.get/post/request(...)`` (with
or without ``async with``) in every aiohttp 3.x release. The span ends when it returns the
response, i.e. when the headers arrive (the body is read after), or when it raises. aiohttp
follows redirects inside that coroutine, so a redirect chain is one span (with the final status),
and every hop carries that span's ``traceparent``.

The propagation headers go into a copy of the request's ``headers`` argument: the caller's own
mapping is never changed, and a ``traceparent`` set on the request or as a session default
header wins. A 4xx/5xx answer that ``raise_for_status`` turns into a ``ClientResponseError`` is
recorded by its status, as an unraised one is; the exception reaches the caller unchanged.

aiohttp is what google-genai's async client sends through (when aiohttp is installed), as do
many other SDKs; inside a model call the span is a child of the model-call span like every
other HTTP client's.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import ModuleType

    from llmtrace_agent.toolkit.http_spans import HTTPRequestScope


class AiohttpInstrumentor(Instrumentor):
    """Traces every request an ``aiohttp.ClientSession`` sends."""

    name = "aiohttp"
    targets = ("aiohttp",)
    requires = "aiohttp>=3.8.6,<4"

    def instrument(self, module: ModuleType) -> None:
        from multidict import CIMultiDict

        from llmtrace_agent.toolkit.guard import internal_errors
        from llmtrace_agent.toolkit.http_spans import start_request

        response_error = module.ClientResponseError

        def start(
            session: object, args: tuple[object, ...], kwargs: dict[str, object]
        ) -> HTTPRequestScope | None:
            """The scope tracing this request, its headers set in ``kwargs``; None: untraced."""
            with internal_errors:
                method = args[0] if args else kwargs["method"]
                target = args[1] if len(args) > 1 else kwargs["str_or_url"]
                scope = start_request(
                    self.tracer, str(method), request_url(session, target, kwargs.get("params"))
                )
                if scope is not None and scope.propagates:
                    given = kwargs.get("headers")
                    headers = CIMultiDict(given) if given is not None else CIMultiDict()
                    if "traceparent" in getattr(session, "headers", ()):
                        headers["traceparent"] = session.headers["traceparent"]  # type: ignore[attr-defined]
                    scope.propagate(headers)
                    kwargs["headers"] = headers
                return scope
            return None

        async def request(
            wrapped: Callable[..., Awaitable[object]],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            # Hot path: once per HTTP request.
            scope = start(instance, args, kwargs)
            if scope is None:
                return await wrapped(*args, **kwargs)
            with scope:
                try:
                    response = await wrapped(*args, **kwargs)
                except response_error as error:  # raise_for_status: recorded by its status
                    status = getattr(error, "status", None)
                    if not isinstance(status, int) or status < 400:
                        raise
                    scope.response(status)
                    rejected = error
                else:
                    scope.response(response.status, protocol_version(response))
                    return response
            raise rejected

        if not self.wrap(module, "ClientSession._request", request):
            raise RuntimeError(f"{module.__name__}.ClientSession._request not found")


def request_url(session: object, target: object, params: object) -> str:
    """The URL a request goes to: the session's ``base_url`` joined, ``params`` added."""
    build = getattr(session, "_build_url", None)
    url = build(target) if build is not None else target
    if params:
        extend = getattr(url, "extend_query", None)
        if extend is not None:
            url = extend(params)
    return str(url)


def protocol_version(response: object) -> int | None:
    """aiohttp's ``HttpVersion(1, 1)`` as the number urllib3 reports (11), which the HTTP span
    helpers know."""
    version = getattr(response, "version", None)
    try:
        return version.major * 10 + version.minor  # type: ignore[union-attr]
    except (AttributeError, TypeError):
        return None
