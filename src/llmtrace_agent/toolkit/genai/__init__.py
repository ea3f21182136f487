"""Shared GenAI instrumentation, written once and used by every LLM instrumentor.

An LLM instrumentor describes each SDK method with a small ``LLMOperation`` subclass (what the
request and response look like for that provider) and installs ``llm_wrapper(...)`` on it. This
package does the rest: the span and its lifecycle, streaming proxies, usage, cost, metrics and
opt-in content capture, following the OpenTelemetry GenAI semantic conventions.
"""

from llmtrace_agent.toolkit.genai.call import LLMCall, Request
from llmtrace_agent.toolkit.genai.content import (
    blob_part,
    clip,
    message,
    output_message,
    reasoning_part,
    text_part,
    to_json,
    tool_call_part,
    tool_call_response_part,
)
from llmtrace_agent.toolkit.genai.operation import LLMOperation, StreamState
from llmtrace_agent.toolkit.genai.stream import AsyncStreamProxy, IterableStreamProxy, StreamProxy
from llmtrace_agent.toolkit.genai.usage import Usage
from llmtrace_agent.toolkit.genai.wrappers import (
    async_llm_wrapper,
    llm_wrapper,
    server_of,
    with_keywords,
)

__all__ = [
    "AsyncStreamProxy",
    "IterableStreamProxy",
    "LLMCall",
    "LLMOperation",
    "Request",
    "StreamProxy",
    "StreamState",
    "Usage",
    "async_llm_wrapper",
    "blob_part",
    "clip",
    "llm_wrapper",
    "message",
    "output_message",
    "reasoning_part",
    "server_of",
    "text_part",
    "to_json",
    "tool_call_part",
    "tool_call_response_part",
    "with_keywords",
]
