"""cohere under the real launcher, zero code: ``llmtrace-run python app.py``."""

from __future__ import annotations

from llmtrace_agent.toolkit import semconv
from tests.support.agent import code, run_traced
from tests.support.fake_cohere import TEXT, FakeCohere
from tests.support.otlp_receiver import OTLPReceiver

APP = """
import asyncio, os
import cohere

url = os.environ["FAKE_COHERE_URL"]
client = cohere.ClientV2(api_key="fake-cohere-secret-key", base_url=url)
answer = client.chat(
    model="command-a-03-2025", messages=[{"role": "user", "content": "zero-code prompt"}]
)

async def main():
    aclient = cohere.AsyncClientV2(api_key="fake-cohere-secret-key", base_url=url)
    stream = aclient.chat_stream(
        model="command-a-03-2025", messages=[{"role": "user", "content": "again"}]
    )
    return "".join(
        [e.delta.message.content.text async for e in stream if e.type == "content-delta"]
    )

print(answer.message.content[0].text, "|", asyncio.run(main()))
"""


def test_an_unmodified_app_is_traced_by_the_launcher(
    receiver: OTLPReceiver, fake_cohere: FakeCohere
) -> None:
    run = run_traced(code(APP), receiver, env={"FAKE_COHERE_URL": fake_cohere.scenario_url()})

    assert run.returncode == 0, run.stderr
    # The last line: cohere 5.11 imports sagemaker, which prints its config lookups first.
    assert run.stdout.strip().splitlines()[-1] == f"{TEXT} | {TEXT}"
    spans = receiver.wait_for_spans(2, 10, lambda s: semconv.GEN_AI_OPERATION_NAME in s.attributes)
    assert [s.name for s in spans] == ["chat command-a-03-2025"] * 2
    assert all(s.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12 for s in spans)
    exported = receiver.all_bytes()
    assert b"zero-code prompt" not in exported and b"fake-cohere-secret-key" not in exported
