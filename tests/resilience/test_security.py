"""Secrets never leave the process, and captured content is cut at the configured size.

Each test sends real requests carrying a secret (an API key, a credential header, a password in
the URL) through the real SDKs, then greps every byte the OTLP receiver got, spans and metrics
alike, with content capture off and on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import httpx
import httpx2
import openai
import pytest
import requests
import urllib3

from llmtrace_agent.toolkit.genai.content import TRUNCATION_MARK
from tests.support import fake_openai as fake
from tests.support.agent import InProcessAgent, run_traced
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_openai import FakeOpenAI, Reply, chat_completion, llm_span
from tests.support.http_server import RecordingHTTPServer
from tests.support.otlp_receiver import OTLPReceiver

ANTHROPIC_KEY = "sk-ant-api03-resilience-secret-4242"
HEADER_SECRET = "hdr-secret-0b5e55ed"
PASSWORD = "url-password-5ecre7"
QUERY_SECRET = "query-signature-5ecre7"
CREDENTIAL_HEADERS = ("Authorization", "Proxy-Authorization", "x-api-key", "api-key", "Cookie")
MESSAGES = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(params=[False, True], ids=["capture-off", "capture-on"])
def capture(request: pytest.FixtureRequest, agent: InProcessAgent) -> Iterator[bool]:
    # Every request under a model call gets its HTTP span too: where a leaked header would show.
    with agent.configured(capture_content=request.param, http_under_llm="always"):
        yield request.param


def exported(agent: InProcessAgent, spans: int) -> bytes:
    """Every byte the receiver got once ``spans`` spans arrived (metrics included)."""
    agent.spans(spans)
    return agent.receiver.all_bytes()


def assert_absent(data: bytes, *secrets: str) -> None:
    for secret in secrets:
        assert secret.encode() not in data, f"{secret!r} was exported"


def by_hand(value: str) -> dict[str, str]:
    """Every credential header, set to ``value``."""
    return dict.fromkeys(CREDENTIAL_HEADERS, value)


# --- API keys ----------------------------------------------------------------------------------


def test_openai_key_and_credential_headers_are_never_exported(
    agent: InProcessAgent, fake_openai: FakeOpenAI, capture: bool
) -> None:
    client = fake.client(fake_openai)
    client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, extra_headers=by_hand(HEADER_SECRET)
    )
    for _chunk in client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    ):
        pass
    client.embeddings.create(model="text-embedding-3-small", input="hello")
    assert_absent(exported(agent, 6), fake.API_KEY, HEADER_SECRET)


def test_openai_key_is_never_exported_when_the_call_fails(
    agent: InProcessAgent, fake_openai: FakeOpenAI, capture: bool
) -> None:
    fake_openai.reply(Reply(status=401, body=fake.error_body(401)))
    with pytest.raises(Exception, match="401"):
        fake.client(fake_openai).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert_absent(exported(agent, 2), fake.API_KEY)


def test_azure_api_key_header_is_never_exported(
    agent: InProcessAgent, fake_openai: FakeOpenAI, capture: bool
) -> None:
    fake.azure_client(fake_openai).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert fake_openai.last_request().headers["api-key"] == fake.API_KEY  # it was sent
    assert_absent(exported(agent, 2), fake.API_KEY)


def test_anthropic_api_key_is_never_exported(
    agent: InProcessAgent, fake_anthropic: FakeAnthropic, capture: bool
) -> None:
    client = anthropic.Anthropic(
        base_url=fake_anthropic.base_url,
        api_key=ANTHROPIC_KEY,
        default_headers={"x-api-key": ANTHROPIC_KEY},
    )
    client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=MESSAGES)
    assert fake_anthropic.only_request().headers["x-api-key"] == ANTHROPIC_KEY  # it was sent
    assert_absent(exported(agent, 2), ANTHROPIC_KEY)


def test_api_key_in_the_environment_is_never_exported(
    receiver: OTLPReceiver, fake_openai: FakeOpenAI
) -> None:
    app = (
        "import openai\n"
        f"client = openai.OpenAI(base_url={fake_openai.base_url!r}, max_retries=0)\n"
        "client.chat.completions.create(model='gpt-4o-mini', "
        "messages=[{'role': 'user', 'content': 'hi'}])\n"
    )
    done = run_traced(
        ["-c", app],
        receiver,
        env={
            "OPENAI_API_KEY": fake.API_KEY,
            "LLMTRACE_CAPTURE_CONTENT": "true",
            "LLMTRACE_DEBUG": "true",
        },
    )
    assert done.returncode == 0, done.stderr
    receiver.wait_for_spans(2)
    assert_absent(receiver.all_bytes(), fake.API_KEY)
    assert fake.API_KEY not in done.stderr  # nor printed by the debug output


# --- HTTP credentials ----------------------------------------------------------------------------


def test_credential_headers_sent_by_hand_are_never_exported(
    agent: InProcessAgent, http_server: RecordingHTTPServer, capture: bool
) -> None:
    headers = by_hand(HEADER_SECRET)
    requests.get(http_server.url("/"), headers=headers)
    httpx.get(http_server.url("/"), headers=headers)
    httpx2.get(http_server.url("/"), headers=headers)
    urllib3.request("GET", http_server.url("/"), headers=headers)
    assert len(http_server.requests) == 4
    assert all(r.headers["authorization"] == HEADER_SECRET for r in http_server.requests)
    assert_absent(exported(agent, 4), HEADER_SECRET)


def test_url_credentials_and_signed_query_values_are_never_exported(
    agent: InProcessAgent, http_server: RecordingHTTPServer, capture: bool
) -> None:
    url = f"http://user:{PASSWORD}@127.0.0.1:{http_server.port}/file?sig={QUERY_SECRET}&x=1"
    requests.get(url)
    httpx.get(url)
    httpx2.get(url)
    urllib3.request("GET", f"http://127.0.0.1:{http_server.port}/file?sig={QUERY_SECRET}")
    assert len(http_server.requests) == 4
    data = exported(agent, 4)
    assert_absent(data, PASSWORD, QUERY_SECRET)
    urls = [span.attributes["url.full"] for span in agent.receiver.spans]
    assert all("sig=REDACTED" in url for url in urls), urls


def test_openai_base_url_credentials_are_never_exported(
    agent: InProcessAgent, fake_openai: FakeOpenAI, capture: bool
) -> None:
    base_url = f"http://user:{PASSWORD}@127.0.0.1:{fake_openai.port}/v1"
    client = openai.OpenAI(base_url=base_url, api_key=fake.API_KEY, max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert_absent(exported(agent, 2), PASSWORD, fake.API_KEY)


# --- content size caps ---------------------------------------------------------------------------

LIMIT = 64


@pytest.fixture
def small_captures(agent: InProcessAgent) -> Iterator[None]:
    with agent.configured(capture_content=True, content_max_length=LIMIT, http_under_llm="always"):
        yield


def clipped(text: str) -> str:
    return text[:LIMIT] + TRUNCATION_MARK


def test_captured_prompt_and_completion_are_cut_at_the_configured_length(
    agent: InProcessAgent, fake_openai: FakeOpenAI, small_captures: None
) -> None:
    prompt, answer, system = "p" * 100_000, "a" * 100_000, "s" * 100_000
    fake_openai.reply(Reply(body=chat_completion(content=answer)))
    fake.client(fake_openai).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": system}, {"role": "user", "content": prompt}],
    )
    span = llm_span(agent)
    (inputs,) = json.loads(span.attributes["gen_ai.input.messages"])
    (outputs,) = json.loads(span.attributes["gen_ai.output.messages"])
    (instructions,) = json.loads(span.attributes["gen_ai.system_instructions"])
    assert inputs["parts"][0]["content"] == clipped(prompt)
    assert outputs["parts"][0]["content"] == clipped(answer)
    assert instructions["content"] == clipped(system)
    trace = [s for s in agent.receiver.spans if s.trace_id == span.trace_id]
    assert len(trace) == 2  # the LLM span and its HTTP child: neither carries the 300 KB
    assert all(len(str(value)) < 1_000 for s in trace for value in s.attributes.values())


def test_captured_streamed_completion_is_cut_at_the_configured_length(
    agent: InProcessAgent, fake_openai: FakeOpenAI, small_captures: None
) -> None:
    pieces = ("x" * 1000,) * 50
    fake_openai.reply(Reply(events=fake.chat_chunks(pieces=pieces)))
    stream = fake.client(fake_openai).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "x" * 50_000
    (outputs,) = json.loads(llm_span(agent).attributes["gen_ai.output.messages"])
    assert outputs["parts"][0]["content"] == clipped("x" * 50_000)
