"""A small retrieval-augmented (RAG) application to trace: ``llmtrace-run python
examples/rag_chroma.py "Where can I swim?"``.

It indexes a few notes in an in-process Chroma collection (embedded with OpenAI), then answers a
question the usual way: embed the question, search the collection for the closest notes, ask a
chat model to answer from them. It has no tracing code of its own beyond one OpenTelemetry API
span around the answer, as a library would write; the agent traces the embedding call, the
search (``retrieval notes``: which collection, top-k, how many notes came back, and with
``LLMTRACE_CAPTURE_CONTENT=true`` their ids, distances and texts) and the chat call, in order, in
one trace.

The models are whatever OpenAI-compatible server ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` name
(the tests point them at a loopback fake).
"""

from __future__ import annotations

import sys

import chromadb
import openai
from opentelemetry import trace

tracer = trace.get_tracer("example-rag")
EMBEDDING_MODEL = "text-embedding-3-small"
CHAT_MODEL = "gpt-4o-mini"
NOTES = {
    "lisbon": "Lisbon has sunny beaches a short train ride from the centre.",
    "oslo": "Oslo's fjord has public saunas and cold-water swimming spots.",
    "vienna": "Vienna's Danube island has long stretches for swimming in summer.",
}


def embed(client: openai.OpenAI, texts: list[str]) -> list[list[float]]:
    response = client.embeddings.create(model=EMBEDDING_MODEL, input=texts)
    return [item.embedding for item in response.data]


def index(client: openai.OpenAI) -> chromadb.Collection:
    """The notes in a Chroma collection, with their embeddings (no Chroma embedding function:
    its default downloads a model)."""
    store = chromadb.EphemeralClient(chromadb.Settings(anonymized_telemetry=False))
    notes = store.get_or_create_collection("notes", embedding_function=None)
    notes.add(
        ids=list(NOTES),
        embeddings=embed(client, list(NOTES.values())),
        documents=list(NOTES.values()),
    )
    return notes


def answer(client: openai.OpenAI, notes: chromadb.Collection, question: str) -> str:
    with tracer.start_as_current_span("answer"):
        (vector,) = embed(client, [question])
        found = notes.query(query_embeddings=[vector], n_results=2)
        context = "\n".join(found["documents"][0])
        reply = client.chat.completions.create(
            model=CHAT_MODEL,
            messages=[
                {"role": "system", "content": f"Answer from these notes only:\n{context}"},
                {"role": "user", "content": question},
            ],
        )
        return reply.choices[0].message.content or ""


def main() -> None:
    question = sys.argv[1] if len(sys.argv) > 1 else "Where can I swim?"
    client = openai.OpenAI()
    print(answer(client, index(client), question))


if __name__ == "__main__":
    main()
