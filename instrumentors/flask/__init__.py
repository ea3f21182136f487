"""Flask: the route rule (``/hello/<name>``) and the cause of a 500 on the request's server span.

The SERVER span comes from the ``wsgi`` instrumentor's middleware, around the app the server
runs. This one reports ``request.url_rule.rule`` once Flask matched it
(``Flask.full_dispatch_request``), and the exception Flask turns into a 500 answer
(``Flask.handle_exception``), which becomes the span's ``error.type``.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType


class FlaskInstrumentor(Instrumentor):
    """Reports Flask's matched rule and unhandled exceptions to the request's server span."""

    name = "flask"
    targets = ("flask",)
    requires = "flask>=2.2"

    def instrument(self, module: ModuleType) -> None:
        self.when_imported("flask.app", self._patch_app)

    def _patch_app(self, module: ModuleType) -> None:
        from llmtrace_agent.toolkit.guard import internal_errors
        from llmtrace_agent.toolkit.http_server import record_exception, set_route

        def full_dispatch_request(
            wrapped: Callable[..., object],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            # Hot path: once per request.
            with internal_errors:
                from flask import request

                rule = request.url_rule
                if rule is not None:
                    set_route(rule.rule)
            return wrapped(*args, **kwargs)

        def handle_exception(
            wrapped: Callable[..., object],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            with internal_errors:
                exc = args[0] if args else kwargs.get("e")
                if isinstance(exc, BaseException):
                    record_exception(exc)
            return wrapped(*args, **kwargs)

        if not self.wrap(module, "Flask.full_dispatch_request", full_dispatch_request):
            raise RuntimeError("flask.app.Flask.full_dispatch_request not found")
        self.wrap(module, "Flask.handle_exception", handle_exception)
