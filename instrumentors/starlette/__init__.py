"""Starlette (and FastAPI, built on it): the route template of each request's server span.

The SERVER span itself comes from the ``asgi`` instrumentor's middleware, around the app the
server loads. This one reports the matched route's ``path_format`` (``/ask/{topic}``), under the
prefix of the ``Mount`` it sits in, by patching ``Route.handle`` and ``WebSocketRoute.handle``
(called once the router matched). It also marks the request as traced for Starlette's own,
opt-in ``OpenTelemetryMiddleware``, so a request never gets two server spans.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType


class StarletteInstrumentor(Instrumentor):
    """Reports Starlette's matched route template to the request's server span."""

    name = "starlette"
    targets = ("starlette",)
    requires = "starlette>=0.36"

    def instrument(self, module: ModuleType) -> None:
        self.when_imported("starlette.routing", self._patch_routing)
        self.when_imported("starlette.applications", self._patch_application)

    def _patch_routing(self, module: ModuleType) -> None:
        from llmtrace_agent.toolkit.guard import internal_errors
        from llmtrace_agent.toolkit.http_server import set_route

        def handle(
            wrapped: Callable[..., object],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            # Hot path: once per request. Runs as the router calls handle, in the request's task.
            with internal_errors:
                scope = args[0] if args else kwargs["scope"]
                set_route(instance.path_format, scope.get("root_path", ""))  # type: ignore[attr-defined]
            return wrapped(*args, **kwargs)

        for path in ("Route.handle", "WebSocketRoute.handle"):
            if not self.wrap(module, path, handle):
                raise RuntimeError(f"starlette.routing.{path} not found")

    def _patch_application(self, module: ModuleType) -> None:
        from llmtrace_agent.toolkit.http_server import REQUEST_KEY

        def call(
            wrapped: Callable[..., object],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            # Hot path: once per request.
            scope = args[0] if args else None
            if isinstance(scope, dict) and REQUEST_KEY in scope:
                scope.setdefault("starlette.opentelemetry", True)
            return wrapped(*args, **kwargs)

        self.wrap(module, "Starlette.__call__", call)
