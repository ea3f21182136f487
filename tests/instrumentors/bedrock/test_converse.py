"""bedrock: ``converse`` and ``converse_stream`` of the real boto3 client over loopback HTTP to a
fake Bedrock Runtime (JSON, and the AWS event-stream framing); what the OTLP receiver got is what
is asserted."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

import pytest
from botocore.eventstream import EventStream
from botocore.exceptions import ClientError, EventStreamError

from tests.instrumentors.bedrock.conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN
from tests.instrumentors.bedrock.support import (
    CLAUDE,
    MESSAGES,
    PROMPT,
    client,
    content,
    genai_span,
    sdk_has,
    sdk_has_operation,
)
from tests.support import fake_bedrock as fake
from tests.support.agent import InProcessAgent, clean_env, run_traced
from tests.support.fake_bedrock import FakeBedrock
from tests.support.http_server import traceparent_ids
from tests.support.otlp_receiver import OTLPReceiver, ReceivedSpan

SPAN = f"chat {CLAUDE}"
# botocore < 1.35.x drops the cache counts it does not know from the reply.
HAS_CACHE_USAGE = sdk_has("TokenUsage", "cacheReadInputTokens")
CACHE_USAGE = (
    {
        "gen_ai.usage.cache_read.input_tokens": fake.USAGE["cacheReadInputTokens"],
        "gen_ai.usage.cache_creation.input_tokens": fake.USAGE["cacheWriteInputTokens"],
    }
    if HAS_CACHE_USAGE
    else {}
)
INPUT_TOKENS = fake.USAGE["inputTokens"] + sum(CACHE_USAGE.values())
has_cache_usage = pytest.mark.skipif(
    not HAS_CACHE_USAGE, reason="this botocore does not know Converse's cache token counts"
)
has_reasoning = pytest.mark.skipif(
    not sdk_has("ContentBlock", "reasoningContent"),
    reason="this botocore does not know Converse's reasoning content",
)
has_cache_points = pytest.mark.skipif(
    not sdk_has("ContentBlock", "cachePoint"), reason="this botocore does not know cache points"
)
has_apply_guardrail = pytest.mark.skipif(
    not sdk_has_operation("ApplyGuardrail"), reason="this botocore has no apply_guardrail"
)
TOOLS = {
    "tools": [
        {
            "toolSpec": {
                "name": fake.TOOL_NAME,
                "description": "Current weather of a city",
                "inputSchema": {
                    "json": {"type": "object", "properties": {"city": {"type": "string"}}}
                },
            }
        }
    ]
}


def assert_complete_stream(span: ReceivedSpan) -> None:
    assert span.status_code == "UNSET"
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert span.attributes["gen_ai.usage.input_tokens"] == INPUT_TOKENS
    assert span.attributes["gen_ai.usage.output_tokens"] == fake.USAGE["outputTokens"]
    assert 0 < span.attributes["gen_ai.response.time_to_first_chunk"] <= span.duration_s


# --- converse ----------------------------------------------------------------------------------


def test_converse_records_a_chat_span_with_request_and_response_attributes(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    response = client(fake_bedrock).converse(
        modelId=CLAUDE,
        messages=MESSAGES,
        inferenceConfig={
            "maxTokens": 256,
            "temperature": 0.5,
            "topP": 0.9,
            "stopSequences": ["END"],
        },
        additionalModelRequestFields={"top_k": 5},
    )
    span = genai_span(agent, SPAN)
    assert response["output"]["message"]["content"][0]["text"] == fake.TEXT
    assert span.kind == "CLIENT"
    assert span.scope == "llmtrace_agent.bedrock"
    assert span.status_code == "UNSET"
    assert span.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.request.model": CLAUDE,
        "gen_ai.request.max_tokens": 256,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.top_k": 5.0,
        "gen_ai.request.stop_sequences": ("END",),
        "server.address": "127.0.0.1",
        "server.port": fake_bedrock.port,
        "aws.request_id": fake.REQUEST_ID,
        "gen_ai.response.finish_reasons": ("end_turn",),
        "gen_ai.usage.input_tokens": INPUT_TOKENS,
        "gen_ai.usage.output_tokens": fake.USAGE["outputTokens"],
        **CACHE_USAGE,
        "gen_ai.usage.cost": pytest.approx(span.attributes["gen_ai.usage.cost"]),
    }


@has_cache_usage
def test_a_known_model_is_priced_with_its_cache_prices(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    client(fake_bedrock).converse(modelId="us." + CLAUDE, messages=MESSAGES)
    span = genai_span(agent, f"chat us.{CLAUDE}")
    # claude-3-5-haiku on Bedrock: $0.80 / $4 per Mtok, cache reads $0.08, writes $1.
    expected = (11 * 0.8 + 7 * 4 + 100 * 0.08 + 20 * 1.0) / 1e6
    assert span.attributes["gen_ai.usage.cost"] == pytest.approx(expected)


def test_the_botocore_request_becomes_a_child_http_span_whose_id_the_server_receives(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    with agent.configured(http_under_llm="always"):
        client(fake_bedrock).converse(modelId=CLAUDE, messages=MESSAGES)
    (http,) = agent.spans(1, name="POST")
    chat = genai_span(agent, SPAN)
    received = fake_bedrock.only_request().headers["traceparent"]
    assert traceparent_ids(received) == (http.trace_id, http.span_id)
    assert (http.trace_id, http.parent_span_id) == (chat.trace_id, chat.span_id)
    assert (
        http.attributes["url.full"]
        == fake_bedrock.base_url + "/model/" + CLAUDE.replace(":", "%3A") + "/converse"
    )


def test_a_client_created_before_the_call_and_one_after_are_both_traced(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    first = client(fake_bedrock)
    second = client(fake_bedrock)
    first.converse(modelId=CLAUDE, messages=MESSAGES)
    second.converse(modelId=CLAUDE, messages=MESSAGES)
    assert len(agent.spans(2, name=SPAN)) == 2
    assert len(fake_bedrock.requests) == 2


def test_retried_attempts_are_http_spans_under_one_chat_span(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    bedrock = client(fake_bedrock, "status_500", attempts=3)
    with pytest.raises(ClientError):
        bedrock.converse(modelId=CLAUDE, messages=MESSAGES)
    chat = genai_span(agent, SPAN)
    attempts = agent.spans(3, name="POST")
    assert len(fake_bedrock.requests) == 3
    assert {(span.trace_id, span.parent_span_id) for span in attempts} == {
        (chat.trace_id, chat.span_id)
    }
    assert chat.status_code == "ERROR"


def test_other_aws_services_are_not_model_calls(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=fake_bedrock.base_url, region_name="us-east-1")
    with pytest.raises(ClientError):
        s3.list_buckets()
    agent.spans(1, name="GET")
    assert {span.name for span in agent.receiver.spans} == {"GET"}


@has_apply_guardrail
def test_other_bedrock_runtime_operations_are_not_model_calls(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    with pytest.raises(ClientError):
        client(fake_bedrock).apply_guardrail(
            guardrailIdentifier="g", guardrailVersion="1", source="INPUT", content=[]
        )
    agent.spans(1, name="POST")
    assert {span.name for span in agent.receiver.spans} == {"POST"}


# --- converse_stream -------------------------------------------------------------------------


def test_converse_stream_records_the_usage_the_metadata_event_reports(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    response = client(fake_bedrock).converse_stream(modelId=CLAUDE, messages=MESSAGES)
    stream = response["stream"]
    events = list(stream)
    span = genai_span(agent, SPAN)
    assert isinstance(stream, EventStream)
    assert list(events[0]) == ["messageStart"] and list(events[-1]) == ["metadata"]
    assert_complete_stream(span)
    assert span.attributes["aws.request_id"] == fake.REQUEST_ID
    assert len(fake_bedrock.requests) == 1


def test_converse_stream_left_early_and_closed_ends_its_span_once(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    stream = client(fake_bedrock).converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"]
    for event in stream:
        if "contentBlockDelta" in event:
            break
    stream.close()
    span = genai_span(agent, SPAN)
    assert span.status_code == "UNSET"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)  # no messageStop
    assert "gen_ai.usage.input_tokens" not in span.attributes  # metadata never read


def test_converse_stream_resumed_after_a_break_sees_every_event_once(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    stream = client(fake_bedrock).converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"]
    first = []
    for event in stream:
        first.append(event)
        break
    rest = list(stream)
    assert len(first) + len(rest) == 7
    assert_complete_stream(genai_span(agent, SPAN))


def test_converse_stream_dropped_unfinished_ends_its_span_when_collected(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    response = client(fake_bedrock).converse_stream(modelId=CLAUDE, messages=MESSAGES)
    next(iter(response["stream"]))
    del response
    gc.collect()
    span = genai_span(agent, SPAN)
    assert span.attributes["gen_ai.request.stream"] is True


def test_an_exception_event_mid_stream_raises_the_sdk_error_and_ends_the_span_with_it(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    stream = client(fake_bedrock, "stream_error").converse_stream(
        modelId=CLAUDE, messages=MESSAGES
    )["stream"]
    received = []
    with pytest.raises(EventStreamError) as raised:
        for event in stream:
            received.append(event)
    assert len(received) == 2
    assert raised.value.response["Error"]["Code"] == "modelStreamErrorException"
    span = genai_span(agent, SPAN)
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "botocore.exceptions.EventStreamError"


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"), [(400, "ValidationException"), (429, "ThrottlingException")]
)
def test_an_error_status_raises_the_sdk_exception_unchanged_and_ends_the_span(
    agent: InProcessAgent, fake_bedrock: FakeBedrock, status: int, code: str
) -> None:
    bedrock = client(fake_bedrock, f"status_{status}")
    with pytest.raises(getattr(bedrock.exceptions, code)) as raised:
        bedrock.converse(modelId=CLAUDE, messages=MESSAGES)
    error = raised.value
    assert error.response["Error"]["Code"] == code
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == status
    span = genai_span(agent, SPAN)
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == f"botocore.errorfactory.{code}"
    ((event, attributes),) = span.events
    assert event == "exception"
    assert attributes["exception.message"] == str(error)


def test_a_parameter_validation_error_is_raised_before_sending_and_recorded(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    from botocore.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        client(fake_bedrock).converse(modelId=CLAUDE, messages="not a list")
    span = genai_span(agent, SPAN)
    assert span.attributes["error.type"] == "botocore.exceptions.ParamValidationError"
    assert fake_bedrock.requests == []


# --- content ---------------------------------------------------------------------------------


def test_content_is_not_captured_by_default(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    client(fake_bedrock).converse(
        modelId=CLAUDE, messages=MESSAGES, system=[{"text": "Be brief."}], toolConfig=TOOLS
    )
    span = genai_span(agent, SPAN)
    assert not [key for key in span.attributes if "messages" in key or "instructions" in key]
    assert PROMPT.encode() not in agent.receiver.all_bytes()


@has_cache_points
def test_captured_content_follows_the_spec_schemas(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"text": PROMPT},
                {"image": {"format": "png", "source": {"bytes": b"\x89PNG-secret-pixels"}}},
                {"cachePoint": {"type": "default"}},
            ],
        }
    ]
    with agent.configured(capture_content=True):
        client(fake_bedrock).converse(
            modelId=CLAUDE,
            messages=messages,
            system=[{"text": "Be brief."}],
            toolConfig=TOOLS,
        )
    span = genai_span(agent, SPAN)
    assert content(span, "gen_ai.input.messages") == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": PROMPT},
                {"type": "image", "format": "png"},
            ],
        }
    ]
    assert content(span, "gen_ai.system_instructions") == [{"type": "text", "content": "Be brief."}]
    assert content(span, "gen_ai.tool.definitions") == [
        {"type": "function", "name": fake.TOOL_NAME, "description": "Current weather of a city"}
    ]
    assert content(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": fake.TEXT}],
            "finish_reason": "end_turn",
        }
    ]
    assert b"secret-pixels" not in agent.receiver.all_bytes()


def test_a_tool_use_round_trip_records_tool_calls_and_their_results(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    history = [
        *MESSAGES,
        {
            "role": "assistant",
            "content": [
                {
                    "toolUse": {
                        "toolUseId": fake.TOOL_ID,
                        "name": fake.TOOL_NAME,
                        "input": fake.TOOL_INPUT,
                    }
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": fake.TOOL_ID, "content": [{"text": "18°C, sunny"}]}}
            ],
        },
    ]
    with agent.configured(capture_content=True):
        client(fake_bedrock, "tool_use").converse(
            modelId=CLAUDE, messages=history, toolConfig=TOOLS
        )
    span = genai_span(agent, SPAN)
    inputs = content(span, "gen_ai.input.messages")
    assert inputs[1]["parts"] == [
        {
            "type": "tool_call",
            "id": fake.TOOL_ID,
            "name": fake.TOOL_NAME,
            "arguments": fake.TOOL_INPUT,
        }
    ]
    assert inputs[2]["parts"] == [
        {"type": "tool_call_response", "id": fake.TOOL_ID, "response": "18°C, sunny"}
    ]
    (output,) = content(span, "gen_ai.output.messages")
    assert output["finish_reason"] == "tool_use"
    assert output["parts"][1] == {
        "type": "tool_call",
        "id": fake.TOOL_ID,
        "name": fake.TOOL_NAME,
        "arguments": fake.TOOL_INPUT,
    }
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_use",)


def test_a_streamed_tool_call_is_rebuilt_from_its_json_deltas(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    with agent.configured(capture_content=True):
        stream = client(fake_bedrock, "tool_use").converse_stream(
            modelId=CLAUDE, messages=MESSAGES, toolConfig=TOOLS
        )["stream"]
        for _ in stream:
            pass
    (output,) = content(genai_span(agent, SPAN), "gen_ai.output.messages")
    assert output == {
        "role": "assistant",
        "parts": [
            {"type": "text", "content": fake.TEXT},
            {
                "type": "tool_call",
                "id": fake.TOOL_ID,
                "name": fake.TOOL_NAME,
                "arguments": fake.TOOL_INPUT,
            },
        ],
        "finish_reason": "tool_use",
    }


@has_reasoning
@pytest.mark.parametrize("streamed", [False, True])
def test_reasoning_content_becomes_a_reasoning_part(
    agent: InProcessAgent, fake_bedrock: FakeBedrock, streamed: bool
) -> None:
    bedrock = client(fake_bedrock, "reasoning")
    with agent.configured(capture_content=True):
        if streamed:
            list(bedrock.converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"])
        else:
            bedrock.converse(modelId=CLAUDE, messages=MESSAGES)
    (output,) = content(genai_span(agent, SPAN), "gen_ai.output.messages")
    assert output["parts"] == [
        {"type": "reasoning", "content": fake.REASONING},
        {"type": "text", "content": fake.TEXT},
    ]


def test_captured_text_is_clipped_to_the_configured_length(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    with agent.configured(capture_content=True, content_max_length=5):
        client(fake_bedrock).converse(modelId=CLAUDE, messages=MESSAGES)
    span = genai_span(agent, SPAN)
    (message,) = content(span, "gen_ai.input.messages")
    assert message["parts"][0]["content"] == PROMPT[:5] + "…[truncated]"


# --- secrets, metrics, zero-code -------------------------------------------------------------


def test_no_credential_or_signature_is_exported(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    with agent.configured(capture_content=True):
        client(fake_bedrock).converse(modelId=CLAUDE, messages=MESSAGES)
        list(client(fake_bedrock).converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"])
    agent.spans(2, name=SPAN)
    signatures = [
        request.headers["authorization"].rsplit("Signature=", 1)[1]
        for request in fake_bedrock.requests
    ]
    exported = agent.receiver.all_bytes()
    for secret in (ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN, *signatures, "AWS4-HMAC"):
        assert secret.encode() not in exported


def test_token_usage_and_duration_metrics_are_recorded(
    agent: InProcessAgent, fake_bedrock: FakeBedrock
) -> None:
    model = "anthropic.claude-metrics-test-v1:0"  # a model no other test uses
    client(fake_bedrock).converse(modelId=model, messages=MESSAGES)
    agent.flush()
    tokens = {
        point.attributes["gen_ai.token.type"]: point
        for point in agent.receiver.points("gen_ai.client.token.usage")
        if point.attributes.get("gen_ai.request.model") == model
    }
    assert (tokens["input"].count, tokens["input"].sum) == (1, INPUT_TOKENS)
    assert (tokens["output"].count, tokens["output"].sum) == (1, fake.USAGE["outputTokens"])
    assert tokens["input"].attributes["gen_ai.provider.name"] == "aws.bedrock"


def test_the_launcher_traces_an_unmodified_app(
    receiver: OTLPReceiver, fake_bedrock: FakeBedrock
) -> None:
    app = textwrap.dedent(
        f"""
        import boto3
        bedrock = boto3.client("bedrock-runtime", endpoint_url={fake_bedrock.base_url!r},
                               region_name="us-east-1")
        bedrock.converse(modelId={CLAUDE!r}, messages={MESSAGES!r})
        for event in bedrock.converse_stream(modelId={CLAUDE!r}, messages={MESSAGES!r})["stream"]:
            pass
        """
    )
    result = run_traced(["-c", app], receiver, env=AWS_ENV)
    assert result.returncode == 0, result.stderr
    spans = receiver.wait_for_spans(2, where=lambda span: span.name == SPAN)
    assert [span.attributes.get("gen_ai.request.stream", False) for span in spans] == [False, True]
    assert all(span.attributes["gen_ai.usage.input_tokens"] == INPUT_TOKENS for span in spans)


AWS_ENV = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def test_a_client_created_before_the_agent_started_is_traced(
    receiver: OTLPReceiver, fake_bedrock: FakeBedrock
) -> None:
    app = textwrap.dedent(
        f"""
        import boto3
        bedrock = boto3.client("bedrock-runtime", endpoint_url={fake_bedrock.base_url!r},
                               region_name="us-east-1")
        import llmtrace_agent
        llmtrace_agent.start(exporters="otlp", otlp_endpoint={receiver.endpoint!r})
        bedrock.converse(modelId={CLAUDE!r}, messages={MESSAGES!r})
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", app], env=clean_env(AWS_ENV), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert receiver.span(SPAN).attributes["gen_ai.usage.input_tokens"] == INPUT_TOKENS


def test_with_this_instrumentor_disabled_only_the_http_span_remains(
    receiver: OTLPReceiver, fake_bedrock: FakeBedrock
) -> None:
    app = textwrap.dedent(
        f"""
        import boto3
        bedrock = boto3.client("bedrock-runtime", endpoint_url={fake_bedrock.base_url!r},
                               region_name="us-east-1")
        bedrock.converse(modelId={CLAUDE!r}, messages={MESSAGES!r})
        """
    )
    env = {**AWS_ENV, "LLMTRACE_DISABLED_INSTRUMENTORS": "bedrock"}
    result = run_traced(["-c", app], receiver, env=env)
    assert result.returncode == 0, result.stderr
    assert receiver.span("POST").attributes["http.response.status_code"] == 200
    assert [span.name for span in receiver.spans] == ["POST"]
