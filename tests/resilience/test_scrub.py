"""Scrubbing: credentials never leave the process, personal data is masked on request.

The secrets ride in whatever the application hands to the libraries: URLs, prompts, tool
arguments, ``observe`` arguments, exception messages, its own OpenTelemetry spans and metrics.
Each test makes the real call and reads what the OTLP receiver (or the file and console
exporters) got: the secret gone, a marker in its place, the rest of the text intact, and the
application's own values unchanged. Property tests drive the scrubber itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from opentelemetry import metrics, trace

from llmtrace_agent import observe
from llmtrace_agent._pipeline.scrub import (
    MAX_SCANNED_CHARS,
    TRUNCATION_MARK,
    Scrubber,
    scrub_text,
)
from llmtrace_agent._runtime.config import Config
from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.http_spans import SENSITIVE_QUERY_PARAMETERS, redact_url
from tests.support import fake_openai as fake
from tests.support.agent import InProcessAgent, clean_env, code, run_traced
from tests.support.fake_openai import FakeOpenAI, Reply, chat_completion, llm_span
from tests.support.http_server import RecordingHTTPServer, refused_url
from tests.support.otlp_receiver import OTLPReceiver

OPENAI_KEY = "sk-proj-Q7xW2mZr9LkP4vTb8NcY3hJd6FgS1aE5uRoI0pVt"
ANTHROPIC_KEY = "sk-ant-api03-Zq8Xw3Lm7Rt2Kp9Vb4Nc6Hd1Fg5Sj0Ae"
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPL3"
GITHUB_TOKEN = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A"
CLIENT_SECRET = "cs-9f8e7d6c5b4a"
PASSWORD = "hunter2-Secret!"
EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"  # a Luhn-valid test card
ORDER_ID = "4111 1111 1111 1112"  # same shape, Luhn-invalid: an order id, kept
PROMPT = (
    f"Why does my key {OPENAI_KEY} fail? AWS says {AWS_KEY_ID} is unknown. "
    f"Reply to {EMAIL}; card {CARD}, order {ORDER_ID}."
)


def assert_scrubbed(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret!r} was exported in {text!r}"
    assert "[REDACTED:" in text or "REDACTED" in text, text


@pytest.fixture
def capture(agent: InProcessAgent) -> Iterator[None]:
    with agent.configured(capture_content=True):
        yield


# --- through the real SDKs, at the OTLP receiver ----------------------------------------------


def test_url_secrets_are_redacted_and_the_rest_of_the_url_kept(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    query = f"client_secret={CLIENT_SECRET}&password={PASSWORD}&Refresh_Token=rt1&page=2"
    response = requests.get(http_server.url(f"/v1/items?{query}"), timeout=5)

    assert response.status_code == 200
    assert CLIENT_SECRET in http_server.only_request().path  # the request itself is untouched
    [span] = agent.spans(1, name="GET")
    full = span.attributes[semconv.URL_FULL]
    assert_scrubbed(full, CLIENT_SECRET, PASSWORD, "rt1")
    # url.full's own redaction (case-sensitive, as the conventions say), then the scrubber's.
    assert full.endswith(
        "/v1/items?client_secret=REDACTED&password=REDACTED"
        "&Refresh_Token=[REDACTED:credential]&page=2"
    )


def test_a_secret_quoted_by_an_exception_is_masked_in_its_event_and_status(
    agent: InProcessAgent,
) -> None:
    url = refused_url(f"/v1/items?token={CLIENT_SECRET}&page=2")
    with pytest.raises(requests.ConnectionError) as raised:
        requests.get(url, timeout=5)

    assert CLIENT_SECRET in str(raised.value)  # the application sees its exception as it was
    [span] = [span for span in agent.spans(1, name="GET") if span.events]
    [(_, event)] = span.events
    assert_scrubbed(event["exception.message"], CLIENT_SECRET)
    assert_scrubbed(event["exception.stacktrace"], CLIENT_SECRET)
    assert "page=2" in event["exception.message"]
    assert CLIENT_SECRET not in span.status_message
    assert CLIENT_SECRET.encode() not in agent.receiver.all_bytes()


def test_a_prompt_keeps_its_text_and_loses_its_keys(
    agent: InProcessAgent, fake_openai: FakeOpenAI, capture: None
) -> None:
    client = fake.client(fake_openai)
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}]
    )

    assert fake_openai.requests[-1].json["messages"][0]["content"] == PROMPT  # sent unchanged
    span = llm_span(agent)
    text = span.attributes[semconv.GEN_AI_INPUT_MESSAGES]
    assert_scrubbed(text, OPENAI_KEY, AWS_KEY_ID)
    assert "[REDACTED:openai-key]" in text and "[REDACTED:aws-access-key]" in text
    assert "Why does my key [REDACTED:openai-key] fail? AWS says" in text
    assert EMAIL in text and CARD in text  # personal data is kept unless asked
    assert OPENAI_KEY.encode() not in agent.receiver.all_bytes()


def test_tool_arguments_lose_their_credentials(
    agent: InProcessAgent, fake_openai: FakeOpenAI, capture: None
) -> None:
    arguments = json.dumps({"user": "jane", "password": PASSWORD, "api_key": ANTHROPIC_KEY})
    body = chat_completion(tool_call=True)
    body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = arguments
    fake_openai.reply(Reply(body=body))
    client = fake.client(fake_openai)

    result = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "log me in"}]
    )

    assert result.choices[0].message.tool_calls[0].function.arguments == arguments
    output = llm_span(agent).attributes[semconv.GEN_AI_OUTPUT_MESSAGES]
    assert_scrubbed(output, PASSWORD, ANTHROPIC_KEY)
    assert "jane" in output


@observe
def sign_in(user: str, password: str, api_key: str) -> str:
    if user == "mallory":
        raise PermissionError(f"rejected key {api_key} for {user}")
    return f"{user} signed in"


def test_observe_arguments_and_exceptions_are_scrubbed(
    agent: InProcessAgent, capture: None
) -> None:
    assert sign_in("jane", PASSWORD, ANTHROPIC_KEY) == "jane signed in"
    with pytest.raises(PermissionError, match=ANTHROPIC_KEY):
        sign_in("mallory", PASSWORD, ANTHROPIC_KEY)

    spans = agent.spans(2)
    for span in spans:
        assert_scrubbed(span.attributes[semconv.INPUT_VALUE], PASSWORD, ANTHROPIC_KEY)
    [failed] = [span for span in spans if span.events]
    [(_, event)] = failed.events
    assert event["exception.message"] == "rejected key [REDACTED:anthropic-key] for mallory"
    assert ANTHROPIC_KEY not in failed.status_message
    assert ANTHROPIC_KEY.encode() not in agent.receiver.all_bytes()


def test_the_apps_own_spans_and_metrics_are_scrubbed(agent: InProcessAgent) -> None:
    tracer = trace.get_tracer("the-app")
    with tracer.start_as_current_span(
        f"GET /callback?token={CLIENT_SECRET}",
        attributes={"app.password": PASSWORD, "app.note": f"key {GITHUB_TOKEN} rotated"},
    ) as span:
        span.add_event("login", {"db.url": f"postgres://app:{PASSWORD}@db:5432/app"})
    counter = metrics.get_meter("the-app").create_counter("app.logins")
    counter.add(1, {"app.session_token": CLIENT_SECRET, "app.region": "eu"})

    [received] = agent.spans(1, scope="the-app")
    assert received.name == "GET /callback?token=[REDACTED:credential]"
    assert received.attributes["app.password"] == "[REDACTED:credential]"
    assert received.attributes["app.note"] == "key [REDACTED:github-token] rotated"
    [(_, event)] = received.events
    assert event["db.url"] == "postgres://[REDACTED:url-credentials]@db:5432/app"
    [point] = agent.receiver.points("app.logins")
    assert point.attributes == {"app.session_token": "[REDACTED:credential]", "app.region": "eu"}
    data = agent.receiver.all_bytes()
    for secret in (CLIENT_SECRET, PASSWORD, GITHUB_TOKEN):
        assert secret.encode() not in data


# --- configuration, through llmtrace-run ------------------------------------------------------

APP = f"""
    from opentelemetry import trace
    with trace.get_tracer("the-app").start_as_current_span("checkout") as span:
        span.set_attribute("app.prompt", {PROMPT!r} + " customer C-12345, ticket T-777")
    print("app output unchanged")
"""


def run_app(receiver: OTLPReceiver, tmp_path: Path, **env: str) -> tuple[str, dict]:
    """Run ``APP`` traced to ``receiver``; its stdout/stderr and the span it exported."""
    result = run_traced(code(APP), receiver, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "app output unchanged\n"
    return result.stderr, receiver.span("checkout").attributes


def test_personal_data_is_masked_when_asked(receiver: OTLPReceiver, tmp_path: Path) -> None:
    _, attributes = run_app(receiver, tmp_path, LLMTRACE_SCRUB_PII="true")

    prompt = attributes["app.prompt"]
    assert_scrubbed(prompt, OPENAI_KEY, EMAIL, CARD)
    assert "[REDACTED:email]" in prompt and "[REDACTED:card]" in prompt
    assert ORDER_ID in prompt  # not a card number: the Luhn check fails


def test_custom_patterns_and_callback_apply(receiver: OTLPReceiver, tmp_path: Path) -> None:
    (tmp_path / "masking.py").write_text(
        "def mask(key, value):\n"
        "    return value.replace('T-777', 'T-***') if key == 'app.prompt' else None\n"
    )
    stderr, attributes = run_app(
        receiver,
        tmp_path,
        LLMTRACE_SCRUB_PATTERNS=r"customer (C-\d+),([unclosed",
        LLMTRACE_SCRUB_CALLBACK="masking:mask",
    )

    assert "LLMTRACE_SCRUB_PATTERNS" in stderr  # the bad pattern: a warning, not a crash
    prompt = attributes["app.prompt"]
    assert "customer [REDACTED:custom], ticket T-***" in prompt
    assert "[REDACTED:openai-key]" in prompt


def test_start_takes_a_callback(receiver: OTLPReceiver, tmp_path: Path) -> None:
    source = f"""
        import llmtrace_agent
        llmtrace_agent.start(scrub=lambda key, value: value.replace("jane", "J."))
        from opentelemetry import trace
        with trace.get_tracer("the-app").start_as_current_span("checkout") as span:
            span.set_attribute("app.user", "jane, key {OPENAI_KEY}")
    """
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    result = subprocess.run(
        [sys.executable, *code(source)], env=clean_env(env), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert receiver.span("checkout").attributes["app.user"] == "J., key [REDACTED:openai-key]"


def test_scrubbing_can_be_turned_off_with_one_warning(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    stderr, attributes = run_app(receiver, tmp_path, LLMTRACE_SCRUB="false")

    assert stderr.count("scrubbing is off") == 1
    assert OPENAI_KEY in attributes["app.prompt"]


def test_file_and_console_exporters_get_scrubbed_spans(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    source = f"""
        import requests
        from opentelemetry import trace
        with trace.get_tracer("the-app").start_as_current_span("key {OPENAI_KEY}") as span:
            span.set_attribute("app.prompt", {PROMPT!r})
        try:
            requests.get({refused_url(f"/x?password={PASSWORD}")!r}, timeout=5)
        except requests.ConnectionError:
            print("app output unchanged")
    """
    env = {
        "LLMTRACE_EXPORTER": "file,console",
        "LLMTRACE_FILE": str(path),
        "OTEL_RESOURCE_ATTRIBUTES": f"deployment.api_key={CLIENT_SECRET},team=search",
    }
    result = run_traced(code(source), env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "app output unchanged\n"
    exported = path.read_text()
    assert_scrubbed(exported, OPENAI_KEY, AWS_KEY_ID, PASSWORD, CLIENT_SECRET)
    assert "Why does my key [REDACTED:openai-key] fail?" in exported
    assert '"stringValue":"search"' in exported  # the rest of the resource is kept
    assert_scrubbed(result.stderr, OPENAI_KEY, PASSWORD)
    assert "key [REDACTED:openai-key]" in result.stderr  # the console tree's span name


# --- the scrubber itself ----------------------------------------------------------------------


def test_url_full_and_the_scrubber_agree_on_sensitive_query_parameters() -> None:
    for name in SENSITIVE_QUERY_PARAMETERS:
        url = f"https://example.com/p?{name}=s3cr3t-value&page=2"
        assert "s3cr3t-value" not in redact_url(url), name
        assert "s3cr3t-value" not in scrub_text(url), name
        assert scrub_text(redact_url(url)) == redact_url(url), name  # nothing left to do


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the author wrote it", "the author wrote it"),
        ("max_tokens=100, token_count=5", "max_tokens=100, token_count=5"),
        ("sk-learn-compatible-estimators", "sk-learn-compatible-estimators"),
        ("Bearer authentication is used", "Bearer authentication is used"),
        ("https://shop.example.com/items?code=FR", "https://shop.example.com/items?code=FR"),
        (
            "https://app.example.com/oauth/callback?code=c0de&state=xyz",
            "https://app.example.com/oauth/callback?code=[REDACTED:credential]&state=xyz",
        ),
        ("Authorization: Bearer abc.def-123456", "Authorization: Bearer [REDACTED:bearer]"),
        (
            '{"password": "pw 1", "user": "bob"}',
            '{"password": "[REDACTED:credential]", "user": "bob"}',
        ),
        ("f(password=pw1, page=2)", "f(password=[REDACTED:credential], page=2)"),
        (
            '{"args": "{\\"api_key\\": \\"abc123\\"}"}',
            '{"args": "{\\"api_key\\": \\"[REDACTED:credential]\\"}"}',
        ),
    ],
)
def test_only_the_secret_part_is_masked(text: str, expected: str) -> None:
    assert scrub_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call +44 20 7946 0958 today", "call [REDACTED:phone] today"),
        ("call (555) 123-4567", "call [REDACTED:phone]"),
        ("on 2024-01-15 at 12:30", "on 2024-01-15 at 12:30"),
        ("IBAN GB82 WEST 1234 5698 7654 32.", "IBAN [REDACTED:iban]."),
        ("SSN 123-45-6789", "SSN [REDACTED:national-id]"),
        ("NINO AB 12 34 56 C", "NINO [REDACTED:national-id]"),
        ("version 1.2.3, order 123456789012", "version 1.2.3, order 123456789012"),
    ],
)
def test_personal_data_formats(text: str, expected: str) -> None:
    assert scrub_text(text, pii=True) == expected
    assert scrub_text(text) == text


def test_a_bad_pattern_costs_only_itself_and_a_callback_needs_module_and_function() -> None:
    config = Config.from_env(
        {"LLMTRACE_SCRUB_PATTERNS": r"order-\d+,([unclosed", "LLMTRACE_SCRUB_CALLBACK": "nocolon"}
    )
    assert config.scrub_patterns == (r"order-\d+",)
    assert config.scrub_callback is None
    assert len(config.warnings) == 2
    assert "LLMTRACE_SCRUB_PATTERNS" in config.warnings[0]
    assert "LLMTRACE_SCRUB_CALLBACK" in config.warnings[1]


def test_attribute_keys_that_name_credentials_mask_the_whole_value() -> None:
    scrubber = Scrubber()
    assert scrubber.value("http.request.header.authorization", "x") == "[REDACTED:credential]"
    assert scrubber.value("app.cookie", ("a", "b")) == ("[REDACTED:credential]",) * 2
    assert scrubber.value("session.id", "s-1") == "s-1"  # an identifier, not a credential
    assert scrubber.value("mcp.session.id", "4f2a") == "4f2a"
    assert scrubber.value("anthropic.organization.api_key.id", "apikey_1") == "apikey_1"
    assert scrubber.value("app.session_id", "s-1") == "[REDACTED:credential]"
    assert scrubber.value("gen_ai.token.type", "input") == "input"
    assert scrubber.value("gen_ai.token.modality", "text") == "text"
    assert scrubber.value("gen_ai.usage.input_tokens", 12) == 12
    attributes = {"gen_ai.request.model": "gpt-4o"}
    assert scrubber.attributes(attributes) is None  # nothing changed: no copy


def test_a_failing_callback_fails_closed() -> None:
    def broken(key: str, value: str) -> str:
        raise RuntimeError("bug")

    assert Scrubber(callback=broken).text("hello") == "[REDACTED:scrub-error]"


@pytest.mark.parametrize(
    "unit",
    ["a", "a.", "-", "-----BEGIN PRIVATE KEY-----", "eyJabcdefgh.", "sk-", "1 ", "a@", "password=",
     '"password', "?key=", "http://", "aB3/", "token", "+1 "],
)  # fmt: skip
def test_a_pathological_megabyte_is_scrubbed_in_bounded_time(unit: str) -> None:
    text = unit * (1_000_000 // len(unit))
    started = time.process_time()
    scrubbed = Scrubber(pii=True).text(text)
    assert time.process_time() - started < 5.0
    assert len(scrubbed) <= MAX_SCANNED_CHARS + len(TRUNCATION_MARK)
    if len(text) > MAX_SCANNED_CHARS:
        assert scrubbed.endswith(TRUNCATION_MARK)


# --- properties -------------------------------------------------------------------------------

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
B64URL = ALNUM + "_-"


def _chars(alphabet: str, size: int, max_size: int | None = None) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=size, max_size=max_size or size)


def _mixed(text: str) -> bool:
    return any(char.isupper() for char in text) and any(char.islower() for char in text)


KEYS = {
    "openai": st.builds(
        lambda prefix, body: prefix + body,
        st.sampled_from(["sk-", "sk-proj-", "sk-svcacct-"]),
        _chars(B64URL, 40, 160).filter(lambda body: not body.islower()),
    ),
    "anthropic": st.builds(lambda body: "sk-ant-api03-" + body, _chars(B64URL, 40, 95)),
    "aws-access-key": st.builds(
        lambda prefix, body: prefix + body,
        st.sampled_from(["AKIA", "ASIA", "AROA", "AIDA"]),
        _chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
    ),
    "aws-secret-key (next to AWS)": st.builds(
        lambda body: "aws: " + body,
        _chars(ALNUM + "/+", 40).filter(lambda body: _mixed(body) and body[0] != "/"),
    ),
    "google": st.builds(lambda body: "AIza" + body, _chars(B64URL, 35)),
    "github": st.builds(
        lambda prefix, body: prefix + body,
        st.sampled_from(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]),
        _chars(ALNUM, 36),
    )
    | st.builds(lambda body: "github_pat_" + body, _chars(ALNUM + "_", 82)),
    "slack": st.builds(
        lambda kind, body: f"xox{kind}-{body}", st.sampled_from("bpa"), _chars(ALNUM + "-", 20, 60)
    ),
    "stripe": st.builds(
        lambda prefix, body: prefix + body,
        st.sampled_from(["sk_live_", "rk_live_", "sk_test_"]),
        _chars(ALNUM, 24, 99),
    ),
    "huggingface": st.builds(lambda body: "hf_" + body, _chars(ALNUM, 34)),
    "jwt": st.builds(
        lambda header, payload, signature: f"eyJ{header}.eyJ{payload}.{signature}",
        _chars(B64URL, 10, 40),
        _chars(B64URL, 10, 200),
        _chars(B64URL, 20, 86),
    ),
    "bearer": st.builds(
        lambda scheme, token: f"{scheme} {token}",
        st.sampled_from(["Bearer", "bearer", "Basic"]),
        _chars(ALNUM + "._~+/=-", 8, 200).filter(lambda token: not token.isalpha()),
    ),
    "private key": st.builds(
        lambda kind, body: (
            f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"
        ),
        st.sampled_from(["", "RSA ", "EC ", "OPENSSH "]),
        _chars(ALNUM + "+/=\n", 40, 400),
    ),
}
SURROUNDINGS = st.text(max_size=80)
SEPARATORS = st.sampled_from([" ", "\n", '"', "'", "(", "=", ": ", ", "])


@pytest.mark.parametrize("kind", sorted(KEYS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_generated_key_of_a_known_format_gets_through(kind: str, data: st.DataObject) -> None:
    key = data.draw(KEYS[kind])
    before = data.draw(SURROUNDINGS) + data.draw(SEPARATORS)
    after = data.draw(SEPARATORS) + data.draw(SURROUNDINGS)
    secret = key if kind == "private key" else key.split(" ")[-1]  # not "Bearer", nor "aws:"
    assume(secret not in before + after)
    scrubbed = Scrubber().text(before + key + after)
    assert secret not in scrubbed
    assert "[REDACTED:" in scrubbed


ATTRIBUTE_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=5).map(tuple) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(key=st.text(max_size=40), value=ATTRIBUTE_VALUES, pii=st.booleans())
def test_the_scrubber_never_raises(key: str, value: object, pii: bool) -> None:
    Scrubber(pii=pii).value(key, value)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("sk-AKIAeyJ.=:\"'?&@/+0123456789 aB_\n")), max_size=400
    )
)
def test_the_scrubber_never_raises_on_near_misses(text: str) -> None:
    assert isinstance(scrub_text(text, pii=True), str)


# --- the shortcuts keep every mask ------------------------------------------------------------
# The scrubber skips work a text cannot need (a format whose leading character is absent, pairs
# far from any "=" or ":", numbers without two digits close together); these are the edges.


def test_a_pair_as_far_from_its_separator_as_the_pattern_allows_is_masked() -> None:
    # The longest key word, its 40-character suffix, 40 spaces, a quote, 3 spaces, then ":".
    text = "private_key" + "a" * 40 + " " * 40 + '"   : "s3cr3t-v4lue"'
    assert scrub_text(text).endswith(': "[REDACTED:credential]"')


def test_a_pair_after_many_separators_is_masked() -> None:
    text = "a=1 b:2 " * 100 + "password=hunter2 token = 'abc123'"
    scrubbed = scrub_text(text)
    assert scrubbed.endswith("password=[REDACTED:credential] token = '[REDACTED:credential]'")


def test_a_card_written_one_digit_at_a_time_is_masked() -> None:
    assert scrub_text("card 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 ok", pii=True) == (
        "card [REDACTED:card] ok"
    )


def test_personal_data_in_non_ascii_text_is_masked() -> None:
    text = "café: card 4111 1111 1111 1111, call +44 20 7946 0958, IBAN GB82 WEST 1234 5698 7654 32"
    assert scrub_text(text, pii=True) == (
        "café: card [REDACTED:card], call [REDACTED:phone], IBAN [REDACTED:iban]"
    )


def test_a_secret_after_a_redaction_mark_is_still_found() -> None:
    # A mark writes characters ("A", "-") that later formats start with: they still run.
    text = f"{OPENAI_KEY} then {AWS_KEY_ID} and {GITHUB_TOKEN}"
    assert scrub_text(text) == (
        "[REDACTED:openai-key] then [REDACTED:aws-access-key] and [REDACTED:github-token]"
    )
