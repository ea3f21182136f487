"""Odd servers: whatever an OpenAI-compatible server answers, the application sees exactly what
the uninstrumented SDK gives it, and the span simply lacks what could not be read.

The agent runs with internal errors re-raised (as in every test), so an extraction that trips
over a shape would change what the instrumented call returns and fail these tests.
"""

from __future__ import annotations

import copy
from typing import Any

import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmtrace_agent.toolkit import semconv
from tests.support.fake_openai import (
    Reply,
    chat_chunks,
    chat_completion,
    client,
    embeddings,
    llm_span,
    response_events,
    response_object,
)

MESSAGES = [{"role": "user", "content": "hi"}]

# OpenTelemetry draws span ids from the global ``random`` module while an example runs, which
# Hypothesis mistakes for a strategy using ``random``.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")


def outcome(call: Any) -> tuple[str, Any]:
    """What the application observes: the result's type and content, or the error's."""
    try:
        result = call()
    except Exception as exc:  # the SDK's own error is part of what the app sees
        return ("raised", (type(exc), str(exc)))
    if isinstance(result, (openai.Stream,)):
        return ("stream", [_dump(chunk) for chunk in result])
    return (type(result).__name__, _dump(result))


def _dump(value: Any) -> Any:
    return value.model_dump(warnings=False) if hasattr(value, "model_dump") else value


def traced_and_plain(fake_openai: Any, resource: Any, body: Reply, **kwargs: Any) -> tuple:
    """The outcome of the instrumented call and of the SDK's own function, same answer."""
    fake_openai.reply(copy.deepcopy(body), copy.deepcopy(body))
    original = type(resource).__dict__["create"].__wrapped__
    traced = outcome(lambda: resource.create(**kwargs))
    plain = outcome(lambda: original(resource, **kwargs))
    return traced, plain


# --- explicit odd shapes -------------------------------------------------------------------------


def chat_outcomes(fake_openai: Any, body: dict[str, Any]) -> tuple:
    chat = client(fake_openai).chat.completions
    return traced_and_plain(
        fake_openai, chat, Reply(body=body), model="gpt-4o-mini", messages=MESSAGES
    )


def test_missing_usage_records_no_tokens_and_no_cost(agent, fake_openai):
    body = chat_completion()
    del body["usage"]

    traced, plain = chat_outcomes(fake_openai, body)

    attributes = llm_span(agent).attributes
    assert traced == plain
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in attributes
    assert semconv.GEN_AI_USAGE_COST not in attributes
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_empty_choices_record_no_finish_reasons(agent, fake_openai):
    traced, plain = chat_outcomes(fake_openai, chat_completion(choices=[]))

    attributes = llm_span(agent).attributes
    assert traced == plain
    assert semconv.GEN_AI_RESPONSE_FINISH_REASONS not in attributes
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12


def test_null_fields_are_skipped(agent, fake_openai):
    body = chat_completion(id=None, model=None, system_fingerprint=None)
    body["usage"] = None
    body["choices"][0]["message"] = None

    traced, plain = chat_outcomes(fake_openai, body)

    attributes = llm_span(agent).attributes
    assert traced == plain
    for name in (
        semconv.GEN_AI_RESPONSE_ID,
        semconv.GEN_AI_RESPONSE_MODEL,
        semconv.GEN_AI_USAGE_INPUT_TOKENS,
        semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT,
    ):
        assert name not in attributes


def test_strings_where_numbers_belong_are_skipped(agent, fake_openai):
    body = chat_completion(usage={"prompt_tokens": "12", "completion_tokens": 5.5, "total": []})

    traced, plain = chat_outcomes(fake_openai, body)

    attributes = llm_span(agent).attributes
    assert traced == plain
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in attributes
    assert semconv.GEN_AI_USAGE_OUTPUT_TOKENS not in attributes


def test_unknown_extra_fields_change_nothing(agent, fake_openai):
    body = chat_completion(x_vendor={"latency": 3}, choices=[{"index": 0, "weird": True}])

    traced, plain = chat_outcomes(fake_openai, body)

    assert traced == plain
    assert llm_span(agent).attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-fake-1"


@pytest.mark.parametrize("body", [[], "just text", 42, None, {"choices": "abc", "usage": 7}])
def test_a_body_that_is_not_a_completion_object(agent, fake_openai, body):
    traced, plain = chat_outcomes(fake_openai, body)

    assert traced == plain
    assert llm_span(agent).status_code in ("UNSET", "ERROR")


def test_request_parameters_of_the_wrong_type_are_skipped(agent, fake_openai):
    chat = client(fake_openai).chat.completions
    traced, plain = traced_and_plain(
        fake_openai,
        chat,
        Reply(body=chat_completion()),
        model="gpt-4o-mini",
        messages=MESSAGES,
        extra_body={},
        temperature="warm",  # type: ignore[arg-type]
        n=True,  # type: ignore[arg-type]
        stop=[1, 2],  # type: ignore[arg-type]
        seed=1.5,  # type: ignore[arg-type]
    )

    attributes = llm_span(agent).attributes
    assert traced == plain
    for name in (
        semconv.GEN_AI_REQUEST_TEMPERATURE,
        semconv.GEN_AI_REQUEST_CHOICE_COUNT,
        semconv.GEN_AI_REQUEST_STOP_SEQUENCES,
        semconv.GEN_AI_REQUEST_SEED,
    ):
        assert name not in attributes


def test_odd_stream_chunks_are_passed_through(agent, fake_openai):
    events = chat_chunks(usage=True)
    events[1]["choices"][0]["index"] = "zero"
    events[2]["choices"] = None
    events[-1]["usage"] = "lots"
    events.insert(3, {"unexpected": "chunk"})
    chat = client(fake_openai).chat.completions

    with agent.configured(capture_content=True):
        traced, plain = traced_and_plain(
            fake_openai, chat, Reply(events=events), model="m", messages=MESSAGES, stream=True
        )

    attributes = llm_span(agent).attributes
    assert traced == plain
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in attributes


def test_odd_responses_body_is_passed_through(agent, fake_openai):
    body = response_object(output="nope", usage={"input_tokens": None}, status=3)
    traced, plain = traced_and_plain(
        fake_openai, client(fake_openai).responses, Reply(body=body), model="m", input="hi"
    )

    assert traced == plain
    assert llm_span(agent).attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)


def test_odd_embeddings_body_is_passed_through(agent, fake_openai):
    body = embeddings(base64=False) | {"usage": "none", "model": 5}
    traced, plain = traced_and_plain(
        fake_openai,
        client(fake_openai).embeddings,
        Reply(body=body),
        model="text-embedding-3-small",
        input="hi",
        encoding_format="float",
    )

    assert traced == plain
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in llm_span(agent).attributes


# --- property: any shape ------------------------------------------------------------------------

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
MISSING = object()


@st.composite
def mutated(draw: st.DrawFn, value: Any) -> Any:
    """``value`` with some of its fields (recursively) dropped, nulled or retyped."""
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            choice = draw(st.sampled_from(["keep", "keep", "keep", "mutate", "drop", "odd"]))
            if choice == "keep":
                result[key] = item
            elif choice == "mutate":
                result[key] = draw(mutated(item))
            elif choice == "odd":
                result[key] = draw(ODD_VALUES)
        if draw(st.booleans()):
            result[draw(st.text(min_size=1, max_size=6))] = draw(ODD_VALUES)
        return result
    if isinstance(value, list):
        return [draw(mutated(item)) for item in value]
    return draw(st.one_of(st.just(value), ODD_VALUES))


def chat_bodies() -> st.SearchStrategy[Any]:
    templates = [
        chat_completion(),
        chat_completion(tool_call=True, n=2),
        chat_completion(usage={"prompt_tokens": 9, "prompt_tokens_details": {"cached_tokens": 3}}),
    ]
    return st.sampled_from(templates).flatmap(mutated)


def chunk_streams() -> st.SearchStrategy[list[Any]]:
    return st.sampled_from([chat_chunks(usage=True), chat_chunks(tool_call=True)]).flatmap(
        lambda events: st.lists(st.sampled_from(events).flatmap(mutated), max_size=8)
    )


PROPERTY = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


@PROPERTY
@given(body=chat_bodies(), capture=st.booleans())
def test_any_chat_completion_shape_reaches_the_app_unchanged(agent, fake_openai, body, capture):
    with agent.configured(capture_content=capture):
        traced, plain = chat_outcomes(fake_openai, body)

    assert traced == plain


@PROPERTY
@given(events=chunk_streams(), capture=st.booleans())
def test_any_chunk_stream_reaches_the_app_unchanged(agent, fake_openai, events, capture):
    chat = client(fake_openai).chat.completions
    with agent.configured(capture_content=capture):
        traced, plain = traced_and_plain(
            fake_openai, chat, Reply(events=events), model="m", messages=MESSAGES, stream=True
        )

    assert traced == plain


@settings(PROPERTY, max_examples=50)
@given(
    body=st.sampled_from([response_object(), response_object(tool_call=True)]).flatmap(mutated),
    capture=st.booleans(),
)
def test_any_responses_shape_reaches_the_app_unchanged(agent, fake_openai, body, capture):
    responses = client(fake_openai).responses
    with agent.configured(capture_content=capture):
        traced, plain = traced_and_plain(
            fake_openai, responses, Reply(body=body), model="m", input="hi"
        )

    assert traced == plain


@settings(PROPERTY, max_examples=50)
@given(
    events=st.lists(st.sampled_from(response_events()).flatmap(mutated), max_size=8),
    capture=st.booleans(),
)
def test_any_responses_event_stream_reaches_the_app_unchanged(agent, fake_openai, events, capture):
    responses = client(fake_openai).responses
    with agent.configured(capture_content=capture):
        traced, plain = traced_and_plain(
            fake_openai,
            responses,
            Reply(events=events, done=False),
            model="m",
            input="hi",
            stream=True,
        )

    assert traced == plain
