"""A RAG app on pgvector under the real launcher, zero code: ``llmtrace-run python app.py``
embeds a question (OpenAI), searches PostgreSQL with it (psycopg) and answers (OpenAI)."""

from __future__ import annotations

from tests.support.agent import code, run_traced
from tests.support.fake_openai import FakeOpenAI
from tests.support.otlp_receiver import OTLPReceiver
from tests.support.postgres import PostgresServer

APP = """
import os
import openai, psycopg
from opentelemetry import trace

client = openai.OpenAI(api_key="sk-fake-secret", base_url=os.environ["FAKE_OPENAI_URL"])
question = "Which item is nearest?"
with trace.get_tracer("rag-app").start_as_current_span("answer"):
    vector = client.embeddings.create(model="text-embedding-3-small", input=question)
    embedding = "[" + ",".join(str(x) for x in vector.data[0].embedding) + "]"
    with psycopg.connect(os.environ["PG_DSN"]) as connection:
        rows = connection.execute(
            "SELECT id, embedding <-> %s AS distance FROM items ORDER BY distance LIMIT %s",
            (embedding, 2),
        ).fetchall()
    context = ", ".join(str(row[0]) for row in rows)
    reply = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": f"{question} Context: {context}"}],
    )
print("ids", context)
"""


def test_a_rag_app_shows_embed_search_and_chat_in_one_trace(
    items: PostgresServer, receiver: OTLPReceiver, fake_openai: FakeOpenAI
) -> None:
    run = run_traced(
        code(APP),
        receiver,
        env={"FAKE_OPENAI_URL": fake_openai.base_url, "PG_DSN": items.dsn()},
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ids 5, 1"
    assert "Failed to detach" not in run.stderr
    names = ["embeddings text-embedding-3-small", "retrieval items", "chat gpt-4o-mini"]
    spans = receiver.wait_for_spans(4, 10, lambda s: s.name in {"answer", *names})
    root = next(span for span in spans if span.name == "answer")
    steps = sorted((span for span in spans if span.name != "answer"), key=lambda s: s.start_ns)
    assert [span.name for span in steps] == names
    assert {span.trace_id for span in spans} == {root.trace_id}
    assert all(span.parent_span_id == root.span_id for span in steps)
    assert len(fake_openai.requests) == 2  # one model span per model request
    search = steps[1].attributes
    assert search["gen_ai.request.top_k"] == 2.0
    assert search["db.response.returned_rows"] == 2
    assert b"sk-fake-secret" not in receiver.all_bytes()
