"""The openai instrumentor under the real launcher, zero code: ``llmtrace-run python app.py``."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

from llmtrace_agent.instrumentors.openai import OpenAIInstrumentor
from llmtrace_agent.toolkit import semconv
from tests.support.agent import run_traced
from tests.support.fake_openai import API_KEY

APP = textwrap.dedent(
    f"""
    import asyncio, os, sys
    import openai

    client = openai.OpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="{API_KEY}",
                           max_retries=0)
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{{"role": "user", "content": "zero-code prompt"}}])
    chunks = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{{"role": "user", "content": "again"}}], stream=True,
        stream_options={{"include_usage": True}})
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    async def main():
        aclient = openai.AsyncOpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="{API_KEY}")
        return await aclient.embeddings.create(model="text-embedding-3-small", input="x")

    asyncio.run(main())
    print(completion.choices[0].message.content, "|", text)
    """
)


def write_app(tmp_path: Path) -> str:
    app = tmp_path / "app.py"
    app.write_text(APP)
    return str(app)


def test_an_unmodified_app_is_traced_by_the_launcher(tmp_path, receiver, fake_openai):
    run = run_traced([write_app(tmp_path)], receiver, env={"FAKE_OPENAI_URL": fake_openai.base_url})

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "Hello from the fake server! | Hello from the fake server!"
    spans = receiver.wait_for_spans(3, 10, lambda s: semconv.GEN_AI_OPERATION_NAME in s.attributes)
    assert sorted(s.name for s in spans) == [
        "chat gpt-4o-mini",
        "chat gpt-4o-mini",
        "embeddings text-embedding-3-small",
    ]
    streamed = next(s for s in spans if s.attributes.get(semconv.GEN_AI_REQUEST_STREAM))
    assert streamed.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert receiver.points(semconv.GEN_AI_CLIENT_TOKEN_USAGE)
    exported = receiver.all_bytes()
    assert b"zero-code prompt" not in exported and API_KEY.encode() not in exported


def test_content_capture_is_switched_on_by_the_environment(tmp_path, receiver, fake_openai):
    run = run_traced(
        [write_app(tmp_path)],
        receiver,
        env={"FAKE_OPENAI_URL": fake_openai.base_url, "LLMTRACE_CAPTURE_CONTENT": "true"},
    )

    assert run.returncode == 0, run.stderr
    spans = receiver.wait_for_spans(3, 10, lambda s: semconv.GEN_AI_OPERATION_NAME in s.attributes)
    prompted = [
        s
        for s in spans
        if "zero-code prompt" in s.attributes.get(semconv.GEN_AI_INPUT_MESSAGES, "")
    ]
    assert len(prompted) == 1
    assert '"Hello from the fake server!"' in prompted[0].attributes[semconv.GEN_AI_OUTPUT_MESSAGES]


def test_metrics_exporter_none_exports_spans_but_no_metrics(tmp_path, receiver, fake_openai):
    run = run_traced(
        [write_app(tmp_path)],
        receiver,
        env={"FAKE_OPENAI_URL": fake_openai.base_url, "OTEL_METRICS_EXPORTER": "none"},
    )

    assert run.returncode == 0, run.stderr
    assert (
        len(receiver.wait_for_spans(3, 10, lambda s: "gen_ai.operation.name" in s.attributes)) == 3
    )
    time.sleep(0.5)  # the process has exited: anything it sent has arrived
    assert receiver.received.points == []


def test_an_unknown_openai_major_is_skipped_with_a_warning(tmp_path, receiver):
    # A stand-in "openai 4.0.0" first on the path: its metadata says 4.0.0, outside "openai>=1,<4".
    site = tmp_path / "site"
    (site / "openai").mkdir(parents=True)
    (site / "openai" / "__init__.py").write_text("__version__ = '4.0.0'\n")
    dist_info = site / "openai-4.0.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: openai\nVersion: 4.0.0\n")
    app = tmp_path / "app.py"
    app.write_text(
        "import openai, llmtrace_agent\nprint(openai.__version__)\nprint(llmtrace_agent.status())\n"
    )

    run = run_traced([str(app)], receiver, env={"PYTHONPATH": str(site)})

    assert run.returncode == 0, run.stderr
    declared = OpenAIInstrumentor.requires
    assert f"instrumentor 'openai' skipped: needs {declared}, found 4.0.0" in run.stderr
    status = {line.split()[0]: line.split()[1] for line in run.stdout.splitlines()[1:] if line}
    assert run.stdout.splitlines()[0] == "4.0.0"
    assert status["openai"] == "skipped"


def test_the_first_call_does_not_wait_for_the_price_table(tmp_path, receiver, fake_openai):
    """genai_prices takes ~0.3-1 s to import, in the background: a call that ends first keeps its
    own end time, gets its cost when the prices are in, and is exported before the program exits.
    """
    app = tmp_path / "first_call.py"
    app.write_text(
        textwrap.dedent(
            f"""
            import os, sys, time
            import openai

            class SlowPrices:  # genai_prices takes a second to import: the call ends first
                def find_spec(self, name, path=None, target=None):
                    if name == "genai_prices":
                        time.sleep(1.0)
                    return None

            sys.meta_path.insert(0, SlowPrices())

            client = openai.OpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="{API_KEY}")
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{{"role": "user", "content": "hi"}}])
            print(time.time_ns())
            """
        )
    )
    run = run_traced([str(app)], receiver, env={"FAKE_OPENAI_URL": fake_openai.base_url})

    assert run.returncode == 0, run.stderr
    returned_at = int(run.stdout.split()[0])
    (span,) = receiver.wait_for_spans(1, 10, lambda s: s.name == "chat gpt-4o-mini")
    assert span.end_ns <= returned_at  # ended with the call, not when the prices arrived
    assert span.attributes[semconv.GEN_AI_USAGE_COST] > 0
    assert "error" not in run.stderr.lower(), run.stderr
