"""llama_index chat engines: each turn (``chat``, ``stream_chat``, ``achat``, ``astream_chat``) of
the chat modes users pick, over real llama-index-core with its OpenAI LLM and embeddings against
the loopback fake OpenAI API, is one trace under one ``chat_engine {class}`` span; what the OTLP
receiver got is what is asserted."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.llms.types import ChatMessage
from llama_index.embeddings.openai import OpenAIEmbedding
from llama_index.llms.openai import OpenAI

from llmtrace_agent.toolkit import semconv
from tests.support.agent import code, run_traced
from tests.support.fake_openai import API_KEY, FakeOpenAI, Reply, chat_chunks
from tests.support.otlp_receiver import ReceivedSpan

MODEL = "gpt-4o-mini"
EMBEDDING_MODEL = "text-embedding-3-small"
ANSWER = "Hello from the fake server!"

# chat mode -> (engine class, its spans beside the turn and the model calls: a retrieval, a
# query engine's). A first turn has no history to condense: one model call per turn.
MODES = {
    "best": ("CondensePlusContextChatEngine", ("retrieval capitals",)),
    "condense_plus_context": ("CondensePlusContextChatEngine", ("retrieval capitals",)),
    "context": ("ContextChatEngine", ("retrieval capitals",)),
    "condense_question": (
        "CondenseQuestionChatEngine",
        ("query RetrieverQueryEngine", "retrieval capitals"),
    ),
    "simple": ("SimpleChatEngine", ()),
}
HISTORY = [
    ChatMessage(role="user", content="Hello"),
    ChatMessage(role="assistant", content="Hello! How can I help?"),
]


@pytest.fixture
def index(fake_openai: FakeOpenAI) -> VectorStoreIndex:
    built = VectorStoreIndex.from_documents(
        [Document(text="Paris is the capital of France."), Document(text="Rome is in Italy.")],
        embed_model=OpenAIEmbedding(
            model=EMBEDDING_MODEL, api_key=API_KEY, api_base=fake_openai.base_url, max_retries=0
        ),
    )
    built.set_index_id("capitals")
    return built


def engine(index: VectorStoreIndex, server: FakeOpenAI, mode: str) -> Any:
    llm = OpenAI(model=MODEL, api_key=API_KEY, api_base=server.base_url, max_retries=0)
    return index.as_chat_engine(chat_mode=mode, llm=llm, similarity_top_k=1)


def fresh(agent: Any, server: FakeOpenAI) -> None:
    """Forget what building the index sent and traced."""
    agent.flush()
    agent.receiver.clear()
    server.clear()


def turn_spans(agent: Any, server: FakeOpenAI, mode: str) -> list[ReceivedSpan]:
    """The turn's spans but HTTP ones: the turn, one per model request, retrieval, query."""
    count = 1 + len(server.requests) + len(MODES[mode][1])
    agent.flush()

    def ours(span: ReceivedSpan) -> bool:
        return semconv.GEN_AI_OPERATION_NAME in span.attributes or span.name.startswith(
            ("chat_engine ", "query ")
        )

    found = agent.receiver.wait_for_spans(count, 10.0, ours)
    assert len(found) == count, sorted(span.name for span in found)
    return found


def chat_requests(server: FakeOpenAI) -> int:
    return sum(1 for request in server.requests if request.path.endswith("/chat/completions"))


def assert_one_tree(
    spans: list[ReceivedSpan], server: FakeOpenAI, mode: str, chats: int = 1
) -> ReceivedSpan:
    """One trace under the turn's span; one model span per request to the fake."""
    engine_class, others = MODES[mode]
    (turn,) = [span for span in spans if span.name == f"chat_engine {engine_class}"]
    assert {span.trace_id for span in spans} == {turn.trace_id}
    assert turn.parent_span_id == "" and turn.kind == "INTERNAL"
    assert semconv.GEN_AI_OPERATION_NAME not in turn.attributes
    assert turn.status_code != "ERROR"
    models = [span for span in spans if span.name == f"chat {MODEL}"]
    assert len(models) == chat_requests(server) == chats
    embeddings = [span for span in spans if span.name == f"embeddings {EMBEDDING_MODEL}"]
    assert len(embeddings) == len(server.requests) - chats == (1 if others else 0)
    assert sorted(span.name for span in spans if span.name in others) == sorted(others)
    by_id = {span.span_id: span for span in spans}
    for span in spans:
        if span is not turn:  # under the turn, directly or through the query engine's span
            parent = by_id[span.parent_span_id]
            assert parent is turn or parent.parent_span_id == turn.span_id, span.name
    assert all(turn.start_ns <= span.start_ns and span.end_ns <= turn.end_ns for span in spans)
    return turn


@pytest.mark.parametrize("mode", list(MODES))
def test_a_chat_turn_is_one_trace_under_the_engines_span(agent, fake_openai, index, mode):
    chat_engine = engine(index, fake_openai, mode)
    fresh(agent, fake_openai)

    answer = chat_engine.chat("What is the capital of France?")

    assert str(answer) == ANSWER
    assert_one_tree(turn_spans(agent, fake_openai, mode), fake_openai, mode)


@pytest.mark.parametrize("mode", list(MODES))
def test_an_async_chat_turn_is_one_trace_under_the_engines_span(agent, fake_openai, index, mode):
    chat_engine = engine(index, fake_openai, mode)
    fresh(agent, fake_openai)

    answer = asyncio.run(chat_engine.achat("What is the capital of France?"))

    assert str(answer) == ANSWER
    assert_one_tree(turn_spans(agent, fake_openai, mode), fake_openai, mode)


@pytest.mark.parametrize("mode", list(MODES))
def test_a_streamed_turn_is_one_trace_ended_when_the_answer_is_written(
    agent, fake_openai, index, mode
):
    chat_engine = engine(index, fake_openai, mode)
    fresh(agent, fake_openai)

    response = chat_engine.stream_chat("What is the capital of France?")
    text = "".join(response.response_gen)

    assert text == ANSWER
    assert_one_tree(turn_spans(agent, fake_openai, mode), fake_openai, mode)


@pytest.mark.parametrize("mode", list(MODES))
def test_an_async_streamed_turn_is_one_trace_ended_when_the_answer_is_written(
    agent, fake_openai, index, mode
):
    chat_engine = engine(index, fake_openai, mode)
    fresh(agent, fake_openai)

    async def ask() -> str:
        response = await chat_engine.astream_chat("What is the capital of France?")
        return "".join([delta async for delta in response.async_response_gen()])

    assert asyncio.run(ask()) == ANSWER
    assert_one_tree(turn_spans(agent, fake_openai, mode), fake_openai, mode)


@pytest.mark.parametrize("mode", ["condense_plus_context", "condense_question"])
def test_a_later_turns_condensing_call_is_in_the_turn_too(agent, fake_openai, index, mode):
    chat_engine = engine(index, fake_openai, mode)
    fresh(agent, fake_openai)

    answer = chat_engine.chat("And its population?", chat_history=HISTORY)

    assert str(answer) == ANSWER
    spans = turn_spans(agent, fake_openai, mode)
    assert_one_tree(spans, fake_openai, mode, chats=2)  # the condensed question, the answer


def test_a_streamed_turn_stays_open_until_its_answer_is_written(agent, fake_openai, index):
    chat_engine = engine(index, fake_openai, "simple")
    fresh(agent, fake_openai)
    fake_openai.reply(Reply(events=chat_chunks(model=MODEL), delay=0.05))

    response = chat_engine.stream_chat("What is the capital of France?")
    agent.flush()
    assert not [s for s in agent.receiver.spans if s.name.startswith("chat_engine ")]
    text = "".join(response.response_gen)

    assert text == ANSWER
    assert_one_tree(turn_spans(agent, fake_openai, "simple"), fake_openai, "simple")


def test_a_streamed_answer_never_read_still_ends_the_turn(agent, fake_openai, index):
    chat_engine = engine(index, fake_openai, "simple")
    fresh(agent, fake_openai)

    chat_engine.stream_chat("What is the capital of France?")  # its writer reads the model
    agent.flush()
    agent.receiver.wait_for_spans(1, 10.0, lambda span: span.name.startswith("chat_engine "))

    assert_one_tree(turn_spans(agent, fake_openai, "simple"), fake_openai, "simple")


def test_a_dropped_answer_without_a_writer_ends_the_turn(agent, fake_openai, index):
    chat_engine = engine(index, fake_openai, "context")
    fresh(agent, fake_openai)

    response = chat_engine.stream_chat("What is the capital of France?")
    next(response.response_gen)  # the app reads a little, then drops the answer
    del response
    gc.collect()
    agent.flush()

    (turn,) = agent.receiver.wait_for_spans(
        1, 10.0, lambda span: span.name == "chat_engine ContextChatEngine"
    )
    assert turn.status_code != "ERROR"
    (model,) = [span for span in agent.receiver.spans if span.name == f"chat {MODEL}"]
    assert model.parent_span_id == turn.span_id and chat_requests(fake_openai) == 1


def test_an_async_streamed_answer_never_read_still_ends_the_turn(agent, fake_openai, index):
    chat_engine = engine(index, fake_openai, "simple")
    fresh(agent, fake_openai)

    # The loop closes right after the call: its writer task may not even start.
    asyncio.run(chat_engine.astream_chat("What is the capital of France?"))
    gc.collect()
    agent.flush()

    (turn,) = agent.receiver.wait_for_spans(
        1, 10.0, lambda span: span.name == "chat_engine SimpleChatEngine"
    )
    assert turn.parent_span_id == ""
    assert all(span.trace_id == turn.trace_id for span in agent.receiver.spans)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_failed_streamed_answer_ends_the_turn_with_its_error(agent, fake_openai, index):
    chat_engine = engine(index, fake_openai, "simple")
    fresh(agent, fake_openai)
    fake_openai.reply(Reply(events=chat_chunks(model=MODEL), drop_after=2))

    response = chat_engine.stream_chat("What is the capital of France?")
    with pytest.raises(Exception) as raised:
        "".join(response.response_gen)

    agent.flush()
    (turn,) = agent.receiver.wait_for_spans(
        1, 10.0, lambda span: span.name == "chat_engine SimpleChatEngine"
    )
    assert turn.status_code == "ERROR"
    assert turn.attributes[semconv.ERROR_TYPE].endswith(type(raised.value).__qualname__)
    (model,) = [span for span in agent.receiver.spans if span.name == f"chat {MODEL}"]
    assert model.parent_span_id == turn.span_id


CHAT_APP = """
from llama_index.core import Document, VectorStoreIndex
from llama_index.embeddings.openai import OpenAIEmbedding
from llama_index.llms.openai import OpenAI

llm = OpenAI(model="gpt-4o-mini", api_key="sk-test", api_base=BASE_URL, max_retries=0)
embed_model = OpenAIEmbedding(api_key="sk-test", api_base=BASE_URL, max_retries=0)
index = VectorStoreIndex.from_documents(
    [Document(text="Paris is in France."), Document(text="Rome is in Italy.")],
    embed_model=embed_model,
)
chat_engine = index.as_chat_engine(llm=llm, similarity_top_k=1)
print(chat_engine.chat("Where is Paris?"))
print("".join(chat_engine.stream_chat("And Rome?").response_gen))
"""


def test_an_unmodified_chat_app_is_one_trace_per_turn(receiver, fake_openai):
    result = run_traced(
        code(f"BASE_URL = {fake_openai.base_url!r}\n", CHAT_APP), receiver=receiver, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.count(ANSWER) == 2
    assert "Failed to detach context" not in result.stderr
    assert "internal error" not in result.stderr
    requests = [request.path.rsplit("/", 1)[-1] for request in fake_openai.requests]
    # Index: 1 embeddings. Turn 1: embeddings, chat. Turn 2 (history): condense, embeddings, chat.
    assert requests.count("completions") == 3 and requests.count("embeddings") == 3
    spans = receiver.wait_for_spans(
        1 + 2 * 3 + 2,  # index embeddings; per turn: turn, embeddings, retrieval; 3 chats
        10.0,
        lambda span: (
            semconv.GEN_AI_OPERATION_NAME in span.attributes or span.name.startswith("chat_engine")
        ),
    )
    turns = sorted(
        (span for span in spans if span.name == "chat_engine CondensePlusContextChatEngine"),
        key=lambda span: span.start_ns,
    )
    assert len(turns) == 2 and all(turn.parent_span_id == "" for turn in turns)
    for turn, chats in zip(turns, (1, 2), strict=True):
        inside = [span for span in spans if span.trace_id == turn.trace_id and span is not turn]
        assert all(span.parent_span_id == turn.span_id for span in inside)
        assert len([span for span in inside if span.name == "chat gpt-4o-mini"]) == chats
        assert turn.end_ns >= max(span.end_ns for span in inside)
    (index_embeddings,) = [
        span for span in spans if span.trace_id not in {turn.trace_id for turn in turns}
    ]
    assert index_embeddings.name == "embeddings text-embedding-ada-002"
