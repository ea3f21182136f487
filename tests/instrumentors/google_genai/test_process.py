"""The google_genai and aiohttp instrumentors under the real launcher, zero code:
``llmtrace-run python app.py`` with an app that knows nothing of the agent."""

from __future__ import annotations

import textwrap
from pathlib import Path

from llmtrace_agent.toolkit import semconv
from tests.support.agent import run_traced
from tests.support.fake_gemini import FakeGemini
from tests.support.otlp_receiver import OTLPReceiver

APP = textwrap.dedent(
    """
    import asyncio, os
    from google import genai
    from google.genai import types

    options = types.HttpOptions(base_url=os.environ["FAKE_GEMINI_URL"])
    client = genai.Client(api_key="AIza-zero-code-key", http_options=options)
    answer = client.models.generate_content(model="gemini-2.5-flash", contents="zero-code prompt")
    streamed = "".join(
        chunk.text for chunk in client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="again")
    )

    async def main():
        return await client.aio.models.generate_content(model="gemini-2.5-flash", contents="x")

    asyncio.run(main())
    print(answer.text, "|", streamed)
    """
)


def test_an_unmodified_gemini_app_is_traced_by_the_launcher(
    tmp_path: Path, receiver: OTLPReceiver, fake_gemini: FakeGemini
) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    run = run_traced([str(app)], receiver, env={"FAKE_GEMINI_URL": fake_gemini.base_url})

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "Hello from the fake Gemini. | Hello from the fake Gemini."
    spans = receiver.wait_for_spans(3, 10, lambda s: semconv.GEN_AI_OPERATION_NAME in s.attributes)
    assert [s.name for s in spans] == ["generate_content gemini-2.5-flash"] * 3
    assert sum(1 for s in spans if s.attributes.get(semconv.GEN_AI_REQUEST_STREAM)) == 1
    # Each call's one successful request records no HTTP span (LLMTRACE_HTTP_UNDER_LLM=retries).
    assert [s.name for s in receiver.spans if s.name == "POST"] == []
    exported = receiver.all_bytes()
    assert b"zero-code prompt" not in exported and b"AIza-zero-code-key" not in exported
