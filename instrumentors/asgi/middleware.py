"""The ASGI middleware: one SERVER span per HTTP request or WebSocket connection.

Installed around the application a server loads (see ``__init__``), so it sees every request
first. The span is current while the application runs, so everything the request does is under
it: async endpoints, sync endpoints run in a thread pool (which copy the context), background
tasks (which run before the application returns) and streamed bodies. It ends when the
application returns: after the last byte is sent, or after the client disconnected (recorded as an
event), with the response status and any exception, which is re-raised untouched.
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
    from collections.abc import Awaitable, Callable, MutableMapping

    from opentelemetry.trace import Tracer

    Scope = MutableMapping[str, object]
    Message = MutableMapping[str, object]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]

_TRACED_TYPES = frozenset(("http", "websocket"))


class TracedASGIApp:
    """Wraps an ASGI 3 application; every other attribute reads through to it."""

    __slots__ = ("_is_enabled", "_tracer", "app")

    def __init__(self, app: object, tracer: Tracer, is_enabled: Callable[[], bool]) -> None:
        self.app = app
        self._tracer = tracer
        self._is_enabled = is_enabled

    def __getattr__(self, name: str) -> object:
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Hot path: once per request.
        if scope.get("type") not in _TRACED_TYPES or REQUEST_KEY in scope or not self._is_enabled():
            return await self.app(scope, receive, send)  # type: ignore[operator]
        request = scope[REQUEST_KEY] = _start(self._tracer, scope)
        if request is None:
            return await self.app(scope, receive, send)  # type: ignore[operator]

        async def traced_receive() -> Message:
            message = await receive()
            if message.get("type") == "http.disconnect":
                request.disconnected()
            return message

        async def traced_send(message: Message) -> None:
            kind = message.get("type")
            if kind == "http.response.start":
                request.response(message.get("status", 0), message.get("headers") or ())  # type: ignore[arg-type]
            try:
                await send(message)
            except OSError:
                request.disconnected()
                raise
            if kind == "http.response.body" and not message.get("more_body"):
                request.complete = True

        tokens = request.activate()
        try:
            await self.app(scope, traced_receive, traced_send)  # type: ignore[operator]
        except BaseException as exc:
            request.end(exc)
            raise
        finally:
            request.deactivate(tokens)
            request.end()


def _start(tracer: Tracer, scope: Scope) -> ServerRequest | None:
    with internal_errors:
        wanted = wanted_headers()
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers") or ():  # type: ignore[attr-defined]
            name = raw_name.decode("latin-1").lower()
            if name in wanted:
                value = raw_value.decode("latin-1")
                # Repeated headers (baggage may be split) join as one list, per RFC 9110.
                headers[name] = headers[name] + "," + value if name in headers else value
        is_http = scope["type"] == "http"
        client = scope.get("client")
        query = scope.get("query_string") or b""
        return start_request(
            tracer,
            scope.get("method", "GET") if is_http else None,  # type: ignore[arg-type]
            scope.get("scheme") or ("http" if is_http else "ws"),  # type: ignore[arg-type]
            scope.get("path", ""),  # type: ignore[arg-type]
            query.decode("latin-1") if isinstance(query, bytes) else str(query),
            headers,
            scope.get("server"),  # type: ignore[arg-type]
            client[0] if client else None,  # type: ignore[index]
            scope.get("http_version"),  # type: ignore[arg-type]
            scope.get("root_path", ""),  # type: ignore[arg-type]
        )
    return None


def looks_asgi(app: object) -> bool:
    """Whether ``app`` is an ASGI 3 application (a coroutine function or an object whose
    ``__call__`` is one), as servers that take both kinds tell them apart."""
    import inspect

    return inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(
        getattr(app, "__call__", None)  # noqa: B004
    )
