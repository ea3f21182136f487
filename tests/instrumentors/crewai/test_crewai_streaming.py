"""Streaming kickoffs (``Crew(stream=True)``): the crew's spans stay one tree and end with the
run the stream started, whether the app consumes the stream, closes it or drops it."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

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

Runnable = TypeVar("Runnable")


def streamed_tool_call_then_answer(server: FakeOpenAI) -> None:
    """The issue's scenario, streamed: a tool call first, the final answer after its result."""
    server.reply(
        Reply(events=chat_chunks(model=MODEL, tool_call=True, usage=True)),
        Reply(events=chat_chunks(model=MODEL, pieces=(ANSWER,), usage=True)),
    )


def streaming_crew(server: FakeOpenAI) -> Crew:
    streamed_tool_call_then_answer(server)
    return streaming(weather_crew(server))


def streaming(runnable: Runnable) -> Runnable:
    """A crew or flow set to stream: its ``kickoff`` returns a stream, run when iterated."""
    runnable.stream = True
    return runnable


def close(streams: list[Any]) -> None:
    streams[0].close()  # CrewAI lets the run finish (it joins its thread)


def drop(streams: list[Any]) -> None:
    streams.clear()
    gc.collect()  # the stream's generator is in a reference cycle


ENDINGS = {"closed": close, "dropped": drop}
"""How an app leaves a stream it has begun to iterate (given a list holding its one reference)."""


def leave_unfinished(kickoff: Callable[[], Any], ending: str) -> None:
    """Kick off, take the first chunk, then leave the stream as ``ENDINGS[ending]`` does."""
    streams = [kickoff()]
    next(iter(streams[0]), None)
    ENDINGS[ending](streams)


def test_a_stream_consumed_fully_gives_the_whole_tree(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    streaming = streaming_crew(fake_openai).kickoff()

    chunks = list(streaming)

    assert chunks
    assert streaming.result.raw == ANSWER
    assert_one_tree(in_process(agent), len(fake_openai.requests))


@pytest.mark.parametrize("ending", ENDINGS)
def test_a_stream_left_unfinished_ends_its_spans_when_the_run_ends(
    agent: InProcessAgent, fake_openai: FakeOpenAI, ending: str
) -> None:
    leave_unfinished(streaming_crew(fake_openai).kickoff, ending)

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


async def first_chunk_then_close(kickoff: Callable[[], Awaitable[Any]]) -> None:
    streaming = await kickoff()
    await anext(aiter(streaming))
    await streaming.aclose()


def test_an_async_stream_closed_early_ends_its_spans_when_the_run_ends(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    # kickoff_async's run goes on in its thread, to the end
    asyncio.run(first_chunk_then_close(streaming_crew(fake_openai).kickoff_async))

    assert_one_tree(in_process(agent), len(fake_openai.requests))


def test_a_native_async_stream_closed_early_cancels_the_run_and_ends_its_spans(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    # akickoff's run is a task: CrewAI cancels it
    asyncio.run(first_chunk_then_close(streaming_crew(fake_openai).akickoff))

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
