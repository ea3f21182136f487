"""A LangChain retriever over a real Chroma collection: one retrieval span, the store's, with
what LangChain knows added (the "one span per operation" rule across the two instrumentors)."""

from __future__ import annotations

import uuid

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from llmtrace_agent.toolkit import semconv
from tests.instrumentors.langchain.scenario import tree_of

chromadb = pytest.importorskip("chromadb")

EMBEDDINGS = [[0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.0, 0.1, 0.9]]


class ChromaRetriever(BaseRetriever):
    """How apps write their own retriever: a Chroma query inside ``_get_relevant_documents``."""

    collection: object

    def _get_relevant_documents(self, query: str, *, run_manager=None) -> list[Document]:
        found = self.collection.query(query_embeddings=[EMBEDDINGS[0]], n_results=2)  # type: ignore[attr-defined]
        return [
            Document(id=doc_id, page_content=text)
            for doc_id, text in zip(found["ids"][0], found["documents"][0], strict=True)
        ]


def test_a_retriever_over_chroma_is_one_retrieval_span_the_stores(agent):
    client = chromadb.EphemeralClient(chromadb.Settings(anonymized_telemetry=False))
    name = f"notes_{uuid.uuid4().hex[:8]}"
    collection = client.create_collection(name, embedding_function=None)
    collection.add(ids=["a", "b", "c"], embeddings=EMBEDDINGS, documents=["owls", "bats", "cats"])
    agent.flush()
    agent.receiver.clear()

    documents = ChromaRetriever(collection=collection).invoke("night animals")

    assert [document.id for document in documents] == ["a", "b"]
    (span,) = tree_of(agent, 1).spans  # no second, LangChain-made retrieval span
    assert span.name == f"retrieval {name}"
    assert span.kind == "CLIENT"  # the store's span, not LangChain's INTERNAL one
    assert span.attributes[semconv.DB_SYSTEM_NAME] == "chroma"
    assert span.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 2
    client.delete_collection(name)
