"""A RAG app on Weaviate under the real launcher, zero code: ``llmtrace-run python app.py``
embeds a question (OpenAI), searches a collection with it (weaviate) and answers (OpenAI)."""

from __future__ import annotations

from tests.support.agent import code, run_traced
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_weaviate import FakeWeaviate
from tests.support.otlp_receiver import OTLPReceiver

APP = """
import os
import openai, weaviate
from opentelemetry import trace

client = openai.OpenAI(api_key="sk-fake-secret", base_url=os.environ["FAKE_OPENAI_URL"])
question = "Which article?"
with weaviate.connect_to_local(
    host="127.0.0.1",
    port=int(os.environ["WEAVIATE_PORT"]),
    grpc_port=int(os.environ["WEAVIATE_GRPC_PORT"]),
    skip_init_checks=True,
) as store:
    articles = store.collections.get("Article")
    with trace.get_tracer("rag-app").start_as_current_span("answer"):
        vector = client.embeddings.create(model="text-embedding-3-small", input=question)
        found = articles.query.near_vector(vector.data[0].embedding, limit=1)
        context = ", ".join(o.properties["text"] for o in found.objects)
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": f"{question} Context: {context}"}],
        )
print("found", context)
"""


def test_a_rag_app_shows_embed_search_and_chat_in_one_trace(
    receiver: OTLPReceiver, fake_openai: FakeOpenAI, fake_weaviate: FakeWeaviate
) -> None:
    fake_weaviate.add("Article", "the nearest article", [0.25, -0.5, 0.125])
    fake_weaviate.add("Article", "a far article", [5.0, 5.0, 5.0])
    env = {
        "FAKE_OPENAI_URL": fake_openai.base_url,
        "WEAVIATE_PORT": str(fake_weaviate.port),
        "WEAVIATE_GRPC_PORT": str(fake_weaviate.grpc_port),
    }
    run = run_traced(code(APP), receiver, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "found the nearest article"
    assert "Failed to detach" not in run.stderr
    names = ["embeddings text-embedding-3-small", "retrieval Article", "chat gpt-4o-mini"]
    spans = receiver.wait_for_spans(4, 10, lambda s: s.name in {"answer", *names})
    root = next(span for span in spans if span.name == "answer")
    steps = sorted((s for s in spans if s.name != "answer"), key=lambda s: s.start_ns)
    assert [span.name for span in steps] == names
    assert all(span.parent_span_id == root.span_id for span in steps)
    assert all(span.trace_id == root.trace_id for span in steps)
    assert len(fake_openai.requests) == 2  # one model span per model request
    assert steps[1].attributes["db.response.returned_rows"] == 1
    assert b"sk-fake-secret" not in receiver.all_bytes()
