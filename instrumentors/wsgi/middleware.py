"""The WSGI middleware: one SERVER span per request, from the app call to the body's end.

A WSGI response body is produced after the application returns, while the server iterates it
(Flask's ``stream_with_context``, a generator relaying an LLM stream): the span stays open until
the body is exhausted (or closed), and is current during each chunk, so the LLM calls made while
streaming are under it. A body closed before it was exhausted means the client went away
(the server closes it when a write fails): recorded as an event. Exceptions are recorded and
re-raised untouched.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.guard import internal_errors
from llmtrace_agent.toolkit.http_server import (
    REQUEST_KEY,
    ServerRequest,
    start_request,
    wanted_headers,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, MutableMapping

    from opentelemetry.trace import Tracer

    Environ = MutableMapping[str, object]

# WSGI environ key of each header start_request may read ("user-agent" → "HTTP_USER_AGENT").
_environ_keys: dict[str, str] = {}


class TracedWSGIApp:
    """Wraps a WSGI application; every other attribute reads through to it."""

    __slots__ = ("_is_enabled", "_tracer", "app")

    def __init__(self, app: object, tracer: Tracer, is_enabled: Callable[[], bool]) -> None:
        self.app = app
        self._tracer = tracer
        self._is_enabled = is_enabled

    def __getattr__(self, name: str) -> object:
        return getattr(self.app, name)

    def __call__(self, environ: Environ, start_response: Callable[..., object]) -> object:
        # Hot path: once per request.
        if REQUEST_KEY in environ or not self._is_enabled():
            return self.app(environ, start_response)  # type: ignore[operator]
        request = environ[REQUEST_KEY] = _start(self._tracer, environ)
        if request is None:
            return self.app(environ, start_response)  # type: ignore[operator]

        def traced_start_response(status: str, headers: list[tuple[str, str]], *exc_info: object):  # type: ignore[no-untyped-def]
            with internal_errors:
                request.response(int(status[:3]), headers)
            return start_response(status, headers, *exc_info)

        tokens = request.activate()
        try:
            body = self.app(environ, traced_start_response)  # type: ignore[operator]
        except BaseException as exc:
            request.end(exc)
            raise
        finally:
            request.deactivate(tokens)
        return TracedBody(body, request)


class TracedBody:
    """The response body, iterated with the request's span current; ``close`` ends the span."""

    __slots__ = ("_body", "_iterator", "_request")

    def __init__(self, body: Iterable[bytes], request: ServerRequest) -> None:
        self._body = body
        self._iterator: Iterator[bytes] | None = None
        self._request = request

    def __iter__(self) -> TracedBody:
        return self

    def __next__(self) -> bytes:
        # Hot path: once per body chunk.
        request = self._request
        tokens = request.activate()
        try:
            if self._iterator is None:
                self._iterator = iter(self._body)
            return next(self._iterator)
        except StopIteration:
            # Every chunk before this call was written: the response is out. End here rather than
            # in close(), which a server stopped right after the answer may never reach.
            request.complete = True
            request.end()
            raise
        except BaseException as exc:
            request.end(exc)
            raise
        finally:
            request.deactivate(tokens)

    def close(self) -> None:
        request = self._request
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                tokens = request.activate()
                try:
                    close()
                finally:
                    request.deactivate(tokens)
        finally:
            if not request.complete and self._iterator is not None:
                request.disconnected()
            request.end()


def _start(tracer: Tracer, environ: Environ) -> ServerRequest | None:
    with internal_errors:
        headers: dict[str, str] = {}
        for name in wanted_headers():
            key = _environ_keys.get(name)
            if key is None:
                key = _environ_keys[name] = "HTTP_" + name.upper().replace("-", "_")
            value = environ.get(key)
            if value is not None:
                headers[name] = value  # type: ignore[assignment]
        if "host" not in headers:
            server = (environ.get("SERVER_NAME"), _port(environ.get("SERVER_PORT")))
        else:
            server = None
        path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
        if not path.isascii():  # WSGI gives the raw bytes as latin-1 text
            path = path.encode("latin-1").decode("utf-8", "replace")
        protocol = str(environ.get("SERVER_PROTOCOL", ""))
        return start_request(
            tracer,
            str(environ.get("REQUEST_METHOD", "GET")),
            str(environ.get("wsgi.url_scheme", "http")),
            path or "/",
            str(environ.get("QUERY_STRING", "")),
            headers,
            server,  # type: ignore[arg-type]
            environ.get("REMOTE_ADDR") or None,  # type: ignore[arg-type]
            protocol[5:] if protocol.startswith("HTTP/") else None,
            str(environ.get("SCRIPT_NAME", "")),
        )
    return None


def _port(value: object) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None
