"""OpenAI's ``usage`` objects as ``genai.Usage``."""

from __future__ import annotations

from llmtrace_agent.toolkit import genai
from llmtrace_agent.toolkit.readers import field


def usage_of(usage: object, responses_api: bool = False) -> genai.Usage | None:
    """Token counts from a chat/completions/embeddings ``usage`` (prompt_tokens…) or a
    Responses API one (input_tokens…). Cached and reasoning tokens are part of the totals."""
    if usage is None:
        return None
    if responses_api:
        return genai.Usage(
            input=field(usage, "input_tokens"),
            output=field(usage, "output_tokens"),
            cache_read=field(field(usage, "input_tokens_details"), "cached_tokens"),
            reasoning=field(field(usage, "output_tokens_details"), "reasoning_tokens"),
        )
    return genai.Usage(
        input=field(usage, "prompt_tokens"),
        output=field(usage, "completion_tokens"),
        cache_read=field(field(usage, "prompt_tokens_details"), "cached_tokens"),
        reasoning=field(field(usage, "completion_tokens_details"), "reasoning_tokens"),
    )
