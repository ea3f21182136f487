"""A RAG app on Pinecone under the real launcher, zero code: ``llmtrace-run python app.py``
embeds a question (OpenAI), queries an index with it (pinecone) and answers (OpenAI)."""

from __future__ import annotations

from tests.support.agent import code, run_traced
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_pinecone import FakePinecone
from tests.support.otlp_receiver import OTLPReceiver

APP = """
import os
import openai, pinecone
from opentelemetry import trace

client = openai.OpenAI(api_key="sk-fake-secret", base_url=os.environ["FAKE_OPENAI_URL"])
index = pinecone.Pinecone(api_key="pc-fake-secret").Index(
    name="articles", host=os.environ["FAKE_PINECONE_HOST"]
)
index.upsert(vectors=[("a", [0.25, -0.5, 0.125]), ("b", [1.0, 0.0, 0.0])])
question = "Which article?"
with trace.get_tracer("rag-app").start_as_current_span("answer"):
    vector = client.embeddings.create(model="text-embedding-3-small", input=question)
    found = index.query(vector=vector.data[0].embedding, top_k=1)
    context = ", ".join(match.id for match in found.matches)
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": f"{question} Context: {context}"}],
    )
print("ids", context)
"""


def test_a_rag_app_shows_embed_search_and_chat_in_one_trace(
    receiver: OTLPReceiver, fake_openai: FakeOpenAI, fake_pinecone: FakePinecone
) -> None:
    env = {"FAKE_OPENAI_URL": fake_openai.base_url, "FAKE_PINECONE_HOST": fake_pinecone.origin}
    run = run_traced(code(APP), receiver, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ids a"
    assert "Failed to detach" not in run.stderr
    names = ["embeddings text-embedding-3-small", "retrieval articles", "chat gpt-4o-mini"]
    wanted = {"answer", "upsert articles", *names}
    spans = receiver.wait_for_spans(5, 10, lambda s: s.name in wanted)
    root = next(span for span in spans if span.name == "answer")
    steps = sorted((s for s in spans if s.name in names), key=lambda s: s.start_ns)
    assert [span.name for span in steps] == names
    assert all(span.parent_span_id == root.span_id for span in steps)
    assert all(span.trace_id == root.trace_id for span in steps)
    assert len(fake_openai.requests) == 2  # one model span per model request
    assert steps[1].attributes["db.response.returned_rows"] == 1
    exported = receiver.all_bytes()
    assert b"sk-fake-secret" not in exported and b"pc-fake-secret" not in exported
