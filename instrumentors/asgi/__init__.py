"""ASGI servers: a SERVER span per request for any ASGI app uvicorn or hypercorn serves.

The middleware (``middleware.TracedASGIApp``) goes around the application where the server
loads it, so no code change is needed and every framework is covered (FastAPI, Starlette,
Django's ASGI handler, a bare ASGI callable; gunicorn's ``UvicornWorker`` loads through uvicorn):

- uvicorn: ``Config.load`` (in each worker process), below uvicorn's proxy-headers middleware so
  ``client.address`` and ``url.scheme`` are the forwarded ones when that is configured.
- hypercorn: ``ASGIWrapper.__init__`` (and ``WSGIWrapper.__init__`` for a WSGI app, with the
  WSGI middleware).

Route templates come from the framework instrumentors (``starlette``, ``fastapi``, ``django``).
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

# uvicorn's own wrappers that must stay outside ours: they fix the scope we read.
_UVICORN_OUTER = ("ProxyHeadersMiddleware", "MessageLoggerMiddleware")


class ASGIInstrumentor(Instrumentor):
    """Wraps the application uvicorn or hypercorn loads in the ASGI server-span middleware."""

    name = "asgi"
    targets = ("uvicorn", "hypercorn")

    def instrument(self, module: ModuleType) -> None:
        if module.__name__ == "uvicorn":
            self.when_imported("uvicorn.config", self._patch_uvicorn)
        else:
            self.when_imported("hypercorn.app_wrappers", self._patch_hypercorn)

    def traced(self, app: object) -> object:
        """``app`` inside the middleware (once: an already traced app is returned as is; on any
        failure of ours, the app untouched)."""
        from llmtrace_agent.toolkit.guard import internal_errors

        with internal_errors:
            from llmtrace_agent.instrumentors.asgi.middleware import TracedASGIApp

            if isinstance(app, TracedASGIApp):
                return app
            return TracedASGIApp(app, self.tracer, lambda: self.active)
        return app

    def _patch_uvicorn(self, module: ModuleType) -> None:
        from llmtrace_agent.toolkit.guard import internal_errors

        def load(
            wrapped: Callable[..., object],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            result = wrapped(*args, **kwargs)
            with internal_errors:
                holder, attribute = instance, "loaded_app"
                while type(getattr(holder, attribute)).__name__ in _UVICORN_OUTER:
                    holder, attribute = getattr(holder, attribute), "app"
                setattr(holder, attribute, self.traced(getattr(holder, attribute)))
            return result

        if not self.wrap(module, "Config.load", load):
            raise RuntimeError("uvicorn.config.Config.load not found")

    def _patch_hypercorn(self, module: ModuleType) -> None:
        def asgi_init(
            wrapped: Callable[..., object],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            if args:
                args = (self.traced(args[0]), *args[1:])
            return wrapped(*args, **kwargs)

        def wsgi_init(
            wrapped: Callable[..., object],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            from llmtrace_agent.instrumentors.wsgi.middleware import TracedWSGIApp

            if args and not isinstance(args[0], TracedWSGIApp):
                args = (TracedWSGIApp(args[0], self.tracer, lambda: self.active), *args[1:])
            return wrapped(*args, **kwargs)

        if not self.wrap(module, "ASGIWrapper.__init__", asgi_init):
            raise RuntimeError("hypercorn.app_wrappers.ASGIWrapper not found")
        self.wrap(module, "WSGIWrapper.__init__", wsgi_init)
