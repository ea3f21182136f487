"""bedrock: ``invoke_model`` and ``invoke_model_with_response_stream`` with each model family's
own body format (Anthropic Claude, Amazon Titan and Nova, Meta Llama, Cohere, Mistral), the real
boto3 client against the loopback fake, asserted at the OTLP receiver."""

from __future__ import annotations

import gc
import json
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.eventstream import EventStream
from botocore.exceptions import EventStreamError
from botocore.response import StreamingBody

from tests.instrumentors.bedrock.support import CLAUDE, PROMPT, client, content, genai_span
from tests.support import fake_bedrock as fake
from tests.support.agent import InProcessAgent
from tests.support.fake_bedrock import FakeBedrock


@dataclass(frozen=True)
class Family:
    """One model family: a model id, a request body, and what its span should say."""

    model: str
    body: dict[str, Any]
    operation: str
    finish_reason: str | None
    request: dict[str, object]
    response_id: bool = False  # plain and streamed replies carry one
    plain_response_id: bool = False  # only the complete reply does (Cohere)
    response_model: str | None = None


FAMILIES = {
    "anthropic": Family(
        CLAUDE,
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 200,
            "temperature": 0.3,
            "top_k": 20,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": PROMPT}],
        },
        "chat",
        "end_turn",
        {
            "gen_ai.request.max_tokens": 200,
            "gen_ai.request.temperature": 0.3,
            "gen_ai.request.top_k": 20.0,
        },
        response_id=True,
        response_model="claude-3-5-haiku-20241022",
    ),
    "titan": Family(
        "amazon.titan-text-express-v1",
        {
            "inputText": PROMPT,
            "textGenerationConfig": {"maxTokenCount": 100, "topP": 0.8, "stopSequences": ["User:"]},
        },
        "text_completion",
        "FINISH",
        {
            "gen_ai.request.max_tokens": 100,
            "gen_ai.request.top_p": 0.8,
            "gen_ai.request.stop_sequences": ("User:",),
        },
    ),
    "nova": Family(
        "us.amazon.nova-lite-v1:0",
        {
            "schemaVersion": "messages-v1",
            "messages": [{"role": "user", "content": [{"text": PROMPT}]}],
            "system": [{"text": "Be brief."}],
            "inferenceConfig": {"max_new_tokens": 64, "temperature": 0.7, "topK": 10},
        },
        "chat",
        "end_turn",
        {
            "gen_ai.request.max_tokens": 64,
            "gen_ai.request.temperature": 0.7,
            "gen_ai.request.top_k": 10.0,
        },
    ),
    "llama": Family(
        "meta.llama3-8b-instruct-v1:0",
        {"prompt": PROMPT, "max_gen_len": 128, "temperature": 0.2, "top_p": 0.9},
        "text_completion",
        "stop",
        {
            "gen_ai.request.max_tokens": 128,
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.top_p": 0.9,
        },
    ),
    "cohere": Family(
        "cohere.command-text-v14",
        {"prompt": PROMPT, "max_tokens": 50, "p": 0.5, "k": 3, "stop_sequences": ["--"]},
        "text_completion",
        "COMPLETE",
        {
            "gen_ai.request.max_tokens": 50,
            "gen_ai.request.top_p": 0.5,
            "gen_ai.request.top_k": 3.0,
            "gen_ai.request.stop_sequences": ("--",),
        },
        plain_response_id=True,
    ),
    "cohere_chat": Family(
        "cohere.command-r-v1:0",
        {"message": PROMPT, "preamble": "Be brief.", "max_tokens": 60, "temperature": 0.1},
        "chat",
        "COMPLETE",
        {"gen_ai.request.max_tokens": 60, "gen_ai.request.temperature": 0.1},
        plain_response_id=True,
    ),
    "mistral": Family(
        "mistral.mistral-7b-instruct-v0:2",
        {"prompt": f"<s>[INST] {PROMPT} [/INST]", "max_tokens": 40, "top_k": 50, "stop": ["</s>"]},
        "text_completion",
        "stop",
        {
            "gen_ai.request.max_tokens": 40,
            "gen_ai.request.top_k": 50.0,
            "gen_ai.request.stop_sequences": ("</s>",),
        },
    ),
    "mistral_chat": Family(
        "mistral.mistral-large-2407-v1:0",
        {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": 80, "temperature": 0.4},
        "chat",
        "stop",
        {"gen_ai.request.max_tokens": 80, "gen_ai.request.temperature": 0.4},
        response_id=True,
        response_model="mistral.mistral-large-2407-v1:0",
    ),
}
EMBEDDINGS = {
    "titan_embed": ("amazon.titan-embed-text-v2:0", {"inputText": PROMPT, "dimensions": 256}),
    "cohere_embed": (
        "cohere.embed-english-v3",
        {"texts": [PROMPT], "input_type": "search_query", "embedding_types": ["float"]},
    ),
}


def invoke(server: FakeBedrock, family: Family, scenario: str = "text", **options: Any) -> Any:
    return client(server, scenario).invoke_model(
        modelId=family.model, body=json.dumps(family.body), **options
    )


def invoke_stream(server: FakeBedrock, family: Family, scenario: str = "text") -> Any:
    return client(server, scenario).invoke_model_with_response_stream(
        modelId=family.model, body=json.dumps(family.body)
    )


def assert_family_span(span: Any, family: Family, server: FakeBedrock, streamed: bool) -> None:
    attributes = dict(span.attributes)
    expected: dict[str, object] = {
        "gen_ai.operation.name": family.operation,
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.request.model": family.model,
        **family.request,
        "server.address": "127.0.0.1",
        "server.port": server.port,
        "aws.request_id": fake.REQUEST_ID,
        "gen_ai.response.finish_reasons": (family.finish_reason,),
        "gen_ai.usage.input_tokens": fake.INPUT_TOKENS,
        "gen_ai.usage.output_tokens": fake.OUTPUT_TOKENS,
    }
    if streamed:
        expected["gen_ai.request.stream"] = True
        assert 0 < attributes.pop("gen_ai.response.time_to_first_chunk") <= span.duration_s
    if family.response_id or (family.plain_response_id and not streamed):
        assert attributes.pop("gen_ai.response.id")
    if family.response_model:
        expected["gen_ai.response.model"] = family.response_model
    attributes.pop("gen_ai.usage.cost", None)  # only for the models the price data knows
    for key in ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_creation.input_tokens"):
        if attributes.get(key) == 0:  # Anthropic reports zero cache use
            del attributes[key]
    assert attributes == expected
    assert span.status_code == "UNSET"


# --- invoke_model --------------------------------------------------------------------------


@pytest.mark.parametrize("name", FAMILIES)
def test_invoke_model_reads_the_family_body_format(
    agent: InProcessAgent, fake_bedrock: FakeBedrock, name: str
) -> None:
    family = FAMILIES[name]
    response = invoke(fake_bedrock, family)
    returned = response["body"].read()
    span = genai_span(agent, f"{family.operation} {family.model}")
    assert_family_span(span, family, fake_bedrock, streamed=False)
    assert fake.TEXT in json.dumps(json.loads(returned))  # the app reads the body unchanged
    assert len(fake_bedrock.requests) == 1


def test_invoke_model_hands_over_a_streaming_body_with_the_same_bytes(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    response = invoke(fake_bedrock, FAMILIES["llama"])
    body = response["body"]
    assert isinstance(body, StreamingBody)
    first = body.read(5)
    rest = body.read()
    assert json.loads(first + rest)["generation"] == fake.TEXT
    assert response["contentType"] == "application/json"
    genai_span(agent, "text_completion meta.llama3-8b-instruct-v1:0")


def test_a_known_model_is_priced(agent: InProcessAgent, fake_bedrock: FakeBedrock) -> None:
    invoke(fake_bedrock, FAMILIES["llama"])
    span = genai_span(agent, "text_completion meta.llama3-8b-instruct-v1:0")
    # Llama 3 8B on Bedrock: $0.30 / $0.60 per Mtok.
    expected = (fake.INPUT_TOKENS * 0.3 + fake.OUTPUT_TOKENS * 0.6) / 1e6
    assert span.attributes["gen_ai.usage.cost"] == pytest.approx(expected)


def test_a_model_arn_is_read_by_its_body_shape_and_priced_by_nothing(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/fakeprovisioned7"
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": []}
    client(fake_bedrock).invoke_model(modelId=arn, body=json.dumps(body))
    span = genai_span(agent, f"chat {arn}")
    assert span.attributes["gen_ai.request.max_tokens"] == 10
    assert span.attributes["gen_ai.usage.output_tokens"] == fake.OUTPUT_TOKENS


def test_a_body_that_is_not_json_still_gets_a_span_with_the_header_usage(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    response = client(fake_bedrock).invoke_model(
        modelId="meta.llama3-8b-instruct-v1:0", body=b"\x00not json"
    )
    span = genai_span(agent, "text_completion meta.llama3-8b-instruct-v1:0")
    assert response["body"].read()
    assert span.attributes["gen_ai.usage.input_tokens"] == fake.INPUT_TOKENS
    assert "gen_ai.request.max_tokens" not in span.attributes


@pytest.mark.parametrize("name", EMBEDDINGS)
def test_embedding_models_record_an_embeddings_span(
    agent: InProcessAgent, fake_bedrock: FakeBedrock, name: str
) -> None:
    model, body = EMBEDDINGS[name]
    with agent.configured(capture_content=True):
        response = client(fake_bedrock).invoke_model(modelId=model, body=json.dumps(body))
    assert json.loads(response["body"].read())
    span = genai_span(agent, f"embeddings {model}")
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.usage.input_tokens"] == fake.INPUT_TOKENS
    assert "gen_ai.input.messages" not in span.attributes
    if name == "titan_embed":
        assert span.attributes["gen_ai.embeddings.dimension.count"] == 256
    else:
        assert span.attributes["gen_ai.request.encoding_formats"] == ("float",)


def test_an_invoke_model_error_status_raises_the_sdk_exception_and_ends_the_span(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    family = FAMILIES["anthropic"]
    bedrock = client(fake_bedrock, "status_424")
    with pytest.raises(bedrock.exceptions.ModelErrorException):
        bedrock.invoke_model(modelId=family.model, body=json.dumps(family.body))
    span = genai_span(agent, f"chat {family.model}")
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "botocore.errorfactory.ModelErrorException"


# --- invoke_model_with_response_stream -----------------------------------------------------


@pytest.mark.parametrize("name", FAMILIES)
def test_invoke_model_stream_reads_the_family_chunks(
    agent: InProcessAgent, fake_bedrock: FakeBedrock, name: str
) -> None:
    family = FAMILIES[name]
    response = invoke_stream(fake_bedrock, family)
    stream = response["body"]
    chunks = [json.loads(event["chunk"]["bytes"]) for event in stream]
    span = genai_span(agent, f"{family.operation} {family.model}")
    assert isinstance(stream, EventStream)
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == fake.OUTPUT_TOKENS
    assert_family_span(span, family, fake_bedrock, streamed=True)


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("name", FAMILIES)
def test_the_reply_is_captured_in_the_spec_format_when_content_is_captured(
    agent: InProcessAgent, fake_bedrock: FakeBedrock, name: str, streamed: bool
) -> None:
    family = FAMILIES[name]
    with agent.configured(capture_content=True):
        if streamed:
            for _ in invoke_stream(fake_bedrock, family)["body"]:
                pass
        else:
            invoke(fake_bedrock, family)
    span = genai_span(agent, f"{family.operation} {family.model}")
    (output,) = content(span, "gen_ai.output.messages")
    assert output == {
        "role": "assistant",
        "parts": [{"type": "text", "content": fake.TEXT}],
        "finish_reason": family.finish_reason,
    }
    (message,) = content(span, "gen_ai.input.messages")[-1:]
    assert PROMPT in json.dumps(message)


def test_an_invoke_stream_closed_early_ends_its_span_once(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    family = FAMILIES["anthropic"]
    stream = invoke_stream(fake_bedrock, family)["body"]
    for _ in stream:
        break
    stream.close()
    span = genai_span(agent, f"chat {family.model}")
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
    assert span.attributes["gen_ai.usage.input_tokens"] == fake.INPUT_TOKENS  # message_start


def test_an_invoke_stream_dropped_unfinished_ends_its_span_when_collected(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    family = FAMILIES["titan"]
    response = invoke_stream(fake_bedrock, family)
    next(iter(response["body"]))
    del response
    gc.collect()
    span = genai_span(agent, f"text_completion {family.model}")
    assert span.attributes["gen_ai.usage.input_tokens"] == fake.INPUT_TOKENS


def test_an_exception_event_in_an_invoke_stream_ends_the_span_with_it(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    family = FAMILIES["llama"]
    with pytest.raises(EventStreamError):
        for _ in invoke_stream(fake_bedrock, family, "stream_error")["body"]:
            pass
    span = genai_span(agent, f"text_completion {family.model}")
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "botocore.exceptions.EventStreamError"


# --- content ---------------------------------------------------------------------------------


def test_anthropic_body_content_and_tool_calls_are_captured(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    family = FAMILIES["anthropic"]
    with agent.configured(capture_content=True):
        invoke(fake_bedrock, family, "tool_use")
    span = genai_span(agent, f"chat {family.model}")
    assert content(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": PROMPT}]}
    ]
    assert content(span, "gen_ai.system_instructions") == [{"type": "text", "content": "Be brief."}]
    (output,) = content(span, "gen_ai.output.messages")
    assert output["parts"][1] == {
        "type": "tool_call",
        "id": fake.TOOL_ID,
        "name": fake.TOOL_NAME,
        "arguments": fake.TOOL_INPUT,
    }
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_use",)


def test_chat_completions_body_tool_calls_are_captured(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    family = FAMILIES["mistral_chat"]
    with agent.configured(capture_content=True):
        invoke(fake_bedrock, family, "tool_use")
    (output,) = content(genai_span(agent, f"chat {family.model}"), "gen_ai.output.messages")
    assert output["parts"][-1] == {
        "type": "tool_call",
        "id": fake.TOOL_ID,
        "name": fake.TOOL_NAME,
        "arguments": fake.TOOL_INPUT,
    }
    assert output["finish_reason"] == "tool_calls"


def test_invoke_content_is_not_captured_by_default(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    invoke(fake_bedrock, FAMILIES["anthropic"])
    genai_span(agent, f"chat {CLAUDE}")
    assert PROMPT.encode() not in agent.receiver.all_bytes()
    assert fake.TEXT.encode() not in agent.receiver.all_bytes()


def test_a_body_cut_short_ends_the_span_with_the_read_error_the_app_then_gets(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    family = FAMILIES["llama"]
    response = invoke(fake_bedrock, family, "cut_body")
    with pytest.raises(Exception) as raised:
        response["body"].read()
    span = genai_span(agent, f"text_completion {family.model}")
    assert span.status_code == "ERROR"
    error = raised.value
    assert span.attributes["error.type"] == f"{type(error).__module__}.{type(error).__qualname__}"
    assert type(error).__module__.startswith(("botocore", "urllib3"))
