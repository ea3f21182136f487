"""What the langchain tests share: a weather tool, chat models on the loopback fake, and readers
of the span tree the receiver got."""

from __future__ import annotations

import inspect
from typing import Any

import httpx
import pytest
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from llmtrace_agent.toolkit import semconv
from tests.support.fake_openai import API_KEY, FakeOpenAI, Reply, chat_chunks, chat_completion

QUESTION = {"messages": [("user", "What is the weather in Paris?")]}
ANSWER = "It is sunny in Paris"


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@tool
def broken_weather(city: str) -> str:
    """The weather in a city, from a station that is down."""
    raise ConnectionError(f"no station in {city}")


def chat_model(server: FakeOpenAI, **options: Any) -> ChatOpenAI:
    """ChatOpenAI on the fake; its own async HTTP client (each test runs its own event loop)."""
    return ChatOpenAI(
        model="gpt-4o-mini",
        base_url=server.base_url,
        api_key=API_KEY,
        max_retries=0,
        http_async_client=httpx.AsyncClient(),
        **options,
    )


def tool_call_then_answer(server: FakeOpenAI, streamed: bool = False) -> None:
    """The issue's scenario: the model asks for the tool, then answers from its result."""
    if streamed:
        server.reply(
            Reply(events=chat_chunks(tool_call=True, usage=True)),
            Reply(events=chat_chunks(pieces=(ANSWER,), usage=True)),
        )
    else:
        server.reply(
            Reply(body=chat_completion(tool_call=True)),
            Reply(body=chat_completion(content=ANSWER)),
        )


def named(factory: Any, *args: Any, name: str = "weather") -> Any:
    """``factory(*args, name=name)``: a graph named ``name`` (LangGraph before 0.3 had no
    ``name`` argument: the graph's ``name`` attribute, which it reads, is set instead)."""
    if "name" in inspect.signature(factory).parameters:
        return factory(*args, name=name)
    graph = factory(*args)
    graph.name = name
    return graph


class Tree:
    """The spans of one test, by name and by parent."""

    def __init__(self, spans: list[Any]) -> None:
        self.spans = spans
        self.by_id = {span.span_id: span for span in spans}

    def named(self, name: str) -> list[Any]:
        return [span for span in self.spans if span.name == name]

    def one(self, name: str) -> Any:
        (found,) = self.named(name)
        return found

    def parent(self, span: Any) -> Any:
        return self.by_id.get(span.parent_span_id)

    def ancestors(self, span: Any) -> list[Any]:
        found = []
        while (span := self.parent(span)) is not None:
            found.append(span)
        return found

    def roots(self) -> list[Any]:
        return [span for span in self.spans if span.parent_span_id not in self.by_id]

    def operation(self, name: str) -> list[Any]:
        return [s for s in self.spans if s.attributes.get(semconv.GEN_AI_OPERATION_NAME) == name]


def tree_of(agent: Any, count: int, timeout: float = 10.0) -> Tree:
    """Flush, then the tree of at least ``count`` spans (HTTP spans left out)."""
    agent.flush()
    return Tree(agent.receiver.wait_for_spans(count, timeout, lambda span: not is_http(span)))


def is_http(span: Any) -> bool:
    """An HTTP client span (under a model span): left out of the trees these tests check."""
    return span.kind == "CLIENT" and semconv.GEN_AI_OPERATION_NAME not in span.attributes


def skip_without_v3(runnable: Any) -> None:
    """Skip unless ``runnable`` has ``stream_events(version="v3")`` (langchain-core 1.8,
    langgraph 1.2)."""
    method = getattr(runnable, "stream_events", None)
    if method is None or "v3" not in str(inspect.signature(method).parameters["version"]):
        pytest.skip("no stream_events(version='v3') in this release")
