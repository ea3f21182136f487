"""The toolkit's framework pieces over a real SDK call: a framework's offered model call is
taken by the provider's span (one span, the framework's attributes on it), and the agent, tool
and retrieval spans every framework instrumentor makes."""

from __future__ import annotations

import json

import pytest
from opentelemetry import trace

from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.genai.agent_spans import (
    current_tool_span,
    end_span,
    record_documents,
    record_tool_result,
    start_agent_span,
    start_retrieval_span,
    start_tool_span,
)
from llmtrace_agent.toolkit.genai.delegation import MODEL_CALL, RETRIEVAL, offer
from tests.support.fake_openai import client, llm_spans

MESSAGES = [{"role": "user", "content": "Hi"}]
tracer = trace.get_tracer("tests.framework")


def test_an_offered_model_call_is_taken_by_the_provider_span(agent, fake_openai):
    with offer(MODEL_CALL, {semconv.GEN_AI_AGENT_NAME: "planner"}) as offered:
        client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert offered.taken
    (span,) = llm_spans(agent)
    assert span.attributes[semconv.GEN_AI_AGENT_NAME] == "planner"
    assert span.attributes[semconv.GEN_AI_OPERATION_NAME] == "chat"


def test_an_offer_of_another_kind_is_not_taken(agent, fake_openai):
    with offer(RETRIEVAL, {semconv.GEN_AI_DATA_SOURCE_ID: "docs"}) as offered:
        client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert not offered.taken
    (span,) = llm_spans(agent)
    assert semconv.GEN_AI_DATA_SOURCE_ID not in span.attributes


def test_an_offer_nobody_takes_stays_untaken():
    with offer(MODEL_CALL) as offered:
        pass
    assert not offered.taken and offered.started_ns > 0


def test_agent_and_tool_spans_nest_and_carry_their_attributes(agent):
    agent_span = start_agent_span(tracer, "planner", provider="openai", agent_id="a1")
    with trace.use_span(agent_span):
        tool = start_tool_span(tracer, "get_weather", call_id="call_1", arguments={"city": "Paris"})
        with trace.use_span(tool):
            assert current_tool_span() is tool
            record_tool_result(tool, "sunny")
        end_span(tool)
    assert current_tool_span() is None
    end_span(agent_span)

    spans = {span.name: span for span in agent.spans(2)}
    run, call = spans["invoke_agent planner"], spans["execute_tool get_weather"]
    assert run.kind == call.kind == "INTERNAL"
    assert call.parent_span_id == run.span_id
    assert run.attributes[semconv.GEN_AI_OPERATION_NAME] == "invoke_agent"
    assert run.attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert run.attributes[semconv.GEN_AI_AGENT_ID] == "a1"
    assert call.attributes[semconv.GEN_AI_TOOL_CALL_ID] == "call_1"
    assert call.attributes[semconv.GEN_AI_TOOL_TYPE] == "function"
    assert semconv.GEN_AI_TOOL_CALL_ARGUMENTS not in call.attributes  # content is opt-in
    assert semconv.GEN_AI_TOOL_CALL_RESULT not in call.attributes


def test_tool_content_is_clipped_valid_json_when_capture_is_on(agent):
    with agent.configured(capture_content=True, content_max_length=5):
        tool = start_tool_span(tracer, "search", arguments={"query": "a long question"})
        record_tool_result(tool, {"hits": ["first result", b"\x00" * 10]})
        end_span(tool)

    (span,) = agent.spans(1)
    assert json.loads(span.attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS]) == {
        "query": "a lon…[truncated]"
    }
    assert json.loads(span.attributes[semconv.GEN_AI_TOOL_CALL_RESULT]) == {
        "hits": ["first…[truncated]", "<10 bytes>"]
    }


def test_a_failed_tool_has_status_error_and_error_type(agent):
    tool = start_tool_span(tracer, "divide")
    end_span(tool, ZeroDivisionError("division by zero"))

    (span,) = agent.spans(1)
    assert span.status_code == "ERROR"
    assert span.attributes[semconv.ERROR_TYPE] == "ZeroDivisionError"


@pytest.mark.parametrize("capture", [False, True])
def test_retrieval_span_records_query_and_documents_only_with_capture(agent, capture):
    with agent.configured(capture_content=capture):
        span = start_retrieval_span(tracer, "docs", top_k=3, query="capital of France")
        record_documents(span, [{"id": "d1", "score": 0.9}])
        end_span(span, attributes={semconv.DB_RESPONSE_RETURNED_ROWS: 1})

    (found,) = agent.spans(1)
    assert found.name == "retrieval docs"
    assert found.kind == "CLIENT"
    assert found.attributes[semconv.GEN_AI_REQUEST_TOP_K] == 3
    assert found.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 1
    if capture:
        assert found.attributes[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT] == "capital of France"
        assert json.loads(found.attributes[semconv.GEN_AI_RETRIEVAL_DOCUMENTS]) == [
            {"id": "d1", "score": 0.9}
        ]
    else:
        assert semconv.GEN_AI_RETRIEVAL_QUERY_TEXT not in found.attributes
        assert semconv.GEN_AI_RETRIEVAL_DOCUMENTS not in found.attributes
