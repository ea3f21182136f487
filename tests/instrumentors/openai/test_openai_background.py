"""The openai instrumentor on background responses read again (``responses.retrieve(id,
stream=True, starting_after=n)`` and ``responses.stream(response_id=...)``), linked to the call that
started them, and on the beta Responses API (``client.beta.responses``)."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from llmtrace_agent.toolkit import semconv
from tests.support.fake_openai import (
    Reply,
    async_client,
    client,
    llm_span,
    llm_spans,
    response_events,
    response_object,
)

INPUT = "Write a long essay."


def _resumable() -> bool:
    try:
        from openai.resources.responses import Responses
    except ImportError:
        return False
    retrieve = getattr(Responses, "retrieve", None)
    return retrieve is not None and "stream" in inspect.signature(retrieve).parameters


needs_resume = pytest.mark.skipif(
    not _resumable(), reason="this openai cannot stream a stored response again"
)


def background_events(model: str = "gpt-4o-mini") -> list[dict]:
    """A background response's event stream (every response payload says ``background``)."""
    events = response_events(model=model)
    for event in events:
        if isinstance(event.get("response"), dict):
            event["response"] = {**event["response"], "background": True}
    return events


def queued(model: str = "gpt-4o-mini") -> dict:
    body = response_object(model=model, status="queued", output=[], background=True)
    body["usage"] = None
    return body


@needs_resume
def test_a_resumed_background_stream_is_a_span_linked_to_the_call_that_started_it(
    agent, fake_openai
):
    fake_openai.reply(Reply(body=queued()), Reply(events=background_events()[3:], done=False))
    openai_client = client(fake_openai)

    started = openai_client.responses.create(model="gpt-4o-mini", input=INPUT, background=True)
    stream = openai_client.responses.retrieve(started.id, stream=True, starting_after=2)
    events = [event.type for event in stream]

    assert events[-1] == "response.completed"
    request = fake_openai.last_request()
    assert request.method == "GET"
    assert request.path.startswith(f"/v1/responses/{started.id}?")
    assert "starting_after=2" in request.path
    first, resumed = sorted(llm_spans(agent, 2), key=lambda span: span.start_ns)
    assert first.name == "chat gpt-4o-mini"
    assert resumed.name == "chat"
    assert resumed.links == [(first.trace_id, first.span_id)]
    attributes = resumed.attributes
    assert attributes[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert attributes[semconv.GEN_AI_REQUEST_STREAM] is True
    assert attributes[semconv.GEN_AI_RESPONSE_ID] == started.id
    assert attributes[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini"
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 20
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 7
    assert attributes[semconv.GEN_AI_USAGE_COST] > 0


@needs_resume
def test_a_background_stream_cut_short_and_resumed_is_linked(agent, fake_openai):
    fake_openai.reply(
        Reply(events=background_events(), done=False, drop_after=4),
        Reply(events=background_events(), done=False),
    )
    openai_client = client(fake_openai)

    with pytest.raises(Exception):  # noqa: B017 (the SDK's error for a dropped connection)
        for _ in openai_client.responses.create(
            model="gpt-4o-mini", input=INPUT, background=True, stream=True
        ):
            pass
    # The stream helper reads it again from the start (it needs the response.created event).
    with openai_client.responses.stream(response_id="resp_fake_1") as stream:
        final = stream.get_final_response()

    assert final.status == "completed"
    first, resumed = sorted(llm_spans(agent, 2), key=lambda span: span.start_ns)
    assert first.status_code == "ERROR"
    assert resumed.links == [(first.trace_id, first.span_id)]
    assert resumed.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 7


@needs_resume
def test_resuming_a_response_started_elsewhere_has_no_link(agent, fake_openai):
    fake_openai.reply(Reply(events=background_events()[3:], done=False))

    for _ in client(fake_openai).responses.retrieve("resp_from_another_process", stream=True):
        pass

    span = llm_span(agent)
    assert span.links == []
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "resp_fake_1"  # what the events say


@needs_resume
def test_polling_a_background_response_makes_no_span(agent, fake_openai):
    fake_openai.reply(Reply(body=response_object(background=True)))

    response = client(fake_openai).responses.retrieve("resp_fake_1")

    assert response.status == "completed"
    agent.flush()
    assert [s for s in agent.receiver.spans if "gen_ai.operation.name" in s.attributes] == []


@needs_resume
def test_async_resumed_stream(agent, fake_openai):
    fake_openai.reply(Reply(body=queued()), Reply(events=background_events()[3:], done=False))

    async def main():
        openai_client = async_client(fake_openai)
        started = await openai_client.responses.create(
            model="gpt-4o-mini", input=INPUT, background=True
        )
        stream = await openai_client.responses.retrieve(started.id, stream=True)
        return [event async for event in stream]

    asyncio.run(main())

    first, resumed = sorted(llm_spans(agent, 2), key=lambda span: span.start_ns)
    assert resumed.links == [(first.trace_id, first.span_id)]
    assert resumed.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 20


def beta_responses(openai_client):
    beta = getattr(openai_client.beta, "responses", None)
    if beta is None:
        pytest.skip("this openai has no client.beta.responses")
    return beta


def test_beta_responses_create_is_a_chat_span(agent, fake_openai):
    response = beta_responses(client(fake_openai)).create(model="gpt-4o-mini", input=INPUT)

    assert response.id == "resp_fake_1"
    assert len(fake_openai.requests) == 1
    span = llm_span(agent)
    assert span.name == "chat gpt-4o-mini"
    assert span.attributes[semconv.OPENAI_API_TYPE] == "responses"
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "resp_fake_1"
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 20
    assert span.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_beta_responses_stream(agent, fake_openai):
    stream = beta_responses(client(fake_openai)).create(
        model="gpt-4o-mini", input=INPUT, stream=True
    )
    for _ in stream:
        pass

    span = llm_span(agent)
    assert span.attributes[semconv.GEN_AI_REQUEST_STREAM] is True
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 7
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in span.attributes


def test_async_beta_responses_create(agent, fake_openai):
    async def main():
        return await beta_responses(async_client(fake_openai)).create(
            model="gpt-4o-mini", input=INPUT
        )

    asyncio.run(main())

    assert llm_span(agent).attributes[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini"
