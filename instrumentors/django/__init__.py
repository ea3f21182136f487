"""Django: the URL pattern (``/hello/<str:name>``) and the cause of a 500 on the server span.

The SERVER span comes from the ``wsgi`` instrumentor (``runserver``, gunicorn) or the ``asgi``
one (uvicorn, hypercorn). This one reports the resolved ``ResolverMatch.route`` (the whole
pattern, included URLconfs joined; Django writes it without the leading ``/``, which is added)
from ``BaseHandler.resolve_request``, and the exception Django turns into a response
(``django.core.handlers.exception.response_for_exception``): if that response is a 5xx, the
exception is its ``error.type``.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType


class DjangoInstrumentor(Instrumentor):
    """Reports Django's matched URL pattern and unhandled exceptions to the server span."""

    name = "django"
    targets = ("django",)
    requires = "django>=4.2"

    def instrument(self, module: ModuleType) -> None:
        self.when_imported("django.core.handlers.base", self._patch_handler)
        self.when_imported("django.core.handlers.exception", self._patch_exceptions)

    def _patch_handler(self, module: ModuleType) -> None:
        from llmtrace_agent.toolkit.guard import internal_errors
        from llmtrace_agent.toolkit.http_server import set_route

        def resolve_request(
            wrapped: Callable[..., object],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            # Hot path: once per request.
            match = wrapped(*args, **kwargs)
            with internal_errors:
                route = getattr(match, "route", None)
                if isinstance(route, str):
                    set_route(route if route.startswith("/") else "/" + route)
            return match

        if not self.wrap(module, "BaseHandler.resolve_request", resolve_request):
            raise RuntimeError("django.core.handlers.base.BaseHandler.resolve_request not found")

    def _patch_exceptions(self, module: ModuleType) -> None:
        from llmtrace_agent.toolkit.guard import internal_errors
        from llmtrace_agent.toolkit.http_server import record_exception

        def response_for_exception(
            wrapped: Callable[..., object],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            with internal_errors:
                exc = args[1] if len(args) > 1 else kwargs.get("exc")
                if isinstance(exc, BaseException):
                    record_exception(exc)
            return wrapped(*args, **kwargs)

        self.wrap(module, "response_for_exception", response_for_exception)
