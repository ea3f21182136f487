"""WSGI servers: a SERVER span per request for any WSGI app gunicorn, werkzeug or wsgiref serves.

The middleware (``middleware.TracedWSGIApp``) goes around the application where the server
takes it, so every framework is covered without a code change (Flask, Django, a bare WSGI
callable):

- gunicorn: ``Worker.load_wsgi`` in each worker (after the fork, with or without ``--preload``);
  its own ASGI worker (``-k asgi``) gets the ASGI middleware. ``UvicornWorker`` loads through
  uvicorn, which the ``asgi`` instrumentor covers.
- werkzeug (``flask run``, ``app.run()``): ``BaseWSGIServer.__init__``.
- wsgiref (``python manage.py runserver``, ``wsgiref.simple_server``): ``WSGIServer.set_app``.

Route templates come from the framework instrumentors (``flask``, ``django``).
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    Wrapper = Callable[
        [Callable[..., object], object, tuple[object, ...], dict[str, object]], object
    ]


class WSGIInstrumentor(Instrumentor):
    """Wraps the application a WSGI server is given in the WSGI server-span middleware."""

    name = "wsgi"
    targets = ("gunicorn", "werkzeug", "wsgiref")

    def instrument(self, module: ModuleType) -> None:
        hooks = {
            "gunicorn": (("gunicorn.workers.base", self._patch_gunicorn),
                         ("gunicorn.workers.gasgi", self._patch_gunicorn_asgi)),
            "werkzeug": (("werkzeug.serving", self._patch_werkzeug),),
            "wsgiref": (("wsgiref.simple_server", self._patch_wsgiref),),
        }  # fmt: skip
        for submodule, hook in hooks[module.__name__]:
            self.when_imported(submodule, hook)

    def traced(self, app: object) -> object:
        """``app`` inside the middleware (once: an already traced app is returned as is; on any
        failure of ours, the app untouched)."""
        from llmtrace_agent.toolkit.guard import internal_errors

        with internal_errors:
            from llmtrace_agent.instrumentors.wsgi.middleware import TracedWSGIApp

            if isinstance(app, TracedWSGIApp) or app is None:
                return app
            return TracedWSGIApp(app, self.tracer, lambda: self.active)
        return app

    def traced_asgi(self, app: object) -> object:
        """An ASGI app a WSGI server family runs (hypercorn's), in the ASGI middleware."""
        from llmtrace_agent.toolkit.guard import internal_errors

        with internal_errors:
            from llmtrace_agent.instrumentors.asgi.middleware import TracedASGIApp

            if isinstance(app, TracedASGIApp) or app is None:
                return app
            return TracedASGIApp(app, self.tracer, lambda: self.active)
        return app

    def _patch_gunicorn(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.asgi.middleware import looks_asgi
        from llmtrace_agent.toolkit.guard import internal_errors

        def load_wsgi(
            wrapped: Callable[..., object],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            result = wrapped(*args, **kwargs)
            with internal_errors:
                # ASGI workers (UvicornWorker and the like) hold an ASGI app here: their own
                # server loads it, and the asgi instrumentor wraps it there.
                app = getattr(instance, "wsgi", None)
                if app is not None and not looks_asgi(app):
                    instance.wsgi = self.traced(app)  # type: ignore[attr-defined]
            return result

        if not self.wrap(module, "Worker.load_wsgi", load_wsgi):
            raise RuntimeError("gunicorn.workers.base.Worker.load_wsgi not found")

    def _patch_gunicorn_asgi(self, module: ModuleType) -> None:
        from llmtrace_agent.toolkit.guard import internal_errors

        def load_asgi(
            wrapped: Callable[..., object],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            result = wrapped(*args, **kwargs)
            with internal_errors:
                instance.asgi = self.traced_asgi(getattr(instance, "asgi", None))  # type: ignore[attr-defined]
            return result

        self.wrap(module, "ASGIWorker.load_wsgi", load_asgi)

    def _patch_werkzeug(self, module: ModuleType) -> None:
        def server_init(
            wrapped: Callable[..., object],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            if len(args) >= 3:
                args = (*args[:2], self.traced(args[2]), *args[3:])
            elif "app" in kwargs:
                kwargs["app"] = self.traced(kwargs["app"])
            return wrapped(*args, **kwargs)

        if not self.wrap(module, "BaseWSGIServer.__init__", server_init):
            raise RuntimeError("werkzeug.serving.BaseWSGIServer not found")

    def _patch_wsgiref(self, module: ModuleType) -> None:
        def set_app(
            wrapped: Callable[..., object],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            if args:
                args = (self.traced(args[0]), *args[1:])
            return wrapped(*args, **kwargs)

        if not self.wrap(module, "WSGIServer.set_app", set_app):
            raise RuntimeError("wsgiref.simple_server.WSGIServer.set_app not found")
