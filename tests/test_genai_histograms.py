"""The GenAI histograms the agent aggregates itself (``_pipeline.genai_histograms``): what a real
OTLP receiver gets from an unmodified app under the launcher, in each temporality and across a
fork."""

from __future__ import annotations

import textwrap

import pytest

from llmtrace_agent.toolkit import semconv
from tests.support.agent import code, run_traced
from tests.support.fake_openai import API_KEY

pytest.importorskip("openai")

CALLS = f"""
    import os, sys
    import openai
    import llmtrace_agent

    client = openai.OpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="{API_KEY}",
                           max_retries=0)

    def ask(times):
        for _ in range(times):
            client.chat.completions.create(
                model="histogram-model", messages=[{{"role": "user", "content": "hi"}}])
"""


def counts(receiver, metric: str = semconv.GEN_AI_CLIENT_OPERATION_DURATION) -> list[int]:
    points = receiver.points(metric)
    return [p.count for p in points if p.attributes.get(semconv.GEN_AI_REQUEST_MODEL)]


def run_app(receiver, fake_openai, body: str, **env: str) -> None:
    app = code(textwrap.dedent(CALLS) + textwrap.dedent(body))
    run = run_traced(app, receiver, env={"FAKE_OPENAI_URL": fake_openai.base_url, **env})
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize(("preference", "expected"), [("cumulative", [2, 3]), ("delta", [2, 1])])
def test_each_export_carries_the_readers_temporality(receiver, fake_openai, preference, expected):
    run_app(
        receiver,
        fake_openai,
        """
        ask(2)
        llmtrace_agent.flush()
        ask(1)
        """,
        OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=preference,
    )

    assert counts(receiver) == expected
    tokens = [p for p in receiver.points(semconv.GEN_AI_CLIENT_TOKEN_USAGE) if p.count]
    assert {p.attributes[semconv.GEN_AI_TOKEN_TYPE] for p in tokens} == {"input", "output"}
    assert tokens[0].bucket_bounds == semconv.TOKEN_USAGE_BUCKETS


def test_a_forked_child_exports_only_its_own_calls(receiver, fake_openai):
    run_app(
        receiver,
        fake_openai,
        """
        ask(2)
        llmtrace_agent.flush()
        pid = os.fork()
        if pid == 0:
            ask(1)
            llmtrace_agent.flush()
            os._exit(0)
        os.waitpid(pid, 0)
        """,
    )

    # the parent's two calls, the child's one (each exported at its flush and at exit): never 3
    found = counts(receiver)
    assert 1 in found and 2 in found and 3 not in found, found
