"""A Starlette app with plain, mounted and WebSocket routes, and Starlette's own (opt-in)
OpenTelemetry middleware where this Starlette release has one."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute

middleware = []
try:
    from starlette.middleware.opentelemetry import OpenTelemetryMiddleware

    middleware.append(Middleware(OpenTelemetryMiddleware))
except ImportError:  # releases before it
    pass


async def item(request):  # type: ignore[no-untyped-def]
    return PlainTextResponse(request.path_params["item_id"])


async def report(request):  # type: ignore[no-untyped-def]
    return PlainTextResponse("report")


async def echo(websocket):  # type: ignore[no-untyped-def]
    await websocket.accept()
    await websocket.send_text(await websocket.receive_text())
    await websocket.close()


app = Starlette(
    routes=[
        Route("/items/{item_id}", item),
        Mount("/admin", routes=[Route("/reports/{year:int}", report)]),
        WebSocketRoute("/echo", echo),
    ],
    middleware=middleware,
)
