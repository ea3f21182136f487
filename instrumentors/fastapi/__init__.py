"""FastAPI: one server span per request, whether or not this FastAPI release traces itself.

Recent FastAPI releases start their own OpenTelemetry SERVER span (and ``fastapi.*`` operation
spans) inside ``FastAPI.__call__`` as soon as a tracer provider is set, which the agent does. The
``asgi`` instrumentor's span is already open there: this one tells FastAPI the request is traced
(``scope["fastapi.telemetry"] = None``, FastAPI's own "handled by an outer app" mark), so the
request keeps exactly one SERVER span, with the attributes, exclusions and context handling of
every other server span. Older releases ignore the mark. Routes come from the ``starlette``
instrumentor (FastAPI's routes are Starlette routes) and from FastAPI's route selection where it
has one (``fastapi.routing._route_selected``: included routers, mounts).
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType


_MOUNT_PREFIX = "llmtrace.fastapi_mount_prefix"


class FastAPIInstrumentor(Instrumentor):
    """Keeps FastAPI's own server span out of requests the agent already traces."""

    name = "fastapi"
    targets = ("fastapi",)
    requires = "fastapi>=0.110"

    def instrument(self, module: ModuleType) -> None:
        self.when_imported("fastapi.applications", self._patch_application)
        self.when_imported("fastapi.routing", self._patch_routing)

    def _patch_routing(self, module: ModuleType) -> None:
        """Where FastAPI reports its route selection itself (releases that trace themselves),
        take the route from there: routes of included routers never reach ``Route.handle``."""
        from llmtrace_agent.toolkit.guard import internal_errors
        from llmtrace_agent.toolkit.http_server import set_route

        def route_selected(
            wrapped: Callable[..., object],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            # Hot path: once per request (and per mount it goes through).
            with internal_errors:
                path = kwargs.get("path")
                scope = kwargs.get("scope")
                if isinstance(path, str) and isinstance(scope, dict):
                    prefix = scope.get(_MOUNT_PREFIX, "")
                    if kwargs.get("mount"):  # a Mount's path_format ends in /{path}
                        prefix += path.removesuffix("/{path}")
                        scope[_MOUNT_PREFIX] = prefix
                        set_route(prefix + "/{path}")
                    else:
                        set_route(prefix + path)
            return wrapped(*args, **kwargs)

        self.wrap(module, "_route_selected", route_selected)

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
                scope.setdefault("fastapi.telemetry", None)
            return wrapped(*args, **kwargs)

        if not self.wrap(module, "FastAPI.__call__", call):
            raise RuntimeError("fastapi.applications.FastAPI.__call__ not found")
