"""mistralai under the real launcher, zero code: since 2.x ``mistralai`` is a namespace package,
so this proves the import of ``mistralai.client`` (what apps write) is what gets it patched."""

from __future__ import annotations

from llmtrace_agent.toolkit import semconv
from tests.support.agent import code, run_traced
from tests.support.fake_mistral import TEXT, FakeMistral
from tests.support.otlp_receiver import OTLPReceiver

APP = """
import os
try:
    from mistralai.client import Mistral
except ImportError:
    from mistralai import Mistral

client = Mistral(api_key="fake-mistral-secret-key", server_url=os.environ["FAKE_MISTRAL_URL"])
answer = client.chat.complete(
    model="mistral-small-latest", messages=[{"role": "user", "content": "zero-code prompt"}]
)
streamed = "".join(
    event.data.choices[0].delta.content
    for event in client.chat.stream(
        model="mistral-small-latest", messages=[{"role": "user", "content": "again"}]
    )
)
print(answer.choices[0].message.content, "|", streamed)
"""


def test_an_unmodified_app_is_traced_by_the_launcher(
    receiver: OTLPReceiver, fake_mistral: FakeMistral
) -> None:
    run = run_traced(code(APP), receiver, env={"FAKE_MISTRAL_URL": fake_mistral.scenario_url()})

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"{TEXT} | {TEXT}"
    spans = receiver.wait_for_spans(2, 10, lambda s: semconv.GEN_AI_OPERATION_NAME in s.attributes)
    assert [s.name for s in spans] == ["chat mistral-small-latest"] * 2
    assert all(s.attributes[semconv.GEN_AI_PROVIDER_NAME] == "mistral_ai" for s in spans)
    assert all(s.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 8 for s in spans)
    exported = receiver.all_bytes()
    assert b"zero-code prompt" not in exported and b"fake-mistral-secret-key" not in exported
