"""requests: one HTTP client span per request sent, with W3C context propagation.

Patches ``HTTPAdapter.send`` rather than ``Session.send``: the session sends redirect hops from
inside its own ``send`` (the first call would enclose every hop and report the last hop's
status), while the adapter sends exactly one request per call, so each hop gets its own span
and ``http.request.resend_count``. ``requests.get`` and every session use the adapter; custom
adapters not derived from ``HTTPAdapter`` (``requests-mock``…) send nothing over the network
and are not traced. urllib3 underneath records no second span.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType


class RequestsInstrumentor(Instrumentor):
    """Traces every request ``requests`` sends."""

    name = "requests"
    targets = ("requests",)
    requires = "requests>=2.25"  # older ones pin urllib3<1.26, which the OTLP exporter excludes

    def instrument(self, module: ModuleType) -> None:
        from llmtrace_agent.toolkit.guard import internal_errors
        from llmtrace_agent.toolkit.http_spans import start_request

        def send(
            wrapped: Callable[..., object],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            # Hot path: once per HTTP request.
            scope = None
            with internal_errors:
                request = args[0] if args else kwargs["request"]
                scope = start_request(self.tracer, request.method, request.url, request.headers)
            if scope is None:
                return wrapped(*args, **kwargs)
            with scope:
                response = wrapped(*args, **kwargs)
                scope.response(response.status_code, getattr(response.raw, "version", None))
            return response

        if not self.wrap(module, "adapters.HTTPAdapter.send", send):
            raise RuntimeError("requests.adapters.HTTPAdapter.send not found")
