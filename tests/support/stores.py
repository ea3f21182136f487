"""Reading vector-store spans (those with ``db.system.name``) from what the receiver got."""

from __future__ import annotations

import json
from typing import Any

from llmtrace_agent.toolkit import semconv
from tests.support.otlp_receiver import ReceivedSpan


def store_spans(agent: Any, count: int, timeout: float = 10.0) -> list[ReceivedSpan]:
    """Flush, then exactly ``count`` store spans, in the order they started."""
    agent.flush()
    found = agent.receiver.wait_for_spans(
        count, timeout, lambda span: semconv.DB_SYSTEM_NAME in span.attributes
    )
    assert len(found) == count, f"expected {count} store spans, got {[s.name for s in found]}"
    return sorted(found, key=lambda span: span.start_ns)


def store_span(agent: Any) -> ReceivedSpan:
    """The one store span of the test (fails if there are none or several)."""
    return store_spans(agent, 1)[0]


def documents(span: ReceivedSpan) -> list[dict[str, Any]]:
    """``gen_ai.retrieval.documents`` decoded."""
    return json.loads(span.attributes[semconv.GEN_AI_RETRIEVAL_DOCUMENTS])


CONTENT_ATTRIBUTES = (semconv.GEN_AI_RETRIEVAL_DOCUMENTS, semconv.GEN_AI_RETRIEVAL_QUERY_TEXT)
"""What only content capture records."""
