"""llama_index: real llama-index-core with its OpenAI LLM and embeddings over loopback HTTP to the
fake OpenAI API (a tool call first, the final answer after the tool's result); what the OTLP
receiver got is what is asserted."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM
from llama_index.core.workflow import StartEvent, StopEvent, Workflow, step
from llama_index.embeddings.openai import OpenAIEmbedding
from llama_index.llms.openai import OpenAI

from llmtrace_agent.toolkit import semconv
from tests.support.fake_openai import API_KEY, FakeOpenAI, Reply, chat_chunks, chat_completion
from tests.support.otlp_receiver import ReceivedSpan

MODEL = "gpt-4o-mini"
EMBEDDING_MODEL = "text-embedding-3-small"
DOCUMENTS = ["Paris is the capital of France.", "Rome is the capital of Italy."]


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def broken_weather(city: str) -> str:
    """The weather in a city, from a broken service."""
    raise ValueError("weather service down")


def llm(server: FakeOpenAI) -> OpenAI:
    return OpenAI(model=MODEL, api_key=API_KEY, api_base=server.base_url, max_retries=0)


def embed_model(server: FakeOpenAI) -> OpenAIEmbedding:
    return OpenAIEmbedding(
        model=EMBEDDING_MODEL, api_key=API_KEY, api_base=server.base_url, max_retries=0
    )


def tool_call_then_answer(server: FakeOpenAI) -> None:
    """The model asks for get_weather(city="Paris"), then answers after the tool's result."""
    server.reply(
        Reply(events=chat_chunks(model=MODEL, tool_call=True, usage=True)),
        Reply(events=chat_chunks(model=MODEL, usage=True)),
    )


def traced(agent: Any, count: int) -> list[ReceivedSpan]:
    """Flush; the spans other than HTTP ones (GenAI and query spans), ``count`` of them."""
    agent.flush()

    def ours(span: ReceivedSpan) -> bool:
        return semconv.GEN_AI_OPERATION_NAME in span.attributes or span.name.startswith("query ")

    found = agent.receiver.wait_for_spans(count, 10.0, ours)
    assert len(found) == count, sorted(span.name for span in found)
    return found


def named(spans: list[ReceivedSpan], name: str) -> list[ReceivedSpan]:
    return [span for span in spans if span.name == name]


def chat_requests(server: FakeOpenAI) -> int:
    return sum(1 for request in server.requests if request.path.endswith("/chat/completions"))


# --- agents ------------------------------------------------------------------------------------


def test_function_agent_run_is_an_agent_span_over_its_model_calls_and_tool(agent, fake_openai):
    tool_call_then_answer(fake_openai)
    weather = FunctionAgent(
        name="weather",
        description="Answers weather questions.",
        tools=[get_weather],
        llm=llm(fake_openai),
    )

    answer = asyncio.run(_run(weather, "Weather in Paris?"))

    assert "Hello from the fake server!" in str(answer)
    spans = traced(agent, 4)
    (run,) = named(spans, "invoke_agent weather")
    chats = named(spans, f"chat {MODEL}")
    (tool,) = named(spans, "execute_tool get_weather")
    assert len(chats) == chat_requests(fake_openai) == 2  # one span per model request
    assert {span.trace_id for span in spans} == {run.trace_id}
    assert run.parent_span_id == "" and run.kind == "INTERNAL"
    assert run.attributes[semconv.GEN_AI_AGENT_NAME] == "weather"
    assert run.attributes[semconv.GEN_AI_AGENT_DESCRIPTION] == "Answers weather questions."
    assert run.attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai"  # its LLM's
    assert run.attributes[semconv.GEN_AI_REQUEST_MODEL] == MODEL
    assert all(span.parent_span_id == run.span_id for span in [*chats, tool])
    # The provider's span took the framework's offer: its attributes, and no second chat span.
    assert all(span.attributes[semconv.GEN_AI_AGENT_NAME] == "weather" for span in chats)
    assert all(span.attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai" for span in chats)
    assert tool.kind == "INTERNAL"
    assert tool.attributes[semconv.GEN_AI_TOOL_CALL_ID] == "call_1"
    assert tool.attributes[semconv.GEN_AI_TOOL_TYPE] == "function"
    assert tool.attributes[semconv.GEN_AI_TOOL_DESCRIPTION].startswith("get_weather(city")
    assert semconv.GEN_AI_TOOL_CALL_ARGUMENTS not in tool.attributes  # content is opt-in
    assert semconv.GEN_AI_TOOL_CALL_RESULT not in tool.attributes


def test_tool_content_is_recorded_with_capture_on(agent, fake_openai):
    tool_call_then_answer(fake_openai)
    weather = FunctionAgent(name="weather", tools=[get_weather], llm=llm(fake_openai))

    with agent.configured(capture_content=True):
        asyncio.run(_run(weather, "Weather in Paris?"))

    (tool,) = named(traced(agent, 4), "execute_tool get_weather")
    assert json.loads(tool.attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"city": "Paris"}
    assert tool.attributes[semconv.GEN_AI_TOOL_CALL_RESULT] == "sunny in Paris"


def test_a_raising_tool_is_an_error_span_and_the_agent_goes_on(agent, fake_openai):
    tool_call_then_answer(fake_openai)
    from llama_index.core.tools import FunctionTool

    # Named get_weather like the model's tool call, so the call reaches it.
    tool = FunctionTool.from_defaults(broken_weather, name="get_weather")
    weather = FunctionAgent(name="weather", tools=[tool], llm=llm(fake_openai))

    answer = asyncio.run(_run(weather, "Weather in Paris?"))

    assert "Hello from the fake server!" in str(answer)
    spans = traced(agent, 4)
    (run,) = named(spans, "invoke_agent weather")
    (failed,) = named(spans, "execute_tool get_weather")
    assert failed.status_code == "ERROR"
    assert failed.attributes[semconv.ERROR_TYPE] == "ValueError"
    assert failed.parent_span_id == run.span_id
    assert run.status_code != "ERROR"


def test_agent_workflow_is_a_workflow_span_over_its_agents_turns(agent, fake_openai):
    tool_call_then_answer(fake_openai)
    weather = FunctionAgent(
        name="weather",
        description="Answers weather questions.",
        tools=[get_weather],
        llm=llm(fake_openai),
    )
    workflow = AgentWorkflow(agents=[weather], root_agent="weather")

    asyncio.run(_run(workflow, "Weather in Paris?"))

    spans = traced(agent, 5)
    (run,) = named(spans, "invoke_workflow")  # AgentWorkflow is LlamaIndex's class: no name
    (turn,) = named(spans, "invoke_agent weather")
    chats = named(spans, f"chat {MODEL}")
    (tool,) = named(spans, "execute_tool get_weather")
    assert run.parent_span_id == "" and turn.parent_span_id == run.span_id
    assert turn.attributes[semconv.GEN_AI_AGENT_DESCRIPTION] == "Answers weather questions."
    assert turn.attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert len(chats) == chat_requests(fake_openai) == 2
    assert all(span.parent_span_id == turn.span_id for span in [*chats, tool])
    assert {span.trace_id for span in spans} == {run.trace_id}


def test_an_agent_run_by_a_tool_nests_under_it_with_its_own_tools(agent, fake_openai):
    fake_openai.reply(
        Reply(events=chat_chunks(model=MODEL, tool_call=True, usage=True)),  # boss: the tool
        Reply(events=chat_chunks(model=MODEL, tool_call=True, usage=True)),  # inner: its tool
        Reply(events=chat_chunks(model=MODEL, usage=True)),  # inner: its answer
        Reply(events=chat_chunks(model=MODEL, usage=True)),  # boss: the answer
    )
    model = llm(fake_openai)
    inner = FunctionAgent(name="weather", tools=[get_weather], llm=model)

    async def ask_the_weather_agent(city: str) -> str:
        """Asks the weather agent."""
        return str(await inner.run(user_msg=f"Weather in {city}?"))

    from llama_index.core.tools import FunctionTool

    delegate = FunctionTool.from_defaults(async_fn=ask_the_weather_agent, name="get_weather")
    boss = FunctionAgent(name="boss", tools=[delegate], llm=model)

    asyncio.run(_run(boss, "Weather in Paris?"))

    spans = traced(agent, 8)
    (outer,) = named(spans, "invoke_agent boss")
    (nested,) = named(spans, "invoke_agent weather")
    tools = sorted(named(spans, "execute_tool get_weather"), key=lambda span: span.start_ns)
    assert len(tools) == 2
    assert len(named(spans, f"chat {MODEL}")) == chat_requests(fake_openai) == 4
    assert tools[0].parent_span_id == outer.span_id
    assert nested.parent_span_id == tools[0].span_id
    assert tools[1].parent_span_id == nested.span_id
    assert {span.trace_id for span in spans} == {outer.trace_id}


def handoff_chunks(to_agent: str) -> list[dict[str, Any]]:
    """A streamed tool call of AgentWorkflow's ``handoff`` tool."""
    events = chat_chunks(model=MODEL, tool_call=True, usage=True)
    arguments = json.dumps({"to_agent": to_agent, "reason": "it knows the weather"})
    for event in events:
        for choice in event["choices"]:
            for call in choice["delta"].get("tool_calls", []):
                if "id" in call:
                    call.update(id="call_0", function={"name": "handoff", "arguments": arguments})
                else:
                    call["function"]["arguments"] = ""
    return events


def test_a_handoff_ends_one_agents_turn_and_starts_the_next(agent, fake_openai):
    fake_openai.reply(
        Reply(events=handoff_chunks("weather")),
        Reply(events=chat_chunks(model=MODEL, tool_call=True, usage=True)),
        Reply(events=chat_chunks(model=MODEL, usage=True)),
    )
    model = llm(fake_openai)
    router = FunctionAgent(
        name="router", description="Routes questions.", llm=model, can_handoff_to=["weather"]
    )
    weather = FunctionAgent(
        name="weather", description="Answers weather questions.", tools=[get_weather], llm=model
    )
    workflow = AgentWorkflow(agents=[router, weather], root_agent="router")

    asyncio.run(_run(workflow, "Weather in Paris?"))

    spans = traced(agent, 8)
    (run,) = named(spans, "invoke_workflow")
    (first,) = named(spans, "invoke_agent router")
    (second,) = named(spans, "invoke_agent weather")
    (handoff,) = named(spans, "execute_tool handoff")
    (tool,) = named(spans, "execute_tool get_weather")
    chats = sorted(named(spans, f"chat {MODEL}"), key=lambda span: span.start_ns)
    assert len(chats) == chat_requests(fake_openai) == 3
    assert first.parent_span_id == second.parent_span_id == run.span_id
    assert first.end_ns <= second.start_ns
    assert [span.parent_span_id for span in chats] == [first.span_id, *[second.span_id] * 2]
    assert handoff.parent_span_id == first.span_id and tool.parent_span_id == second.span_id
    assert handoff.attributes[semconv.GEN_AI_TOOL_CALL_ID] == "call_0"
    assert [span.attributes[semconv.GEN_AI_AGENT_NAME] for span in chats] == [
        "router",
        "weather",
        "weather",
    ]


def test_react_agent_run_with_a_tool(agent, fake_openai):
    from llama_index.core.agent.workflow import ReActAgent

    fake_openai.reply(
        Reply(
            events=chat_chunks(
                model=MODEL,
                pieces=(
                    "Thought: I need the weather.\n",
                    "Action: get_weather\n",
                    'Action Input: {"city": "Paris"}\n',
                ),
                usage=True,
            )
        ),
        Reply(
            events=chat_chunks(
                model=MODEL,
                pieces=("Thought: I can answer.\n", "Answer: sunny in Paris"),
                usage=True,
            )
        ),
    )
    react = ReActAgent(name="reasoner", tools=[get_weather], llm=llm(fake_openai))

    answer = asyncio.run(_run(react, "Weather in Paris?"))

    assert "sunny in Paris" in str(answer)
    spans = traced(agent, 4)
    (run,) = named(spans, "invoke_agent reasoner")
    (tool,) = named(spans, "execute_tool get_weather")
    chats = named(spans, f"chat {MODEL}")
    assert len(chats) == chat_requests(fake_openai) == 2
    assert all(span.parent_span_id == run.span_id for span in [*chats, tool])
    assert tool.status_code != "ERROR"


def test_a_workflow_of_the_apps_own_is_named_after_its_class(agent, fake_openai):
    model = llm(fake_openai)

    class Summarize(Workflow):
        @step
        async def summarize(self, ev: StartEvent) -> StopEvent:
            answer = await model.achat([ChatMessage(role="user", content=ev.topic)])
            return StopEvent(result=str(answer))

    asyncio.run(_run_workflow(Summarize(), topic="Paris"))

    spans = traced(agent, 2)
    (run,) = named(spans, "invoke_workflow Summarize")
    (chat,) = named(spans, f"chat {MODEL}")
    assert run.attributes[semconv.GEN_AI_WORKFLOW_NAME] == "Summarize"
    assert chat.parent_span_id == run.span_id


async def _run(workflow: Any, message: str) -> Any:
    return await workflow.run(user_msg=message)


async def _run_workflow(workflow: Any, **start: Any) -> Any:
    return await workflow.run(**start)


def test_streamed_agent_events_end_with_the_run(agent, fake_openai):
    tool_call_then_answer(fake_openai)
    weather = FunctionAgent(name="weather", tools=[get_weather], llm=llm(fake_openai))

    async def stream() -> list[Any]:
        handler = weather.run(user_msg="Weather in Paris?")
        events = [event async for event in handler.stream_events()]
        await handler
        return events

    assert asyncio.run(stream())
    spans = traced(agent, 4)
    (run,) = named(spans, "invoke_agent weather")
    assert all(span.trace_id == run.trace_id for span in spans)
    assert all(span.parent_span_id == run.span_id for span in spans if span is not run)


# --- model calls -------------------------------------------------------------------------------


def test_a_model_call_is_the_providers_span_only(agent, fake_openai):
    fake_openai.reply(Reply(body=chat_completion(model=MODEL)))

    response = llm(fake_openai).chat([ChatMessage(role="user", content="Hi")])

    assert response.message.content == "Hello from the fake server!"
    (chat,) = traced(agent, 1)
    assert chat.name == f"chat {MODEL}" and chat.kind == "CLIENT"
    assert chat.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12


def test_stream_chat_keeps_the_callers_parent_and_ends_when_consumed(agent, fake_openai):
    from opentelemetry import trace

    fake_openai.reply(Reply(events=chat_chunks(model=MODEL, usage=True)))
    tracer = trace.get_tracer("tests.app")
    with tracer.start_as_current_span("app") as app:
        stream = llm(fake_openai).stream_chat([ChatMessage(role="user", content="Hi")])
    text = "".join(chunk.delta or "" for chunk in stream)  # consumed outside the app span

    assert text == "Hello from the fake server!"
    (chat,) = traced(agent, 1)
    assert chat.parent_span_id == format(app.get_span_context().span_id, "016x")
    assert chat.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


def test_async_stream_chat_is_one_provider_span(agent, fake_openai):
    fake_openai.reply(Reply(events=chat_chunks(model=MODEL, usage=True)))

    async def stream() -> str:
        response = await llm(fake_openai).astream_chat([ChatMessage(role="user", content="Hi")])
        return "".join([chunk.delta or "" async for chunk in response])

    assert asyncio.run(stream()) == "Hello from the fake server!"
    (chat,) = traced(agent, 1)
    assert chat.name == f"chat {MODEL}"


def test_a_model_no_provider_instrumentor_sees_gets_one_framework_span(agent):
    mock = MockLLM(max_tokens=5)

    mock.chat([ChatMessage(role="user", content="Hi")])  # chat is built on complete: one call
    "".join(chunk.delta or "" for chunk in mock.stream_complete("Hi"))

    chat, completion = sorted(traced(agent, 2), key=lambda span: span.start_ns)
    assert chat.name == "chat" and completion.name == "text_completion"
    assert chat.kind == completion.kind == "CLIENT"
    assert chat.attributes[semconv.GEN_AI_PROVIDER_NAME] == "llama_index"
    assert chat.parent_span_id == ""


@pytest.mark.parametrize("capture", [False, True])
def test_a_framework_model_span_has_content_only_with_capture_on(agent, capture):
    with agent.configured(capture_content=capture):
        MockLLM(max_tokens=3).chat([ChatMessage(role="user", content="Hi there")])

    (chat,) = traced(agent, 1)
    if capture:
        assert json.loads(chat.attributes[semconv.GEN_AI_INPUT_MESSAGES]) == [
            {"role": "user", "parts": [{"type": "text", "content": "Hi there"}]}
        ]
        (output,) = json.loads(chat.attributes[semconv.GEN_AI_OUTPUT_MESSAGES])
        assert output["role"] == "assistant" and output["parts"][0]["type"] == "text"
    else:
        assert semconv.GEN_AI_INPUT_MESSAGES not in chat.attributes
        assert semconv.GEN_AI_OUTPUT_MESSAGES not in chat.attributes


def test_a_closed_stream_ends_its_span(agent):
    stream = MockLLM(max_tokens=5).stream_complete("Hi")
    next(stream)
    stream.close()

    (completion,) = traced(agent, 1)
    assert completion.name == "text_completion" and completion.status_code != "ERROR"


def test_an_abandoned_streamed_query_answer_still_ends_the_query_span(agent):
    index = VectorStoreIndex.from_documents(
        [Document(text=text) for text in DOCUMENTS], embed_model=MockEmbedding(embed_dim=3)
    )
    engine = index.as_query_engine(llm=MockLLM(max_tokens=5), streaming=True)
    agent.flush()
    agent.receiver.clear()

    response = engine.query("capital of France")
    next(response.response_gen)
    del response
    gc.collect()

    spans = traced(agent, 4)  # query, its embedding, retrieval and completion
    (query,) = named(spans, "query RetrieverQueryEngine")
    assert all(span.trace_id == query.trace_id for span in spans)


def test_an_abandoned_stream_still_ends_its_span(agent):
    stream = MockLLM(max_tokens=5).stream_complete("Hi")
    next(stream)
    del stream
    gc.collect()

    (completion,) = traced(agent, 1)
    assert completion.name == "text_completion"


# --- retrieval and query engines ---------------------------------------------------------------


@pytest.mark.parametrize("capture", [False, True])
def test_query_engine_over_a_vector_index(agent, fake_openai, capture):
    index = VectorStoreIndex.from_documents(
        [Document(text=text, id_=f"doc-{i}") for i, text in enumerate(DOCUMENTS)],
        embed_model=embed_model(fake_openai),
    )
    index.set_index_id("capitals")
    engine = index.as_query_engine(llm=llm(fake_openai), similarity_top_k=1)
    agent.flush()
    agent.receiver.clear()
    fake_openai.clear()

    with agent.configured(capture_content=capture):
        answer = engine.query("What is the capital of France?")

    assert str(answer) == "Hello from the fake server!"
    spans = traced(agent, 4)
    (query,) = named(spans, "query RetrieverQueryEngine")
    (retrieval,) = named(spans, "retrieval capitals")
    (embedding,) = named(spans, f"embeddings {EMBEDDING_MODEL}")
    (chat,) = named(spans, f"chat {MODEL}")
    assert len(fake_openai.requests) == 2  # one embeddings request, one chat request
    assert query.kind == retrieval.kind == "INTERNAL" and query.parent_span_id == ""
    assert all(span.parent_span_id == query.span_id for span in (retrieval, embedding, chat))
    assert retrieval.attributes[semconv.GEN_AI_OPERATION_NAME] == "retrieval"
    assert retrieval.attributes[semconv.GEN_AI_DATA_SOURCE_ID] == "capitals"
    assert retrieval.attributes[semconv.GEN_AI_REQUEST_TOP_K] == 1
    if capture:
        text = retrieval.attributes[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT]
        assert text == "What is the capital of France?"
        (document,) = json.loads(retrieval.attributes[semconv.GEN_AI_RETRIEVAL_DOCUMENTS])
        assert set(document) == {"id", "score"}
    else:
        assert semconv.GEN_AI_RETRIEVAL_QUERY_TEXT not in retrieval.attributes
        assert semconv.GEN_AI_RETRIEVAL_DOCUMENTS not in retrieval.attributes


def test_a_streamed_query_answer_ends_the_query_span_when_consumed(agent, fake_openai):
    index = VectorStoreIndex.from_documents(
        [Document(text=text) for text in DOCUMENTS], embed_model=embed_model(fake_openai)
    )
    engine = index.as_query_engine(llm=llm(fake_openai), streaming=True, similarity_top_k=1)
    agent.flush()
    agent.receiver.clear()
    fake_openai.clear()

    response = engine.query("What is the capital of France?")
    agent.flush()
    assert not [s for s in agent.receiver.spans if s.name.startswith("query ")]  # still open
    text = "".join(response.response_gen)

    assert text == "Hello from the fake server!"
    spans = traced(agent, 4)
    (query,) = named(spans, "query RetrieverQueryEngine")
    chats = [span for span in spans if span.name.startswith("chat")]
    assert len(chats) == chat_requests(fake_openai) == 1
    assert chats[0].parent_span_id == query.span_id


def test_mock_embeddings_get_a_framework_embeddings_span(agent):
    index = VectorStoreIndex.from_documents(
        [Document(text=text) for text in DOCUMENTS], embed_model=MockEmbedding(embed_dim=3)
    )
    agent.flush()
    agent.receiver.clear()

    nodes = index.as_retriever(similarity_top_k=2).retrieve("capital of France")

    assert len(nodes) == 2
    spans = traced(agent, 2)
    (embedding,) = [span for span in spans if span.name.startswith("embeddings")]
    (retrieval,) = [span for span in spans if span.name.startswith("retrieval")]
    assert embedding.kind == "CLIENT"
    assert embedding.attributes[semconv.GEN_AI_PROVIDER_NAME] == "llama_index"
    # The retrieval span is made once the search is over and nobody else traced it, so the
    # query's embedding, made before, is beside it rather than under it.
    assert embedding.start_ns >= retrieval.start_ns


def test_a_traced_vector_store_takes_the_retrievers_search(agent):
    """A store instrumentor underneath (here one made with the toolkit for LlamaIndex's own
    SimpleVectorStore) makes the one retrieval span; the retriever makes none of its own."""
    from llama_index.core.vector_stores import SimpleVectorStore

    from llmtrace_agent.toolkit.instrumentor import Instrumentor
    from llmtrace_agent.toolkit.vector_store import StoreCall, StoreResult, store_wrapper

    def describe(instance: object, args: tuple[object, ...], kwargs: dict) -> StoreCall:
        query = args[0] if args else kwargs["query"]
        return StoreCall("simple", "query", "memory", search=True, top_k=query.similarity_top_k)

    def read_result(call: StoreCall, result: Any) -> StoreResult:
        return StoreResult(returned=len(result.ids or []))

    store = Instrumentor()
    store.name = "test_store"
    store.wrap(SimpleVectorStore, "query", store_wrapper(store, describe, read_result))
    try:
        index = VectorStoreIndex.from_documents(
            [Document(text=text) for text in DOCUMENTS], embed_model=MockEmbedding(embed_dim=3)
        )
        index.set_index_id("capitals")
        agent.flush()
        agent.receiver.clear()

        index.as_retriever(similarity_top_k=1).retrieve("capital of France")
    finally:
        store.uninstrument(None)  # type: ignore[arg-type]

    spans = traced(agent, 2)
    (search,) = [span for span in spans if span.name.startswith("retrieval")]
    assert search.name == "retrieval memory" and search.kind == "CLIENT"
    assert search.attributes[semconv.GEN_AI_REQUEST_TOP_K] == 1
    assert search.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 1


def test_an_async_streamed_query_answer_ends_the_query_span_when_consumed(agent, fake_openai):
    index = VectorStoreIndex.from_documents(
        [Document(text=text) for text in DOCUMENTS], embed_model=embed_model(fake_openai)
    )
    engine = index.as_query_engine(llm=llm(fake_openai), streaming=True, similarity_top_k=1)
    agent.flush()
    agent.receiver.clear()
    fake_openai.clear()

    async def ask() -> str:
        response = await engine.aquery("What is the capital of France?")
        return "".join([token async for token in response.response_gen])

    assert asyncio.run(ask()) == "Hello from the fake server!"
    spans = traced(agent, 4)
    (query,) = named(spans, "query RetrieverQueryEngine")
    (chat,) = [span for span in spans if span.name.startswith("chat")]
    assert chat_requests(fake_openai) == 1
    assert chat.parent_span_id == query.span_id
    assert query.end_ns >= chat.end_ns
