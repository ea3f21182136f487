"""urllib3: one HTTP client span per ``urlopen`` on a connection pool, with W3C propagation.

Patches ``HTTPConnectionPool.urlopen``, which ``PoolManager``, ``urllib3.request`` and pools
used directly all go through. ``PoolManager`` follows a redirect by calling it again, so each
hop is its own span, with ``http.request.resend_count`` read from the ``Retry`` history.
A pool's own retries (a recursive ``urlopen``) stay inside the first span. Under another of
our HTTP spans (requests sends through urllib3) no second span is recorded.

The caller's headers mapping is copied before the propagation headers are added, so a dict the
application reuses for every request never keeps a stale ``traceparent``.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

_HEADERS_INDEX = 3  # urlopen(method, url, body, headers, retries, ...)
_RETRIES_INDEX = 4
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Urllib3Instrumentor(Instrumentor):
    """Traces every request a urllib3 connection pool sends."""

    name = "urllib3"
    targets = ("urllib3",)
    requires = "urllib3>=1.26"

    def instrument(self, module: ModuleType) -> None:
        from urllib3._collections import HTTPHeaderDict  # public only from urllib3 2.0
        from urllib3.util.retry import Retry

        from llmtrace_agent.toolkit.context_flags import inside_http_request
        from llmtrace_agent.toolkit.guard import internal_errors
        from llmtrace_agent.toolkit.http_spans import start_request

        def urlopen(
            wrapped: Callable[..., object],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            # Hot path: once per HTTP request, and once more under requests (which exits first).
            if inside_http_request.get():
                return wrapped(*args, **kwargs)
            scope = None
            with internal_errors:
                method = args[0] if args else kwargs["method"]
                url = args[1] if len(args) > 1 else kwargs["url"]
                if len(args) > _RETRIES_INDEX:
                    retries = args[_RETRIES_INDEX]
                else:
                    retries = kwargs.get("retries")
                resend_count = len(retries.history) if isinstance(retries, Retry) else 0
                scope = start_request(
                    self.tracer, method, absolute_url(instance, url), None, resend_count
                )
                if scope is not None and scope.propagates:
                    positional = len(args) > _HEADERS_INDEX
                    given = args[_HEADERS_INDEX] if positional else kwargs.get("headers")
                    headers = HTTPHeaderDict(instance.headers if given is None else given)
                    scope.propagate(headers)
                    if positional:
                        args = (*args[:_HEADERS_INDEX], headers, *args[_HEADERS_INDEX + 1 :])
                    else:
                        kwargs["headers"] = headers
            if scope is None:
                return wrapped(*args, **kwargs)
            with scope:
                response = wrapped(*args, **kwargs)
                scope.response(response.status, response.version)
            return response

        if not self.wrap(module, "connectionpool.HTTPConnectionPool.urlopen", urlopen):
            raise RuntimeError("urllib3.connectionpool.HTTPConnectionPool.urlopen not found")


def absolute_url(pool: object, url: str) -> str:
    """The absolute URL of a request a pool sends to ``url`` (usually just path and query)."""
    if not url.startswith("/"):
        return url  # already absolute (a request through a forwarding proxy)
    scheme = pool.scheme  # type: ignore[attr-defined]
    host = pool.host  # type: ignore[attr-defined]
    if ":" in host:
        host = "[" + host + "]"
    port = pool.port  # type: ignore[attr-defined]
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return scheme + "://" + host + url
    return scheme + "://" + host + ":" + str(port) + url
