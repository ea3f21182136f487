"""The tracer the anthropic SDK gets for its own spans: all of them but the duplicates of ours.

The SDK starts one CLIENT span per API call (``start_api_call_span``) and INTERNAL spans for its
tool runner (``invoke_agent``) and each tool it runs (``execute_tool``). A CLIENT span started
while one of our model-call spans is open (``inside_llm_call``: the SDK's ``messages.create``
span inside our ``chat`` span) is the same call traced twice: it gets the invalid span, which the
SDK treats as "no span" (nothing recorded, no ``traceparent`` of its own injected). Every other
span is kept, under the conventions' name when it is an agent or tool span (the SDK names them
``anthropic.messages.tool_runner`` and ``anthropic.custom_tool_use {tool}``), and every other
tracer method is the SDK's tracer's.
"""

from __future__ import annotations

from opentelemetry.trace import INVALID_SPAN, SpanKind

from llmtrace_agent.toolkit.context_flags import inside_llm_call
from llmtrace_agent.toolkit.genai.agent_spans import conventional
from llmtrace_agent.toolkit.guard import internal_errors
from llmtrace_agent.toolkit.sdk_tracer import SelectiveTracer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from opentelemetry import trace

    from llmtrace_agent.toolkit.sdk_tracer import SpanRequest

__all__ = ["WithoutDuplicateCalls"]


class WithoutDuplicateCalls(SelectiveTracer):
    """Wraps the SDK's tracer; drops only its API-call spans of calls we trace."""

    def choose(self, request: SpanRequest) -> trace.Span:
        # Hot path: every SDK span.
        if request.kind is SpanKind.CLIENT and inside_llm_call.get():
            return INVALID_SPAN
        with internal_errors:
            request.name, request.attributes = conventional(request.name, request.attributes)  # type: ignore[assignment]
        return request.start()
