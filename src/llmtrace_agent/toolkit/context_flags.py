"""Context flags shared between instrumentors, kept light (contextvars only).

``inside_llm_call`` is True while a model-call span is open: an LLM SDK call made through
``llmtrace_agent.toolkit.genai``, or one another tracer made (a router's own telemetry) whose
instrumentor sets the flag itself. The GenAI wrappers then make no second span for a provider SDK
called underneath, and HTTP instrumentors make the SDK's own HTTP request a child of the LLM span
(or no span, with LLMTRACE_HTTP_UNDER_LLM=false), never a second LLM span.

``inside_http_request`` is True while an HTTP-client instrumentor handles one request: a
lower-level client used underneath (urllib3 under requests) then records no second span.
"""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["inside_http_request", "inside_llm_call"]

inside_llm_call: ContextVar[bool] = ContextVar("llmtrace_inside_llm_call", default=False)
inside_http_request: ContextVar[bool] = ContextVar("llmtrace_inside_http_request", default=False)
