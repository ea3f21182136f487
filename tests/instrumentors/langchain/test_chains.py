"""Chains, graphs, fake models and retrievers: the spans LangChain runs get besides agents."""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import operator
import time
from typing import Annotated, TypedDict

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever

from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.genai.delegation import RETRIEVAL, take
from tests.instrumentors.langchain.scenario import (
    chat_model,
    named,
    skip_without_v3,
    tree_of,
)

PROMPT = ChatPromptTemplate.from_messages([("user", "Say hello to {name}")])


def fake_model(*replies: str) -> GenericFakeChatModel:
    """A LangChain chat model that calls no provider: no instrumentor beneath takes its calls."""
    return GenericFakeChatModel(messages=iter([AIMessage(content=reply) for reply in replies]))


def test_a_chain_is_one_root_span_over_the_provider_model_span(agent, fake_openai):
    chain = PROMPT | chat_model(fake_openai) | StrOutputParser()

    assert chain.invoke({"name": "Ada"}) == "Hello from the fake server!"

    tree = tree_of(agent, 2)
    (root,) = tree.roots()
    assert root.name == "RunnableSequence" and root.kind == "INTERNAL"
    (chat,) = tree.operation("chat")
    assert len(fake_openai.requests) == 1
    assert chat.scope == "llmtrace_agent.openai"
    assert tree.parent(chat) is root
    assert len(tree.spans) == 2  # no span for the prompt or the parser


@pytest.mark.parametrize("mode", ["batch", "abatch"])
def test_each_chain_of_a_batch_holds_its_own_provider_model_span(agent, fake_openai, mode):
    """``batch`` runs each input's model call in a worker thread (``abatch``: a task) where no
    span is current: the provider's span still nests under its own chain's span."""
    chain = PROMPT | chat_model(fake_openai) | StrOutputParser()
    inputs = [{"name": "Ada"}, {"name": "Bob"}]

    answers = chain.batch(inputs) if mode == "batch" else asyncio.run(chain.abatch(inputs))

    assert answers == ["Hello from the fake server!"] * 2
    tree = tree_of(agent, 4)
    roots = tree.roots()
    assert [root.name for root in roots] == ["RunnableSequence"] * 2
    chats = tree.operation("chat")
    assert len(chats) == len(fake_openai.requests) == 2
    assert sorted(tree.parent(chat).span_id for chat in chats) == sorted(
        root.span_id for root in roots
    )


def test_a_model_nobody_traces_gets_one_span_from_langchain(agent):
    chain = PROMPT | fake_model("Hello Ada") | StrOutputParser()

    assert chain.invoke({"name": "Ada"}) == "Hello Ada"

    tree = tree_of(agent, 2)
    (root,) = tree.roots()
    (chat,) = tree.operation("chat")
    assert chat.scope == "llmtrace_agent.langchain"
    assert chat.kind == "CLIENT"
    assert tree.parent(chat) is root
    assert chat.start_ns >= root.start_ns and chat.end_ns <= root.end_ns


def streamed_text(model, mode):
    """The model's answer to "hi", streamed the way ``mode`` says."""
    if mode == "stream":
        return "".join(chunk.content for chunk in model.stream("hi"))
    if mode == "astream":

        async def consume():
            return "".join([chunk.content async for chunk in model.astream("hi")])

        return asyncio.run(consume())
    if mode == "ainvoke":
        return asyncio.run(model.ainvoke("hi")).content
    skip_without_v3(model)
    if mode == "stream_events_v3":
        return "".join(model.stream_events("hi", version="v3").text)

    async def consume_v3():
        stream = model.astream_events("hi", version="v3")
        stream = await stream if inspect.isawaitable(stream) else stream
        return "".join([text async for text in stream.text])

    return asyncio.run(consume_v3())


V3_MODES = ["stream_events_v3", "astream_events_v3"]


@pytest.mark.parametrize("mode", ["stream", "astream", "ainvoke", *V3_MODES])
def test_a_streamed_model_nobody_traces_gets_one_span(agent, mode):
    model = fake_model("Hello Ada, how are you")
    text = streamed_text(model, mode)

    assert text == "Hello Ada, how are you"
    tree = tree_of(agent, 1)
    (chat,) = tree.spans
    assert chat.attributes[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert chat.scope == "llmtrace_agent.langchain"


@pytest.mark.parametrize("mode", ["stream", "astream", *V3_MODES])
def test_a_streamed_provider_model_has_only_the_provider_span(agent, fake_openai, mode):
    from tests.support.fake_openai import Reply, chat_chunks

    fake_openai.reply(Reply(events=chat_chunks(usage=True)))
    model = chat_model(fake_openai, stream_usage=True)
    text = streamed_text(model, mode)

    assert text == "Hello from the fake server!"
    tree = tree_of(agent, 1)
    time.sleep(0.2)  # a second, duplicate span would have arrived by now
    tree = tree_of(agent, 1)
    (chat,) = tree.spans
    assert chat.scope == "llmtrace_agent.openai"
    assert chat.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


class State(TypedDict):
    topic: str
    notes: Annotated[list[str], operator.add]


def research_graph(model_a, model_b, name=None):
    """A StateGraph whose two nodes run in parallel (LangGraph's thread pool, or tasks)."""
    from langgraph.graph import END, START, StateGraph

    def facts(state: State) -> dict:
        return {"notes": [model_a.invoke(f"facts about {state['topic']}").content]}

    async def afacts(state: State) -> dict:
        return {"notes": [(await model_a.ainvoke(f"facts about {state['topic']}")).content]}

    def jokes(state: State) -> dict:
        return {"notes": [model_b.invoke(f"jokes about {state['topic']}").content]}

    async def ajokes(state: State) -> dict:
        return {"notes": [(await model_b.ainvoke(f"jokes about {state['topic']}")).content]}

    from langchain_core.runnables import RunnableLambda

    builder = StateGraph(State)
    builder.add_node("facts", RunnableLambda(facts, afunc=afacts))
    builder.add_node("jokes", RunnableLambda(jokes, afunc=ajokes))
    builder.add_edge(START, "facts")
    builder.add_edge(START, "jokes")
    builder.add_edge("facts", END)
    builder.add_edge("jokes", END)
    return named(builder.compile, name=name) if name else builder.compile()


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_parallel_graph_nodes_stay_in_the_graph_trace(agent, fake_openai, mode):
    graph = research_graph(chat_model(fake_openai), chat_model(fake_openai), name="research")
    config = {"configurable": {"thread_id": "t-42"}}
    if mode == "invoke":
        result = graph.invoke({"topic": "owls", "notes": []}, config)
    else:
        result = asyncio.run(graph.ainvoke({"topic": "owls", "notes": []}, config))

    assert len(result["notes"]) == 2
    tree = tree_of(agent, 5)
    (root,) = tree.roots()
    assert root.name == "invoke_workflow research"
    assert root.attributes[semconv.GEN_AI_OPERATION_NAME] == "invoke_workflow"
    assert root.attributes[semconv.GEN_AI_WORKFLOW_NAME] == "research"
    assert root.attributes[semconv.GEN_AI_CONVERSATION_ID] == "t-42"
    chats = tree.operation("chat")
    assert len(chats) == len(fake_openai.requests) == 2
    assert sorted(tree.parent(chat).name for chat in chats) == ["facts", "jokes"]
    for chat in chats:
        assert tree.parent(tree.parent(chat)) is root
        assert chat.attributes[semconv.GEN_AI_CONVERSATION_ID] == "t-42"
    assert len({span.trace_id for span in tree.spans}) == 1


def test_an_unnamed_graph_is_a_langgraph_workflow(agent):
    graph = research_graph(fake_model("a"), fake_model("b"))

    graph.invoke({"topic": "owls", "notes": []})

    tree = tree_of(agent, 5)
    (root,) = tree.roots()
    assert root.name == "invoke_workflow LangGraph"  # LangGraph's own default, never a class
    assert len(tree.operation("chat")) == 2  # untaken: LangChain's own model spans


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_a_graph_interrupted_and_resumed_is_two_runs_without_callback_errors(
    agent, fake_openai, caplog, mode
):
    """LangGraph 1.2 tells its own graph-lifecycle handlers of interrupts and resumes, through
    managers of its own: our handler is not one of them (else LangChain logs an error for each
    event it lacks, into the app's logs)."""
    types = pytest.importorskip("langgraph.types")
    if not hasattr(types, "interrupt"):
        pytest.skip("this LangGraph has no interrupt()")
    from langgraph.checkpoint.memory import MemorySaver
    from langgraph.graph import START, StateGraph

    model = chat_model(fake_openai)

    def revise(state: dict) -> dict:
        edited = types.interrupt({"text_to_revise": state["text"]})
        return {"text": model.invoke(f"Revise: {edited}").content}

    builder = StateGraph(Draft)
    builder.add_node("revise", revise)
    builder.add_edge(START, "revise")
    graph = builder.compile(checkpointer=MemorySaver())
    config = {"configurable": {"thread_id": "draft-1"}}
    run = graph.invoke if mode == "invoke" else lambda *a: asyncio.run(graph.ainvoke(*a))

    paused = run({"text": "original"}, config)
    done = run(types.Command(resume="edited"), config)

    assert "__interrupt__" in paused and done == {"text": "Hello from the fake server!"}
    assert not [r for r in caplog.records if "callback" in r.getMessage()], caplog.text
    tree = tree_of(agent, 5)
    roots = tree.roots()
    assert [root.name for root in roots] == ["invoke_workflow LangGraph"] * 2
    assert all(root.status_code == "UNSET" for root in roots)  # an interrupt is no error
    (chat,) = tree.operation("chat")
    assert len(fake_openai.requests) == 1
    assert tree.parent(chat).name == "revise" and tree.parent(tree.parent(chat)) is roots[1]


class Draft(TypedDict):
    text: str


class Shelf(BaseRetriever):
    """A retriever over two documents; ``traced_store`` plays a vector store traced beneath."""

    traced_store: bool = False

    def _get_relevant_documents(self, query: str, *, run_manager=None) -> list[Document]:
        if self.traced_store:
            take(RETRIEVAL)  # what a vector-store instrumentor does when it starts its span
        return [
            Document(id="doc-1", page_content=f"{query}: owls hunt at night"),
            Document(id="doc-2", page_content="owls have big eyes"),
        ]


@pytest.mark.parametrize("capture", [False, True])
def test_a_retriever_is_a_retrieval_span(agent, capture):
    with agent.configured(capture_content=capture):
        documents = Shelf().invoke("owls")

    assert len(documents) == 2
    (span,) = tree_of(agent, 1).spans
    assert span.name == "retrieval Shelf"
    assert span.kind == "INTERNAL"
    assert span.attributes[semconv.GEN_AI_OPERATION_NAME] == "retrieval"
    assert span.attributes[semconv.GEN_AI_DATA_SOURCE_ID] == "Shelf"
    assert span.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 2
    if capture:
        assert span.attributes[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT] == "owls"
        found = json.loads(span.attributes[semconv.GEN_AI_RETRIEVAL_DOCUMENTS])
        assert [document["id"] for document in found] == ["doc-1", "doc-2"]
    else:
        assert semconv.GEN_AI_RETRIEVAL_QUERY_TEXT not in span.attributes
        assert semconv.GEN_AI_RETRIEVAL_DOCUMENTS not in span.attributes


def test_a_retriever_over_a_traced_store_leaves_the_span_to_the_store(agent):
    retriever = Shelf(traced_store=True)

    (PROMPT | fake_model("ok")).invoke({"name": "x"})  # a trace to wait for
    assert len(asyncio.run(retriever.ainvoke("owls"))) == 2

    tree = tree_of(agent, 2)
    assert not tree.operation("retrieval")


@pytest.mark.parametrize("mode", ["invoke", "stream", "abatch"])
def test_a_legacy_llm_nobody_traces_gets_one_span_per_call(agent, mode):
    from langchain_core.language_models.fake import FakeListLLM

    llm = FakeListLLM(responses=["Hello Ada", "Hello Bob"])
    if mode == "invoke":
        assert llm.invoke("hi") == "Hello Ada"
        calls = 1
    elif mode == "stream":
        assert "".join(llm.stream("hi")) == "Hello Ada"
        calls = 1
    else:
        assert asyncio.run(llm.abatch(["hi", "ho"])) == ["Hello Ada", "Hello Bob"]
        calls = 2

    spans = tree_of(agent, calls).spans
    assert len(spans) == calls
    for span in spans:
        assert span.attributes[semconv.GEN_AI_OPERATION_NAME] == "text_completion"
        assert span.scope == "llmtrace_agent.langchain"


def test_a_legacy_provider_llm_has_only_the_provider_span(agent, fake_openai):
    from langchain_openai import OpenAI

    from tests.support.fake_openai import API_KEY

    llm = OpenAI(model="gpt-3.5-turbo-instruct", base_url=fake_openai.base_url, api_key=API_KEY)
    assert llm.invoke("hi") == "Hello from the fake server!"

    tree_of(agent, 1)
    time.sleep(0.2)  # a second, duplicate span would have arrived by now
    (span,) = tree_of(agent, 1).spans
    assert span.name == "text_completion gpt-3.5-turbo-instruct"
    assert span.scope == "llmtrace_agent.openai"


def test_a_model_stream_abandoned_ends_its_span_without_error(agent):
    chunks = fake_model("Hello Ada, how are you").stream("hi")
    assert next(chunks).content == "Hello"
    del chunks  # left unfinished: garbage collection closes it
    gc.collect()

    (chat,) = tree_of(agent, 1).spans
    assert chat.attributes[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert chat.status_code != "ERROR"


def test_a_graph_stream_abandoned_ends_its_spans(agent):
    steps = research_graph(fake_model("a"), fake_model("b"), name="research").stream(
        {"topic": "owls", "notes": []}, stream_mode="updates"
    )
    assert next(steps)
    del steps
    gc.collect()

    tree = tree_of(agent, 5)
    root = tree.one("invoke_workflow research")
    assert root.status_code != "ERROR"
    assert root.end_ns >= max(span.end_ns for span in tree.spans if span is not root)


IMAGE = "iVBORw0KGgo" + "A" * 4000  # base64 of an image: never exported


@pytest.mark.parametrize("capture", [False, True])
def test_messages_on_langchains_own_model_span_only_with_capture(agent, capture):
    from langchain_core.messages import HumanMessage, SystemMessage

    question = HumanMessage(
        content=[
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{IMAGE}"}},
        ]
    )
    with agent.configured(capture_content=capture):
        fake_model("A cat").invoke([SystemMessage(content="Be brief"), question])

    (chat,) = tree_of(agent, 1).spans
    if not capture:
        assert semconv.GEN_AI_INPUT_MESSAGES not in chat.attributes
        assert semconv.GEN_AI_OUTPUT_MESSAGES not in chat.attributes
        assert b"What is in this picture" not in agent.receiver.all_bytes()
        return
    system, user = json.loads(chat.attributes[semconv.GEN_AI_INPUT_MESSAGES])
    assert system == {"role": "system", "parts": [{"type": "text", "content": "Be brief"}]}
    assert user["role"] == "user"
    text, image = user["parts"]
    assert text == {"type": "text", "content": "What is in this picture?"}
    assert image["type"] == "blob" and image["modality"] == "image"
    (answer,) = json.loads(chat.attributes[semconv.GEN_AI_OUTPUT_MESSAGES])
    assert answer == {
        "role": "assistant",
        "parts": [{"type": "text", "content": "A cat"}],
        "finish_reason": "stop",
    }
    assert IMAGE.encode() not in agent.receiver.all_bytes()


def test_runs_whose_end_never_comes_do_not_pile_up(agent, monkeypatch):
    from uuid import uuid4

    from langchain_core.callbacks import CallbackManager

    from llmtrace_agent.instrumentors.langchain._runs import RunTree

    monkeypatch.setattr(RunTree, "max_open_runs", 5)
    manager = CallbackManager.configure()
    (tree,) = [h for h in manager.handlers if isinstance(h, RunTree)]
    started = [manager.on_chain_start({"name": "orphan"}, {}, run_id=uuid4()) for _ in range(8)]

    assert len(tree.runs) == 5  # the three oldest were forgotten, their spans ended
    forgotten = agent.spans(3, name="orphan")
    assert len(forgotten) == 3
    for run in started[3:]:
        run.on_chain_end({})
    assert len(agent.spans(8, name="orphan")) == 8 and not tree.runs
