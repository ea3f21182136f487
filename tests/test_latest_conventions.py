"""``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental``: the newest GenAI names in place
of v1.41's, on real SDK calls to the loopback fakes, read from the real OTLP receiver.

Agent, workflow and tool metrics need the agent started with the opt-in (a span processor):
``tests/instrumentors/langchain/test_process.py`` runs an agent app that way.
"""

from __future__ import annotations

import json

import pytest

from llmtrace_agent._runtime.config import Config
from llmtrace_agent.toolkit import semconv
from tests.support.agent import InProcessAgent
from tests.support.fake_openai import Reply, chat_completion, chat_usage, client, error_body

anthropic = pytest.importorskip("anthropic")
openai = pytest.importorskip("openai")

MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]


def latest(agent: InProcessAgent, **changes: object):  # type: ignore[no-untyped-def]
    return agent.configured(genai_latest=True, **changes)


def points_of(agent: InProcessAgent, metric: str, model: str) -> list:
    return [
        point
        for point in agent.receiver.points(metric)
        if point.attributes.get(semconv.GEN_AI_REQUEST_MODEL) == model
    ]


def test_the_opt_in_is_read_from_the_standard_variable_among_other_domains() -> None:
    opted = Config.from_env({"OTEL_SEMCONV_STABILITY_OPT_IN": "http, gen_ai_latest_experimental"})
    assert opted.genai_latest and not opted.warnings
    assert not Config.from_env({"OTEL_SEMCONV_STABILITY_OPT_IN": "http/dup"}).genai_latest
    assert not Config.from_env({}).genai_latest


def test_cache_writes_and_top_k_take_their_newest_name_and_type(agent, fake_anthropic) -> None:
    anthropic_client = anthropic.Anthropic(
        base_url=fake_anthropic.base_url, api_key="sk-ant-fake", max_retries=0
    )
    with latest(agent):
        anthropic_client.messages.create(
            model="claude-latest-test",
            max_tokens=64,
            messages=MESSAGES,
            extra_body={"top_k": 5},  # anthropic >= 1 has no top_k argument
        )
    (span,) = agent.spans(1, name="chat claude-latest-test")
    assert span.attributes[semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 30
    assert semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS not in span.attributes
    top_k = span.attributes[semconv.GEN_AI_REQUEST_TOP_K]
    assert top_k == 5 and isinstance(top_k, int)  # an OTLP int, where v1.41 says double


def test_output_messages_leave_the_finish_reason_to_the_span_attribute(agent, fake_openai) -> None:
    with latest(agent, capture_content=True):
        client(fake_openai).chat.completions.create(model="latest-content", messages=MESSAGES)
    (span,) = agent.spans(1, name="chat latest-content")
    (message,) = json.loads(span.attributes[semconv.GEN_AI_OUTPUT_MESSAGES])
    assert message["role"] == "assistant" and "finish_reason" not in message
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_inference_metrics_take_the_newest_names(agent, fake_openai) -> None:
    fake_openai.reply(Reply(body=chat_completion(usage=chat_usage(12, 5, cached=4, reasoning=2))))
    with latest(agent):
        client(fake_openai).chat.completions.create(model="latest-metrics", messages=MESSAGES)
    agent.flush()

    (duration,) = points_of(agent, semconv.GEN_AI_CLIENT_INFERENCE_DURATION, "latest-metrics")
    assert duration.bucket_bounds == semconv.OPERATION_DURATION_BUCKETS
    assert duration.attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    (inputs,) = points_of(agent, semconv.GEN_AI_CLIENT_INFERENCE_INPUT_TOKENS, "latest-metrics")
    (outputs,) = points_of(agent, semconv.GEN_AI_CLIENT_INFERENCE_OUTPUT_TOKENS, "latest-metrics")
    assert (inputs.sum, outputs.sum) == (12, 5)
    assert inputs.bucket_bounds == semconv.TOKEN_USAGE_BUCKETS
    counted = {
        suffix: points_of(agent, semconv.GEN_AI_CLIENT_INFERENCE_USAGE + suffix, "latest-metrics")
        for suffix in (
            "input_tokens",
            "output_tokens",
            "cache_read.input_tokens",
            "reasoning.output_tokens",
        )
    }
    assert {suffix: [p.sum for p in found] for suffix, found in counted.items()} == {
        "input_tokens": [12],
        "output_tokens": [5],
        "cache_read.input_tokens": [4],
        "reasoning.output_tokens": [2],
    }
    for (point,) in counted.values():
        assert point.attributes[semconv.GEN_AI_TOKEN_MODALITY] == "unknown"
    # v1.41's instruments stay silent for this call.
    assert not points_of(agent, semconv.GEN_AI_CLIENT_TOKEN_USAGE, "latest-metrics")
    assert not points_of(agent, semconv.GEN_AI_CLIENT_OPERATION_DURATION, "latest-metrics")


def test_a_failed_call_records_zero_tokens_with_its_error_type(agent, fake_openai) -> None:
    fake_openai.reply(Reply(status=503, body=error_body(503)))
    with latest(agent), pytest.raises(openai.InternalServerError):
        client(fake_openai).chat.completions.create(model="latest-failed", messages=MESSAGES)
    agent.flush()

    (inputs,) = points_of(agent, semconv.GEN_AI_CLIENT_INFERENCE_INPUT_TOKENS, "latest-failed")
    assert inputs.sum == 0 and inputs.attributes[semconv.ERROR_TYPE] == "503"
    (counted,) = points_of(
        agent, semconv.GEN_AI_CLIENT_INFERENCE_USAGE + "input_tokens", "latest-failed"
    )
    assert counted.sum == 0 and semconv.ERROR_TYPE not in counted.attributes


def test_embeddings_get_their_own_metrics(agent, fake_openai) -> None:
    with latest(agent):
        client(fake_openai).embeddings.create(model="latest-embed", input="hello")
    agent.flush()

    assert points_of(agent, semconv.GEN_AI_CLIENT_EMBEDDINGS_DURATION, "latest-embed")
    (tokens,) = points_of(agent, semconv.GEN_AI_CLIENT_EMBEDDINGS_INPUT_TOKENS, "latest-embed")
    assert tokens.sum == 8
    assert not points_of(agent, semconv.GEN_AI_CLIENT_INFERENCE_DURATION, "latest-embed")


def test_a_vector_search_reports_top_k_under_the_retrieval_name(agent, tmp_path) -> None:
    chromadb = pytest.importorskip("chromadb")
    collection = chromadb.PersistentClient(path=str(tmp_path)).create_collection("latest_notes")
    collection.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=["a", "b"])
    with latest(agent):
        collection.query(query_embeddings=[[1.0, 0.0]], n_results=1)
    (span,) = agent.spans(1, name="retrieval latest_notes")
    top_k = span.attributes[semconv.GEN_AI_RETRIEVAL_TOP_K]
    assert top_k == 1 and isinstance(top_k, int)
    assert semconv.GEN_AI_REQUEST_TOP_K not in span.attributes
