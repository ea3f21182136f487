"""The agent through its lifecycle's odd turns, under load: started twice, unpatched and patched
again, its target reloaded, used from threads, forked and spawned workers and cancelled tasks.

Every call must still give exactly one LLM span (and one HTTP child), nothing may crash, and a
span must end with what happened to its call. The fork and multiprocessing basics are
``tests/test_bootstrap.py``'s; here workers run many calls each while a slow collector keeps the
export queue busy.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path

import pytest

from llmtrace_agent.toolkit import semconv
from tests.resilience.collectors import slow
from tests.support import fake_openai as fake
from tests.support.agent import InProcessAgent, run_traced
from tests.support.fake_openai import FakeOpenAI, Reply, chat_chunks, llm_spans
from tests.support.otlp_receiver import OTLPReceiver, ReceivedSpan

MESSAGES = [{"role": "user", "content": "Say hello."}]

# Prints nothing; ``call(tag)`` makes one chat call whose span is recognisable by its model name.
PRELUDE = """
import os, sys
import openai
client = openai.OpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="sk-test", max_retries=0)

def call(tag):
    client.chat.completions.create(model=tag, messages=[{"role": "user", "content": "hi"}])
"""


def run_app(body: str, receiver: OTLPReceiver, server: FakeOpenAI, tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(PRELUDE + body)
    # Every request gets its HTTP span, so that a doubled one would show.
    env = {"FAKE_OPENAI_URL": server.base_url, "LLMTRACE_HTTP_UNDER_LLM": "always"}
    done = run_traced([str(app)], receiver, env=env)
    assert done.returncode == 0, done.stderr
    assert "internal error" not in done.stderr, done.stderr


def llm_models(spans: list[ReceivedSpan]) -> Counter[str]:
    """How many LLM spans each model name (the call's tag) got."""
    return Counter(
        span.attributes[semconv.GEN_AI_REQUEST_MODEL]
        for span in spans
        if semconv.GEN_AI_OPERATION_NAME in span.attributes
    )


def http_children(spans: list[ReceivedSpan]) -> int:
    """HTTP spans whose parent is an LLM span of the same trace."""
    llm = {(s.trace_id, s.span_id) for s in spans if semconv.GEN_AI_OPERATION_NAME in s.attributes}
    return sum(
        1
        for span in spans
        if "http.request.method" in span.attributes and (span.trace_id, span.parent_span_id) in llm
    )


# --- started twice, unpatched, reloaded --------------------------------------------------------


def test_start_under_the_launcher_changes_nothing_and_each_call_has_one_span(
    receiver: OTLPReceiver, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    run_app(
        """
import llmtrace_agent
assert llmtrace_agent.start() is False  # the launcher already started it
for _ in range(5):
    call("twice-started")
""",
        receiver,
        fake_openai,
        tmp_path,
    )
    spans = receiver.wait_for_spans(10)
    assert llm_models(spans) == {"twice-started": 5}
    assert http_children(spans) == 5


def test_uninstrument_then_instrument_again_gives_one_span_per_call(
    receiver: OTLPReceiver, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    run_app(
        """
from llmtrace_agent._runtime import agent
call("before")
openai_plugin = agent.registry.statuses["openai"].instrumentor
agent.registry.uninstrument_all()
call("unpatched")
openai_plugin.instrument(sys.modules["openai"])
call("again")
openai_plugin.instrument(sys.modules["openai"])  # once more: still one wrapper
call("twice")
""",
        receiver,
        fake_openai,
        tmp_path,
    )
    receiver.wait_for_spans(3, where=lambda s: semconv.GEN_AI_OPERATION_NAME in s.attributes)
    assert llm_models(receiver.spans) == {"before": 1, "again": 1, "twice": 1}


@pytest.mark.parametrize(
    "reloaded",
    ["openai", "openai.resources.chat.completions.completions", "httpx2", "openai._base_client"],
)
def test_reloading_a_patched_module_neither_crashes_nor_doubles_spans(
    reloaded: str, receiver: OTLPReceiver, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    run_app(
        f"""
import importlib
call("before")
importlib.reload(sys.modules[{reloaded!r}])
client = openai.OpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="sk-test", max_retries=0)
call("after")
""",
        receiver,
        fake_openai,
        tmp_path,
    )
    receiver.wait_for_spans(2, where=lambda s: semconv.GEN_AI_OPERATION_NAME in s.attributes)
    assert llm_models(receiver.spans) == {"before": 1, "after": 1}
    assert http_children(receiver.spans) == 2


# --- concurrency ------------------------------------------------------------------------------


def test_threads_calling_at_once_each_get_their_own_spans(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    threads, calls = 8, 25
    client = fake.client(fake_openai)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for _ in range(calls):
                client.chat.completions.create(model=f"thread-{index}", messages=MESSAGES)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    with agent.configured(http_under_llm="always"):
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
    assert errors == []
    spans = agent.spans(2 * threads * calls)
    assert llm_models(spans) == {f"thread-{i}": calls for i in range(threads)}
    assert http_children(spans) == threads * calls
    assert all(
        s.parent_span_id == "" for s in spans if semconv.GEN_AI_OPERATION_NAME in s.attributes
    )


POOL_APP = """
import multiprocessing

def work(index):
    for _ in range(25):
        call(f"worker-{index}")

if __name__ == "__main__":
    pool = multiprocessing.get_context(sys.argv[1]).Pool(2)
    pool.map(work, range(4), chunksize=1)
    # close + join lets the workers exit (and flush); leaving ``with Pool()`` terminates them
    # with SIGTERM, which drops what they had not exported yet, with any OpenTelemetry SDK.
    pool.close()
    pool.join()
    call("parent")
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pool_workers_under_load_export_every_span_to_a_slow_collector(
    method: str, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    receiver = OTLPReceiver(respond=slow(0.05))
    try:
        app = tmp_path / "app.py"
        app.write_text(PRELUDE + POOL_APP)
        done = run_traced(
            [str(app), method], receiver, env={"FAKE_OPENAI_URL": fake_openai.base_url}
        )
        assert done.returncode == 0, done.stderr
        expected = {f"worker-{i}": 25 for i in range(4)} | {"parent": 1}
        receiver.wait_for_spans(
            101, timeout=15, where=lambda s: semconv.GEN_AI_OPERATION_NAME in s.attributes
        )
        spans = receiver.spans
    finally:
        receiver.close()
    assert llm_models(spans) == expected
    assert len({span.span_id for span in spans}) == len(spans)  # nothing exported twice


def test_forked_child_does_not_export_spans_its_parent_had_queued(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        """
import os, sys
from opentelemetry import trace
tracer = trace.get_tracer("app")
for _ in range(500):
    tracer.start_span("queued-in-parent").end()  # not exported yet: the queue waits 100 ms
pid = os.fork()
if pid == 0:
    for _ in range(10):
        tracer.start_span("child").end()
    sys.exit(0)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""
    )
    done = run_traced([str(app)], receiver)
    assert done.returncode == 0, done.stderr
    spans = receiver.wait_for_spans(510)
    assert Counter(span.name for span in spans) == {"queued-in-parent": 500, "child": 10}


def test_cancelled_streams_end_with_an_error_while_the_others_complete(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    streams = 8  # the fake server listens with a backlog of 5: more at once can be refused
    # 5 events 0.4 s apart: every stream is still going when the cancellations arrive.
    fake_openai.reply(*[Reply(events=chat_chunks(), delay=0.4) for _ in range(streams)])
    client = fake.async_client(fake_openai)

    async def consume(index: int, first_chunk: asyncio.Event) -> None:
        chunks = await client.chat.completions.create(
            model=f"stream-{index}", messages=MESSAGES, stream=True
        )
        async for _ in chunks:
            first_chunk.set()

    async def main() -> None:
        started = [asyncio.Event() for _ in range(streams)]
        tasks = [asyncio.create_task(consume(i, started[i])) for i in range(streams)]
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in started)), 20)
        for task in tasks[::2]:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert [isinstance(r, asyncio.CancelledError) for r in results] == [
            i % 2 == 0 for i in range(streams)
        ]

    asyncio.run(main())
    spans = {
        span.attributes[semconv.GEN_AI_REQUEST_MODEL]: span for span in llm_spans(agent, streams)
    }
    for index in range(streams):
        span = spans[f"stream-{index}"]
        if index % 2 == 0:
            assert span.status_code == "ERROR"
            assert span.attributes[semconv.ERROR_TYPE].endswith("CancelledError")
        else:
            assert span.status_code == "UNSET"
            assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
