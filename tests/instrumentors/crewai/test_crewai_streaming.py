"""Streaming kickoffs (``Crew(stream=True)``): the crew's spans stay one tree and end with the
run the stream started, whether the app consumes the stream, closes it or drops it."""

from __future__ import annotations

import asyncio
import gc

import pytest
from crewai import Crew

from tests.instrumentors.crewai.test_crewai import (
    ANSWER,
    MODEL,
    assert_one_tree,
    by_operation,
    in_process,
    weather_crew,
)
from tests.support.agent import InProcessAgent
from tests.support.fake_openai import FakeOpenAI, Reply, chat_chunks


def streamed_tool_call_then_answer(server: FakeOpenAI) -> None:
    """The issue's scenario, streamed: a tool call first, the final answer after its result."""
    server.reply(
        Reply(events=chat_chunks(model=MODEL, tool_call=True, usage=True)),
        Reply(events=chat_chunks(model=MODEL, pieces=(ANSWER,), usage=True)),
    )


def streaming_crew(server: FakeOpenAI) -> Crew:
    streamed_tool_call_then_answer(server)
    crew = weather_crew(server)
    crew.stream = True
    return crew


def test_a_stream_consumed_fully_gives_the_whole_tree(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    streaming = streaming_crew(fake_openai).kickoff()

    chunks = list(streaming)

    assert chunks
    assert streaming.result.raw == ANSWER
    assert_one_tree(in_process(agent), len(fake_openai.requests))


def test_a_stream_closed_early_ends_its_spans_when_the_run_ends(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    streaming = streaming_crew(fake_openai).kickoff()

    next(iter(streaming))
    streaming.close()  # CrewAI lets the run finish (it joins its thread)

    assert streaming.is_cancelled
    assert_one_tree(in_process(agent), len(fake_openai.requests))


def test_a_stream_dropped_unfinished_ends_its_spans_when_the_run_ends(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    streaming = streaming_crew(fake_openai).kickoff()

    next(iter(streaming))
    del streaming
    gc.collect()  # the stream's generator is in a reference cycle

    assert_one_tree(in_process(agent), len(fake_openai.requests))


def test_a_stream_never_iterated_runs_nothing_and_traces_nothing(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    streaming = streaming_crew(fake_openai).kickoff()

    del streaming
    gc.collect()

    agent.flush()
    assert fake_openai.requests == []
    assert "invoke_workflow" not in by_operation(agent.receiver.spans)


@pytest.mark.parametrize("kickoff", ["kickoff_async", "akickoff"])
def test_an_async_stream_gives_the_whole_tree(
    agent: InProcessAgent, fake_openai: FakeOpenAI, kickoff: str
) -> None:
    async def consume() -> str:
        streaming = await getattr(streaming_crew(fake_openai), kickoff)()
        assert [chunk async for chunk in streaming]
        return streaming.result.raw

    assert asyncio.run(consume()) == ANSWER
    assert_one_tree(in_process(agent), len(fake_openai.requests))


def test_an_async_stream_closed_early_ends_its_spans_when_the_run_ends(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    async def close_early() -> None:
        streaming = await streaming_crew(fake_openai).kickoff_async()
        await anext(aiter(streaming))
        await streaming.aclose()  # kickoff_async's run goes on in its thread, to the end

    asyncio.run(close_early())

    assert_one_tree(in_process(agent), len(fake_openai.requests))


def test_a_native_async_stream_closed_early_cancels_the_run_and_ends_its_spans(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    async def close_early() -> None:
        streaming = await streaming_crew(fake_openai).akickoff()
        await anext(aiter(streaming))
        await streaming.aclose()  # akickoff's run is a task: CrewAI cancels it

    asyncio.run(close_early())

    agent.flush()
    found = by_operation(
        agent.receiver.wait_for_spans(3, where=lambda s: "gen_ai.operation.name" in s.attributes)
    )
    [crew] = found["invoke_workflow"]
    [reporter] = found["invoke_agent"]
    for cancelled in (crew, reporter):
        assert cancelled.attributes["error.type"] == "asyncio.exceptions.CancelledError"
    assert all(chat.parent_span_id == reporter.span_id for chat in found["chat"])
    assert len(found["chat"]) == len(fake_openai.requests)
    assert {span.trace_id for span in agent.receiver.spans} == {crew.trace_id}
