"""google-genai ``generate_content`` (Gemini API and Vertex AI, sync and async, chats): the real
SDK over loopback HTTP to a fake Gemini API; what the OTLP receiver got is what is asserted."""

from __future__ import annotations

import asyncio
from typing import Any

import genai_prices
import pytest
from google import genai
from google.genai import errors, types

from tests.support import fake_gemini as fake
from tests.support.agent import InProcessAgent
from tests.support.fake_gemini import FakeGemini
from tests.support.http_server import traceparent_ids
from tests.support.otlp_receiver import ReceivedSpan

MODEL = "gemini-2.5-flash"
SPAN = f"generate_content {MODEL}"
API_KEY = "AIzaSyFake-secret-key-0123456789"
# promptTokenCount already includes the cached tokens; thinking tokens count as output.
INPUT_TOKENS = fake.USAGE["promptTokenCount"]
OUTPUT_TOKENS = fake.USAGE["candidatesTokenCount"]
# Whether google-genai's async client sends through aiohttp (when installed; older SDKs: httpx).
ASYNC_USES_AIOHTTP = getattr(genai._api_client, "has_aiohttp", False)


def client(server: FakeGemini, scenario: str = "text", vertexai: bool = False) -> genai.Client:
    """A client of the fake; kept alive for the session, since a ``genai.Client`` closes its
    HTTP clients when collected, which ``client(...).models.generate_content(...)`` allows
    before the request is sent."""
    options = types.HttpOptions(base_url=server.base_url, headers={fake.SCENARIO_HEADER: scenario})
    made = genai.Client(vertexai=vertexai, api_key=API_KEY, http_options=options)
    _clients.append(made)
    return made


_clients: list[genai.Client] = []


def genai_spans(agent: InProcessAgent, count: int = 1, name: str = SPAN) -> list[ReceivedSpan]:
    """The GenAI spans this test produced: exactly ``count`` (a span ended twice or a second
    model-call span for one request fails)."""
    agent.spans(count, name=name)
    spans = [s for s in agent.receiver.spans if "gen_ai.operation.name" in s.attributes]
    assert len(spans) == count, [(s.name, s.scope) for s in spans]
    return spans


def genai_span(agent: InProcessAgent, name: str = SPAN) -> ReceivedSpan:
    return genai_spans(agent, 1, name)[0]


def expected_cost(input_tokens: int, output_tokens: int, cached: int) -> float:
    price = genai_prices.calc_price(
        genai_prices.Usage(
            input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached
        ),
        model_ref=MODEL,
        provider_id="google",
    )
    return float(price.total_price)


def test_generate_content_records_a_client_span_with_request_and_response_attributes(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    response = client(fake_gemini).models.generate_content(model=MODEL, contents="Hi there")
    span = genai_span(agent)
    assert isinstance(response, types.GenerateContentResponse)
    assert response.text == fake.TEXT
    assert span.kind == "CLIENT"
    assert span.scope == "llmtrace_agent.google_genai"
    assert span.status_code == "UNSET"
    # responseId is read since google-genai 1.x added it; the oldest releases drop it.
    response_id = getattr(response, "response_id", None)
    assert span.attributes.pop("gen_ai.response.id", None) == response_id
    assert span.attributes == {
        "gen_ai.operation.name": "generate_content",
        "gen_ai.provider.name": "gcp.gemini",
        "gen_ai.request.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": fake_gemini.port,
        "gen_ai.response.model": MODEL,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": INPUT_TOKENS,
        "gen_ai.usage.output_tokens": OUTPUT_TOKENS,
        "gen_ai.usage.cache_read.input_tokens": fake.USAGE["cachedContentTokenCount"],
        "gen_ai.usage.cost": pytest.approx(
            expected_cost(INPUT_TOKENS, OUTPUT_TOKENS, fake.USAGE["cachedContentTokenCount"])
        ),
    }
    assert len(fake_gemini.requests) == 1


def test_config_parameters_become_request_attributes(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    config = types.GenerateContentConfig(
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        max_output_tokens=256,
        stop_sequences=["END"],
        seed=7,
        candidate_count=2,
        presence_penalty=0.5,
        frequency_penalty=0.25,
        response_mime_type="application/json",
    )
    client(fake_gemini).models.generate_content(model=MODEL, contents="Hi", config=config)
    attributes = genai_span(agent).attributes
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.request.top_p"] == 0.9
    assert attributes["gen_ai.request.top_k"] == 40.0
    assert attributes["gen_ai.request.max_tokens"] == 256
    assert attributes["gen_ai.request.stop_sequences"] == ("END",)
    assert attributes["gen_ai.request.seed"] == 7
    assert attributes["gen_ai.request.choice.count"] == 2
    assert attributes["gen_ai.request.presence_penalty"] == 0.5
    assert attributes["gen_ai.request.frequency_penalty"] == 0.25
    assert attributes["gen_ai.output.type"] == "json"


def test_a_config_given_as_a_dict_is_read_the_same(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    config = {"temperature": 0.7, "max_output_tokens": 64, "response_schema": {"type": "OBJECT"}}
    client(fake_gemini).models.generate_content(model=MODEL, contents="Hi", config=config)
    attributes = genai_span(agent).attributes
    assert attributes["gen_ai.request.temperature"] == 0.7
    assert attributes["gen_ai.request.max_tokens"] == 64
    assert attributes["gen_ai.output.type"] == "json"


def test_a_models_prefixed_name_is_recorded_as_the_model_id(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    client(fake_gemini).models.generate_content(model=f"models/{MODEL}", contents="Hi")
    assert genai_span(agent).attributes["gen_ai.request.model"] == MODEL


def test_vertex_ai_backend_is_its_own_provider(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    response = client(fake_gemini, vertexai=True).models.generate_content(
        model=MODEL, contents="Hi"
    )
    span = genai_span(agent)
    assert response.text == fake.TEXT
    assert span.attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert span.attributes["gen_ai.usage.cost"] > 0
    assert "/publishers/google/models/" in fake_gemini.only_request().path


def test_thinking_tokens_count_as_output_and_as_reasoning(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    client(fake_gemini, "thinking").models.generate_content(model=MODEL, contents="Hi")
    attributes = genai_span(agent).attributes
    assert attributes["gen_ai.usage.output_tokens"] == OUTPUT_TOKENS + fake.THOUGHTS_TOKENS
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == fake.THOUGHTS_TOKENS


def test_the_sdk_request_is_a_child_http_span_whose_id_the_server_receives(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    with agent.configured(http_under_llm="always"):
        client(fake_gemini).models.generate_content(model=MODEL, contents="Hi")
    (http,) = agent.spans(1, name="POST")
    span = genai_span(agent)
    received = fake_gemini.only_request().headers["traceparent"]
    assert traceparent_ids(received) == (http.trace_id, http.span_id)
    assert (http.trace_id, http.parent_span_id) == (span.trace_id, span.span_id)


def test_the_api_key_is_never_exported(agent: InProcessAgent, fake_gemini: FakeGemini) -> None:
    with agent.configured(capture_content=True):
        client(fake_gemini).models.generate_content(model=MODEL, contents="Hi")
    genai_span(agent)
    assert fake_gemini.only_request().headers["x-goog-api-key"] == API_KEY
    assert API_KEY.encode() not in agent.receiver.all_bytes()


def test_content_is_not_recorded_by_default(agent: InProcessAgent, fake_gemini: FakeGemini) -> None:
    client(fake_gemini).models.generate_content(model=MODEL, contents="secret prompt")
    attributes = genai_span(agent).attributes
    assert not any(key.endswith(("messages", "instructions")) for key in attributes)
    assert b"secret prompt" not in agent.receiver.all_bytes()


# --- errors --------------------------------------------------------------------------------------


def test_an_api_error_makes_the_span_an_error_with_the_http_status(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    with pytest.raises(errors.ClientError) as raised:
        client(fake_gemini, "status_429").models.generate_content(model=MODEL, contents="Hi")
    span = genai_span(agent)
    assert type(raised.value) is errors.ClientError
    assert raised.value.code == 429
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "429"
    assert span.events[0][0] == "exception"
    assert len(fake_gemini.requests) == 1


def test_a_server_error_is_recorded_by_its_status_and_reaches_the_app_unchanged(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    options = types.HttpOptions(
        base_url=fake_gemini.base_url, headers={fake.SCENARIO_HEADER: "status_503"}
    )
    sdk = genai.Client(api_key=API_KEY, http_options=options)
    with pytest.raises(errors.ServerError) as raised:
        sdk.models.generate_content(model=MODEL, contents="Hi")
    assert raised.value.status == "UNAVAILABLE"
    assert genai_span(agent).attributes["error.type"] == "503"


# --- async -------------------------------------------------------------------------------------


def test_async_generate_content_gives_one_span_with_one_http_child(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    async def main() -> Any:
        return await client(fake_gemini).aio.models.generate_content(model=MODEL, contents="Hi")

    with agent.configured(http_under_llm="always"):
        response = asyncio.run(main())
    span = genai_span(agent)
    assert response.text == fake.TEXT
    assert span.attributes.get("gen_ai.response.id") == getattr(response, "response_id", None)
    assert span.attributes["gen_ai.usage.output_tokens"] == OUTPUT_TOKENS
    http = [s for s in agent.spans(1, name="POST") if s.name == "POST"]
    assert len(http) == 1
    if ASYNC_USES_AIOHTTP:
        assert http[0].scope == "llmtrace_agent.aiohttp"
    assert (http[0].trace_id, http[0].parent_span_id) == (span.trace_id, span.span_id)
    received = fake_gemini.only_request().headers["traceparent"]
    assert traceparent_ids(received) == (http[0].trace_id, http[0].span_id)


def test_async_api_error_is_recorded_and_raised(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    async def main() -> None:
        await client(fake_gemini, "status_400").aio.models.generate_content(
            model=MODEL, contents="Hi"
        )

    with pytest.raises(errors.ClientError):
        asyncio.run(main())
    span = genai_span(agent)
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "400"


# --- chats ---------------------------------------------------------------------------------------


def test_each_chat_message_is_one_generate_content_span(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    chat = client(fake_gemini).chats.create(model=MODEL)
    chat.send_message("Hello")
    chat.send_message("And again")
    spans = genai_spans(agent, 2)
    assert [s.attributes["gen_ai.operation.name"] for s in spans] == ["generate_content"] * 2
    assert len(fake_gemini.requests) == 2
    assert len(fake_gemini.requests[1].body["contents"]) == 3  # the history went along


def test_async_chat_message_is_one_span(agent: InProcessAgent, fake_gemini: FakeGemini) -> None:
    async def main() -> str | None:
        chat = client(fake_gemini).aio.chats.create(model=MODEL)
        return (await chat.send_message("Hello")).text

    assert asyncio.run(main()) == fake.TEXT
    assert genai_span(agent).attributes["gen_ai.usage.input_tokens"] == INPUT_TOKENS


# --- automatic function calling ----------------------------------------------------------------


def get_weather(city):  # type: ignore[no-untyped-def]
    """Today's weather in a city."""
    return f"Sunny in {city}"


# Real annotations, not this module's postponed (string) ones, which older SDKs cannot read.
get_weather.__annotations__ = {"city": str, "return": str}


def test_automatic_function_calling_gives_one_span_per_model_request(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    config = types.GenerateContentConfig(
        tools=[get_weather],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(maximum_remote_calls=2),
    )
    client(fake_gemini, "tool_call").models.generate_content(
        model=MODEL, contents="Weather in Paris?", config=config
    )
    spans = genai_spans(agent, len(fake_gemini.requests))
    assert len(spans) >= 2
    assert all(s.attributes["gen_ai.usage.input_tokens"] == INPUT_TOKENS for s in spans)


def test_without_http_spans_under_llm_calls_the_server_gets_the_model_call_span(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    async def main() -> None:
        await client(fake_gemini).aio.models.generate_content(model=MODEL, contents="Hi")

    with agent.configured(http_under_llm="never"):
        asyncio.run(main())
    span = genai_span(agent)
    assert [s.name for s in agent.receiver.spans] == [SPAN]
    received = fake_gemini.only_request().headers["traceparent"]
    assert traceparent_ids(received) == (span.trace_id, span.span_id)


def test_token_usage_and_duration_metrics_are_exported(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    model = "gemini-metrics-test"
    client(fake_gemini).models.generate_content(model=model, contents="Hi")
    with pytest.raises(errors.ClientError):
        client(fake_gemini, "status_429").models.generate_content(model=model, contents="Hi")
    agent.flush()

    def ours(metric: str) -> list[Any]:
        points = agent.receiver.points(metric)
        return [p for p in points if p.attributes.get("gen_ai.request.model") == model]

    tokens = {p.attributes["gen_ai.token.type"]: p for p in ours("gen_ai.client.token.usage")}
    assert tokens["input"].sum == INPUT_TOKENS
    assert tokens["output"].sum == OUTPUT_TOKENS
    assert tokens["input"].attributes["gen_ai.provider.name"] == "gcp.gemini"
    assert tokens["input"].attributes["gen_ai.operation.name"] == "generate_content"
    durations = ours("gen_ai.client.operation.duration")
    # A periodic export may land before the flush: cumulative points then arrive twice.
    assert {p.attributes.get("error.type", "") for p in durations} == {"", "429"}
