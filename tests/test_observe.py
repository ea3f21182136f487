"""observe: spans around the user's own functions, generators and blocks, at the receiver."""

from __future__ import annotations

import asyncio
import gc
import inspect
import json

import pytest
import requests
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from llmtrace_agent import observe
from tests.support.agent import InProcessAgent, code, run_traced
from tests.support.http_server import RecordingHTTPServer, traceparent_ids
from tests.support.otlp_receiver import OTLPReceiver, ReceivedSpan

SCOPE = "llmtrace_agent.observe"


class Failure(Exception):
    """The user's own exception, which must reach the caller unchanged."""


def child_of(child: ReceivedSpan, parent: ReceivedSpan) -> bool:
    return (child.trace_id, child.parent_span_id) == (parent.trace_id, parent.span_id)


def inner_step() -> None:
    with trace.get_tracer("test").start_as_current_span("inner"):
        pass


# --- the three forms -----------------------------------------------------------------------------


@observe
def retrieve(query: str, k: int = 3) -> list[str]:
    """Find documents."""
    inner_step()
    return [query] * k


@observe(name="pipeline", kind="client", attributes={"app.stage": "rank"})
def rank(documents: list[str]) -> list[str]:
    return sorted(documents)


@observe()
def summarise() -> str:
    return "summary"


def test_bare_decorator_makes_a_span_named_after_the_qualified_name(
    agent: InProcessAgent,
) -> None:
    assert retrieve("q", 2) == ["q", "q"]
    (span,) = agent.spans(1, name="retrieve")
    assert span.scope == SCOPE
    assert span.kind == "INTERNAL"
    assert span.status_code == "UNSET"


def test_called_decorator_sets_name_kind_and_attributes(agent: InProcessAgent) -> None:
    assert rank(["b", "a"]) == ["a", "b"]
    (span,) = agent.spans(1, name="pipeline")
    assert span.kind == "CLIENT"
    assert span.attributes == {"app.stage": "rank"}


def test_called_decorator_without_arguments_uses_the_qualified_name(
    agent: InProcessAgent,
) -> None:
    assert summarise() == "summary"
    assert agent.spans(1, name="summarise")[0].scope == SCOPE


def test_kind_may_be_a_span_kind(agent: InProcessAgent) -> None:
    @observe(kind=SpanKind.PRODUCER)
    def publish() -> None:
        pass

    publish()
    assert agent.spans(1, name=publish.__qualname__)[0].kind == "PRODUCER"


def test_unknown_kind_is_refused_when_decorating() -> None:
    with pytest.raises(ValueError, match="span kind"):
        observe(kind="sideways")


def test_block_is_a_span_whose_children_are_the_spans_inside(agent: InProcessAgent) -> None:
    with observe("retrieve-block") as span:
        span.set_attribute("app.hits", 4)
        inner_step()
    block = agent.receiver.span("retrieve-block")
    agent.flush()
    assert block.attributes == {"app.hits": 4}
    assert child_of(agent.receiver.span("inner"), block)


def test_block_without_a_name_is_refused() -> None:
    with pytest.raises(TypeError, match="needs a span name"), observe():
        pass


def test_spans_inside_the_function_are_its_children(agent: InProcessAgent) -> None:
    with trace.get_tracer("test").start_as_current_span("request"):
        retrieve("q")
    request, outer, inner = (agent.receiver.span(n) for n in ("request", "retrieve", "inner"))
    assert child_of(outer, request)
    assert child_of(inner, outer)


def test_http_request_made_inside_is_a_child_span(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    @observe(name="ask-llm")
    def ask() -> int:
        return requests.post(http_server.url("/v1/chat"), json={"q": "hi"}).status_code

    assert ask() == 200
    (http_span,) = agent.spans(1, name="POST")
    step = agent.receiver.span("ask-llm")
    assert child_of(http_span, step)
    traceparent = http_server.only_request().headers["traceparent"]
    assert traceparent_ids(traceparent) == (step.trace_id, http_span.span_id)


# --- errors -------------------------------------------------------------------------------------


@observe
def fail(error: Exception) -> None:
    raise error


def test_exception_reaches_the_caller_unchanged_and_makes_the_span_an_error(
    agent: InProcessAgent,
) -> None:
    error = Failure("no documents")
    with pytest.raises(Failure) as raised:
        fail(error)
    assert raised.value is error
    (span,) = agent.spans(1, name="fail")
    assert span.status_code == "ERROR"
    assert span.status_message == "Failure: no documents"
    assert span.attributes["error.type"] == f"{__name__}.Failure"
    [(event, attributes)] = span.events
    assert event == "exception"
    assert attributes["exception.message"] == "no documents"


def test_builtin_exception_error_type_is_the_bare_class_name(agent: InProcessAgent) -> None:
    with pytest.raises(KeyError):
        fail(KeyError("k"))
    assert agent.spans(1, name="fail")[0].attributes["error.type"] == "KeyError"


def test_exception_leaving_a_block_makes_its_span_an_error(agent: InProcessAgent) -> None:
    with pytest.raises(Failure), observe("block"):
        raise Failure("boom")
    assert agent.spans(1, name="block")[0].status_code == "ERROR"


# --- async functions ----------------------------------------------------------------------------


@observe
async def fetch(delay: float) -> str:
    await asyncio.sleep(delay)
    inner_step()
    return "fetched"


@observe
async def fetch_failing() -> None:
    await asyncio.sleep(0)
    raise Failure("async")


def test_async_function_is_a_span_around_the_awaited_call(agent: InProcessAgent) -> None:
    assert asyncio.run(fetch(0.01)) == "fetched"
    (span,) = agent.spans(1, name="fetch")
    assert span.duration_s >= 0.01
    assert child_of(agent.receiver.span("inner"), span)


def test_concurrent_async_calls_get_a_span_each_with_its_own_children(
    agent: InProcessAgent,
) -> None:
    async def both() -> list[str]:
        return await asyncio.gather(fetch(0.02), fetch(0.01))

    asyncio.run(both())
    spans = agent.spans(4)
    fetches = [span for span in spans if span.name == "fetch"]
    inners = [span for span in spans if span.name == "inner"]
    assert len(fetches) == 2
    assert sorted(inner.parent_span_id for inner in inners) == sorted(
        span.span_id for span in fetches
    )


def test_async_exception_reaches_the_caller_and_makes_the_span_an_error(
    agent: InProcessAgent,
) -> None:
    with pytest.raises(Failure, match="async"):
        asyncio.run(fetch_failing())
    assert agent.spans(1, name="fetch_failing")[0].status_code == "ERROR"


# --- generators ---------------------------------------------------------------------------------


@observe
def stream(count: int):  # type: ignore[no-untyped-def]
    for number in range(count):
        inner_step()
        yield number


@observe
def stream_failing():  # type: ignore[no-untyped-def]
    yield 1
    raise Failure("mid-stream")


def test_generator_span_lasts_until_the_generator_is_exhausted(agent: InProcessAgent) -> None:
    numbers = stream(2)
    assert next(numbers) == 0
    agent.flush()
    assert [span.name for span in agent.receiver.spans] == ["inner"]
    assert list(numbers) == [1]
    (span,) = agent.spans(1, name="stream")
    assert all(child_of(inner, span) for inner in agent.spans(2, name="inner"))


def test_spans_the_caller_makes_between_items_are_not_children_of_the_generator(
    agent: InProcessAgent,
) -> None:
    for _ in stream(1):
        with trace.get_tracer("test").start_as_current_span("consumer"):
            pass
    generator, consumer = agent.receiver.span("stream"), agent.receiver.span("consumer")
    assert consumer.parent_span_id != generator.span_id


def test_generator_closed_early_ends_its_span_without_error(agent: InProcessAgent) -> None:
    numbers = stream(10)
    next(numbers)
    numbers.close()
    (span,) = agent.spans(1, name="stream")
    assert span.status_code == "UNSET"


def test_generator_exception_reaches_the_caller_and_makes_the_span_an_error(
    agent: InProcessAgent,
) -> None:
    with pytest.raises(Failure, match="mid-stream"):
        list(stream_failing())
    assert agent.spans(1, name="stream_failing")[0].status_code == "ERROR"


def test_abandoned_generator_ends_its_span_when_garbage_collected(agent: InProcessAgent) -> None:
    numbers = stream(10)
    next(numbers)
    del numbers
    gc.collect()
    assert agent.spans(1, name="stream")[0].status_code == "UNSET"


def test_generator_supports_send_and_yield_from(agent: InProcessAgent) -> None:
    @observe
    def echo():  # type: ignore[no-untyped-def]
        received = yield "ready"
        yield f"got {received}"

    def delegate():  # type: ignore[no-untyped-def]
        return (yield from echo())

    conversation = delegate()
    assert next(conversation) == "ready"
    assert conversation.send("hi") == "got hi"
    assert inspect.isgenerator(echo())
    conversation.close()
    assert agent.spans(2, name=echo.__qualname__)


# --- async generators ---------------------------------------------------------------------------


@observe
async def astream(count: int):  # type: ignore[no-untyped-def]
    for number in range(count):
        await asyncio.sleep(0)
        inner_step()
        yield number


@observe
async def astream_failing():  # type: ignore[no-untyped-def]
    yield 1
    raise Failure("async mid-stream")


def test_async_generator_span_lasts_until_the_generator_is_exhausted(
    agent: InProcessAgent,
) -> None:
    async def consume() -> list[int]:
        numbers = astream(3)
        first = await numbers.__anext__()
        agent.flush()
        assert "astream" not in [span.name for span in agent.receiver.spans]
        return [first] + [number async for number in numbers]

    assert asyncio.run(consume()) == [0, 1, 2]
    (span,) = agent.spans(1, name="astream")
    assert all(child_of(inner, span) for inner in agent.spans(3, name="inner"))


def test_async_generator_closed_early_ends_its_span(agent: InProcessAgent) -> None:
    async def consume() -> None:
        numbers = astream(10)
        await numbers.__anext__()
        await numbers.aclose()

    asyncio.run(consume())
    assert agent.spans(1, name="astream")[0].status_code == "UNSET"


def test_async_generator_exception_makes_the_span_an_error(agent: InProcessAgent) -> None:
    async def consume() -> list[int]:
        return [number async for number in astream_failing()]

    with pytest.raises(Failure, match="async mid-stream"):
        asyncio.run(consume())
    assert agent.spans(1, name="astream_failing")[0].status_code == "ERROR"


def test_abandoned_async_generator_ends_its_span_when_garbage_collected(
    agent: InProcessAgent,
) -> None:
    async def consume() -> None:
        numbers = astream(10)
        await numbers.__anext__()

    asyncio.run(consume())
    gc.collect()
    assert agent.spans(1, name="astream")[0].name == "astream"


# --- methods --------------------------------------------------------------------------------------


class Retriever:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @observe
    def search(self, query: str) -> str:
        return self.prefix + query

    @observe
    @staticmethod
    def normalise_above(text: str) -> str:
        return text.lower()

    @staticmethod
    @observe
    def normalise_below(text: str) -> str:
        return text.upper()

    @observe
    @classmethod
    def create_above(cls, prefix: str) -> Retriever:
        return cls(prefix)

    @classmethod
    @observe
    def create_below(cls, prefix: str) -> Retriever:
        return cls(prefix)


def test_method_span_is_named_class_dot_method(agent: InProcessAgent) -> None:
    assert Retriever("> ").search("q") == "> q"
    assert agent.spans(1, name="Retriever.search")


@pytest.mark.parametrize("name", ["normalise_above", "normalise_below"])
def test_staticmethod_works_in_both_decorator_orders(agent: InProcessAgent, name: str) -> None:
    method = getattr(Retriever, name)
    assert method("Ab") in ("ab", "AB")
    assert getattr(Retriever("x"), name)("Ab") == method("Ab")
    assert len(agent.spans(3, name=f"Retriever.{name}")) == 3


@pytest.mark.parametrize("name", ["create_above", "create_below"])
def test_classmethod_works_in_both_decorator_orders(agent: InProcessAgent, name: str) -> None:
    made = getattr(Retriever, name)("p")
    assert isinstance(made, Retriever)
    assert made.prefix == "p"
    assert agent.spans(1, name=f"Retriever.{name}")


# --- introspection ----------------------------------------------------------------------------


def test_decorated_function_keeps_its_identity_for_introspection() -> None:
    assert retrieve.__name__ == "retrieve"
    assert retrieve.__qualname__ == "retrieve"
    assert retrieve.__doc__ == "Find documents."
    assert retrieve.__module__ == __name__
    signature = inspect.signature(retrieve)
    assert signature == inspect.signature(retrieve.__wrapped__)
    assert list(signature.parameters) == ["query", "k"]
    assert inspect.unwrap(retrieve) is retrieve.__wrapped__
    assert inspect.isfunction(retrieve)


@pytest.mark.parametrize(
    ("function", "check"),
    [
        (fetch, inspect.iscoroutinefunction),
        (stream, inspect.isgeneratorfunction),
        (astream, inspect.isasyncgenfunction),
    ],
)
def test_decorated_function_keeps_its_kind(function: object, check: object) -> None:
    assert check(function)  # type: ignore[operator]


def test_decorated_method_signature_leaves_self_out_when_bound() -> None:
    assert list(inspect.signature(Retriever("x").search).parameters) == ["query"]


# --- content capture ----------------------------------------------------------------------------


def test_arguments_and_return_value_are_not_recorded_by_default(agent: InProcessAgent) -> None:
    retrieve("secret")
    attributes = agent.spans(1, name="retrieve")[0].attributes
    assert not [key for key in attributes if key.startswith(("input.", "output."))]


def test_with_content_capture_arguments_and_return_value_are_recorded_as_json(
    agent: InProcessAgent,
) -> None:
    with agent.configured(capture_content=True):
        retrieve("what is otel?", k=2)
    attributes = agent.spans(1, name="retrieve")[0].attributes
    assert json.loads(attributes["input.value"]) == {"query": "what is otel?", "k": 2}
    assert attributes["input.mime_type"] == "application/json"
    assert json.loads(attributes["output.value"]) == ["what is otel?", "what is otel?"]
    assert attributes["output.mime_type"] == "application/json"


def test_captured_method_arguments_leave_self_out_and_text_output_is_plain(
    agent: InProcessAgent,
) -> None:
    with agent.configured(capture_content=True):
        Retriever("> ").search("q")
    attributes = agent.spans(1, name="Retriever.search")[0].attributes
    assert json.loads(attributes["input.value"]) == {"query": "q"}
    assert attributes["output.value"] == "> q"
    assert attributes["output.mime_type"] == "text/plain"


def test_captured_text_is_cut_at_the_maximum_length(agent: InProcessAgent) -> None:
    with agent.configured(capture_content=True, content_max_length=10):
        Retriever("").search("x" * 50)
    attributes = agent.spans(1, name="Retriever.search")[0].attributes
    assert attributes["output.value"] == "x" * 10 + "…[truncated]"


def test_captured_arguments_too_large_as_a_whole_are_cut_and_marked_as_text(
    agent: InProcessAgent,
) -> None:
    with agent.configured(capture_content=True, content_max_length=20):
        rank([str(number) for number in range(50)])
    attributes = agent.spans(1, name="pipeline")[0].attributes
    assert attributes["input.value"] == '{"documents":["0","1…[truncated]'
    assert attributes["input.mime_type"] == "text/plain"


# --- without the agent --------------------------------------------------------------------------

WITHOUT_AGENT = """
    import asyncio, sys
    from opentelemetry import trace
    from llmtrace_agent import attributes, observe

    @observe
    def add(a, b):
        return a + b

    @observe(name="gen")
    def count():
        yield from range(3)

    @observe
    async def later():
        return "later"

    @observe
    def fail():
        raise ValueError("mine")

    with attributes(session_id="s", tags=["t"]), observe("block") as span:
        span.set_attribute("ignored", 1)
        assert add(1, 2) == 3
        assert list(count()) == [0, 1, 2]
        assert asyncio.run(later()) == "later"
    try:
        fail()
    except ValueError as error:
        assert str(error) == "mine"
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    print("ok")
"""


def test_without_the_agent_everything_runs_and_nothing_is_exported(
    receiver: OTLPReceiver,
) -> None:
    import subprocess
    import sys

    from tests.support.agent import clean_env

    result = subprocess.run(
        [sys.executable, *code(WITHOUT_AGENT)],
        env=clean_env({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"
    assert result.stderr == ""
    assert receiver.spans == []


def test_with_the_agent_disabled_everything_runs_and_nothing_is_exported(
    receiver: OTLPReceiver,
) -> None:
    result = run_traced(code(WITHOUT_AGENT), receiver, env={"LLMTRACE_ENABLED": "false"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"
    assert receiver.spans == []


def test_under_the_launcher_observe_spans_are_exported(receiver: OTLPReceiver) -> None:
    source = """
        from llmtrace_agent import observe

        @observe
        def handler():
            with observe("step"):
                pass

        handler()
    """
    result = run_traced(code(source), receiver)
    assert result.returncode == 0, result.stderr
    assert child_of(receiver.span("step"), receiver.span("handler"))


# --- FastAPI, with @observe above and below the route decorator ---------------------------------

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from pydantic import BaseModel  # noqa: E402

app = FastAPI()


class Question(BaseModel):
    text: str


@observe
@app.post("/async/above")
async def answer_above(question: Question, times: int = 1) -> dict[str, str]:
    inner_step()
    return {"answer": question.text * times}


@app.post("/async/below")
@observe
async def answer_below(question: Question, times: int = 1) -> dict[str, str]:
    inner_step()
    return {"answer": question.text * times}


@observe
@app.post("/sync/above")
def answer_sync_above(question: Question, times: int = 1) -> dict[str, str]:
    inner_step()
    return {"answer": question.text * times}


@app.post("/sync/below")
@observe
def answer_sync_below(question: Question, times: int = 1) -> dict[str, str]:
    inner_step()
    return {"answer": question.text * times}


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/async/above", "answer_above"),
        ("/async/below", "answer_below"),
        ("/sync/above", "answer_sync_above"),
        ("/sync/below", "answer_sync_below"),
    ],
)
def test_fastapi_endpoint_serves_and_is_traced_with_observe_in_either_order(
    agent: InProcessAgent, path: str, endpoint: str
) -> None:
    response = TestClient(app).post(path, params={"times": 2}, json={"text": "ab"})
    assert response.status_code == 200, response.text
    assert response.json() == {"answer": "abab"}
    span = agent.receiver.span(endpoint)
    agent.flush()
    assert child_of(agent.receiver.span("inner"), span)


def test_fastapi_still_validates_requests_against_the_signature(agent: InProcessAgent) -> None:
    client = TestClient(app)
    for path in ("/async/above", "/async/below"):
        assert client.post(path, json={"wrong": 1}).status_code == 422
