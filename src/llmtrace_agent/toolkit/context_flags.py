"""Context flags shared between instrumentors, kept light (contextvars only).

``inside_llm_call`` is True while a model-call span is open: an LLM SDK call made through
``llmtrace_agent.toolkit.genai``, or one another tracer made (a router's own telemetry) whose
instrumentor sets the flag itself. The GenAI wrappers then make no second span for a provider SDK
called underneath, and HTTP instrumentors make the SDK's own HTTP request a child of the LLM span
(by default only when there was a retry or a failure: LLMTRACE_HTTP_UNDER_LLM), never a second
LLM span.

``llm_call_attempts`` counts the HTTP requests of the model call that is open: the GenAI wrappers
give each call a fresh ``HTTPAttempts``, and ``toolkit.http_spans`` tells from it that a request
is a second attempt (a retry, a redirect hop), whose span and its predecessor's are then worth
recording.

``inside_http_request`` is True while an HTTP-client instrumentor handles one request: a
lower-level client used underneath (urllib3 under requests) then records no second span.

``telemetry_upload()`` marks a block whose requests are an SDK's own telemetry export, which no
HTTP instrumentor traces.
"""

from __future__ import annotations

from contextvars import ContextVar

TYPE_CHECKING = False
if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from opentelemetry.context import Context

__all__ = [
    "HTTPAttempts",
    "inside_http_request",
    "inside_llm_call",
    "llm_call_attempts",
    "telemetry_upload",
]

inside_llm_call: ContextVar[bool] = ContextVar("llmtrace_inside_llm_call", default=False)
inside_http_request: ContextVar[bool] = ContextVar("llmtrace_inside_http_request", default=False)


def telemetry_upload() -> AbstractContextManager[object]:
    """Mark the requests made inside as another tool's telemetry upload (an SDK exporting its own
    traces, as the OpenAI Agents SDK does), not the application's: HTTP instrumentors, ours and
    OpenTelemetry's, make no span for them and inject no trace context. It sets OpenTelemetry's
    suppress-instrumentation key, as the OpenTelemetry SDK's own exporters do."""
    from opentelemetry import context

    key = getattr(context, "_SUPPRESS_INSTRUMENTATION_KEY", None)
    if key is None:  # an API too old to have the key has no instrumentation honouring it
        from contextlib import nullcontext

        return nullcontext()
    return _Attached(context.set_value(key, True))


class _Attached:
    """Attach an OpenTelemetry context for the block, detach it after (same thread or task)."""

    __slots__ = ("_context", "_token")

    def __init__(self, context: Context) -> None:
        self._context = context

    def __enter__(self) -> None:
        from opentelemetry import context

        self._token = context.attach(self._context)

    def __exit__(self, *_exc: object) -> None:
        from opentelemetry import context

        context.detach(self._token)


class HTTPAttempts:
    """The HTTP requests one model call has sent so far, as ``toolkit.http_spans`` keeps them."""

    __slots__ = ("count", "pending")

    def __init__(self) -> None:
        self.count = 0
        self.pending: object = None
        """The last request, if it got no span yet: it gets one (backdated) if another follows."""


llm_call_attempts: ContextVar[HTTPAttempts | None] = ContextVar(
    "llmtrace_llm_call_attempts", default=None
)
