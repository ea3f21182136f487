"""llama_index under ``llmtrace-run``: an unmodified app (an agent with a tool, then a streamed
query over a vector index) traced as whole trees, one trace per run, one span per model request."""

from __future__ import annotations

from llmtrace_agent.toolkit import semconv
from tests.support.agent import code, run_traced
from tests.support.fake_openai import FakeOpenAI, Reply, chat_chunks

APP = """
import asyncio

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.embeddings.openai import OpenAIEmbedding
from llama_index.llms.openai import OpenAI

llm = OpenAI(model="gpt-4o-mini", api_key="sk-test", api_base=BASE_URL, max_retries=0)
embed_model = OpenAIEmbedding(api_key="sk-test", api_base=BASE_URL, max_retries=0)


def get_weather(city: str) -> str:
    \"\"\"The weather in a city.\"\"\"
    return f"sunny in {city}"


async def ask() -> str:
    agent = FunctionAgent(name="weather", tools=[get_weather], llm=llm)
    return str(await agent.run(user_msg="Weather in Paris?"))


print(asyncio.run(ask()))

index = VectorStoreIndex.from_documents(
    [Document(text="Paris is in France."), Document(text="Rome is in Italy.")],
    embed_model=embed_model,
)
engine = index.as_query_engine(llm=llm, streaming=True, similarity_top_k=1)
print("".join(engine.query("Where is Paris?").response_gen))
"""


def test_an_unmodified_app_is_traced_as_whole_trees(receiver, fake_openai: FakeOpenAI):
    fake_openai.reply(
        Reply(events=chat_chunks(tool_call=True, usage=True)),
        Reply(events=chat_chunks(usage=True)),
    )

    result = run_traced(
        code(f"BASE_URL = {fake_openai.base_url!r}\n", APP), receiver=receiver, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Hello from the fake server!") == 2
    assert "Failed to detach context" not in result.stderr
    assert "internal error" not in result.stderr
    requests = [request.path.rsplit("/", 1)[-1] for request in fake_openai.requests]
    spans = receiver.wait_for_spans(
        9,  # agent, 2 chats, tool; 2 embeddings; query, retrieval, chat (HTTP spans aside)
        10.0,
        lambda span: (
            semconv.GEN_AI_OPERATION_NAME in span.attributes or span.name.startswith("query ")
        ),
    )
    assert len(spans) == 9, sorted(span.name for span in spans)
    by_name: dict[str, list] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    # One model span per model request: 3 chat requests, 2 embeddings requests.
    assert requests.count("completions") == len(by_name["chat gpt-4o-mini"]) == 3
    assert requests.count("embeddings") == len(by_name["embeddings text-embedding-ada-002"]) == 2

    (run,) = by_name["invoke_agent weather"]
    (tool,) = by_name["execute_tool get_weather"]
    (query,) = by_name["query RetrieverQueryEngine"]
    (retrieval,) = [span for span in spans if span.name.startswith("retrieval ")]
    agent_chats = [s for s in by_name["chat gpt-4o-mini"] if s.trace_id == run.trace_id]
    query_chats = [s for s in by_name["chat gpt-4o-mini"] if s.trace_id == query.trace_id]
    assert len(agent_chats) == 2 and len(query_chats) == 1
    assert run.parent_span_id == "" and query.parent_span_id == ""
    assert all(span.parent_span_id == run.span_id for span in [*agent_chats, tool])
    assert all(span.parent_span_id == query.span_id for span in [*query_chats, retrieval])
    # The query span ended when its streamed answer was consumed, after the chat span.
    assert query.end_ns >= query_chats[0].end_ns
