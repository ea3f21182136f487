"""chromadb: the real client in-process (ephemeral and persistent); what the OTLP receiver got
is what is asserted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chromadb
import pytest

from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.genai.content import TRUNCATION_MARK
from tests.support import fake_openai as fake_openai_module
from tests.support.agent import InProcessAgent
from tests.support.fake_openai import FakeOpenAI
from tests.support.stores import CONTENT_ATTRIBUTES, documents, store_span, store_spans


def settings() -> Any:
    """Fresh settings for each client: ``PersistentClient`` changes the ones it is given."""
    return chromadb.Settings(anonymized_telemetry=False)


IDS = ["paris", "lyon", "nice"]
# Distinctive components: the exported bytes must never hold them (vectors are not recorded).
EMBEDDINGS = [[0.911, 0.0123, 0.0], [0.0123, 0.911, 0.0], [0.0, 0.0123, 0.911]]
TEXTS = ["Paris is the capital.", "Lyon has silk.", "Nice has a beach."]


@pytest.fixture(scope="module")
def client() -> chromadb.api.ClientAPI:
    return chromadb.EphemeralClient(settings())


@pytest.fixture
def collection(client: Any, agent: InProcessAgent) -> Iterator[Any]:
    """A collection ``docs`` of three records, with no embedding function (Chroma's default
    downloads a model); the spans of its making are not the test's."""
    made = client.create_collection("docs", embedding_function=None)
    made.add(ids=IDS, embeddings=EMBEDDINGS, documents=TEXTS)
    agent.flush()
    agent.receiver.clear()
    yield made
    client.delete_collection("docs")


def test_a_query_is_one_retrieval_span(agent: InProcessAgent, collection: Any) -> None:
    result = collection.query(query_embeddings=[EMBEDDINGS[0]], n_results=2)

    assert result["ids"] == [["paris", "lyon"]]  # the client's answer, untouched
    span = store_span(agent)
    assert span.name == "retrieval docs"
    assert span.kind == "CLIENT"
    assert span.status_code == "UNSET"
    assert span.attributes == {
        semconv.GEN_AI_OPERATION_NAME: "retrieval",
        semconv.GEN_AI_DATA_SOURCE_ID: "docs",
        semconv.GEN_AI_REQUEST_TOP_K: 2.0,
        semconv.DB_SYSTEM_NAME: "chroma",
        semconv.DB_OPERATION_NAME: "query",
        semconv.DB_COLLECTION_NAME: "docs",
        semconv.DB_NAMESPACE: "default_database",
        semconv.DB_RESPONSE_RETURNED_ROWS: 2,
    }


def test_a_batched_query_is_one_span_with_its_batch_size(
    agent: InProcessAgent, collection: Any
) -> None:
    collection.query(query_embeddings=EMBEDDINGS[:2], n_results=3)

    span = store_span(agent)
    assert span.attributes[semconv.DB_OPERATION_BATCH_SIZE] == 2
    assert span.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 6
    assert span.attributes[semconv.GEN_AI_REQUEST_TOP_K] == 3.0


def test_a_default_query_reports_chromas_default_top_k(
    agent: InProcessAgent, collection: Any
) -> None:
    collection.query(EMBEDDINGS[1])  # one embedding, by position

    span = store_span(agent)
    assert span.attributes[semconv.GEN_AI_REQUEST_TOP_K] == 10.0
    assert semconv.DB_OPERATION_BATCH_SIZE not in span.attributes
    assert span.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 3


def test_content_is_not_recorded_by_default(agent: InProcessAgent, collection: Any) -> None:
    collection.query(query_embeddings=[EMBEDDINGS[0]], n_results=3)

    span = store_span(agent)
    assert not set(CONTENT_ATTRIBUTES) & set(span.attributes)
    exported = agent.receiver.all_bytes()
    assert b"paris" not in exported and b"capital" not in exported


def test_with_capture_on_a_query_records_ids_scores_and_texts_never_vectors(
    agent: InProcessAgent, collection: Any
) -> None:
    with agent.configured(capture_content=True):
        collection.query(query_embeddings=[EMBEDDINGS[0]], n_results=2)
        span = store_span(agent)

    assert documents(span) == [
        {"id": "paris", "score": 0.0, "content": "Paris is the capital."},
        {"id": "lyon", "score": pytest.approx(1.6153, abs=1e-3), "content": "Lyon has silk."},
    ]
    assert b"0.911" not in agent.receiver.all_bytes()


def test_with_capture_on_long_texts_are_clipped(agent: InProcessAgent, collection: Any) -> None:
    collection.upsert(ids=["long"], embeddings=[[1.0, 1.0, 1.0]], documents=["x" * 500])
    with agent.configured(capture_content=True, content_max_length=20):
        collection.query(query_embeddings=[[1.0, 1.0, 1.0]], n_results=1)
        span = store_spans(agent, 2)[1]

    (document,) = documents(span)
    assert document["id"] == "long"
    assert document["content"] == "x" * 20 + TRUNCATION_MARK


@pytest.mark.parametrize(
    ("operation", "call", "affected"),
    [
        ("add", lambda c: c.add(ids=["a", "b"], embeddings=[[1, 0, 1], [0, 1, 1]]), 2),
        ("upsert", lambda c: c.upsert(ids="a", embeddings=[1, 1, 0]), 1),
        ("update", lambda c: c.update(ids=IDS, embeddings=[[0.5, 0.5, 0.5]] * 3), 3),
    ],
)
def test_writes_are_spans_with_the_records_written(
    agent: InProcessAgent, collection: Any, operation: str, call: Any, affected: int
) -> None:
    call(collection)

    span = store_span(agent)
    assert span.name == f"{operation} docs"
    assert span.kind == "CLIENT"
    assert span.attributes == {
        semconv.DB_SYSTEM_NAME: "chroma",
        semconv.DB_OPERATION_NAME: operation,
        semconv.DB_COLLECTION_NAME: "docs",
        semconv.DB_NAMESPACE: "default_database",
        semconv.DB_RECORDS_AFFECTED: affected,
    }


def test_get_count_and_delete_are_spans(agent: InProcessAgent, collection: Any) -> None:
    got = collection.get(ids=["paris", "nice"])
    count = collection.count()
    deleted = collection.delete(ids=["paris"])

    assert sorted(got["ids"]) == ["nice", "paris"] and count == 3
    get, counted, delete = store_spans(agent, 3)
    assert (get.name, counted.name, delete.name) == ("get docs", "count docs", "delete docs")
    assert get.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 2
    assert semconv.GEN_AI_OPERATION_NAME not in get.attributes
    if isinstance(deleted, dict):  # chromadb >= 1.1 counts what it deleted
        assert delete.attributes[semconv.DB_RECORDS_AFFECTED] == 1


def test_an_error_is_recorded_and_reaches_the_app_unchanged(
    agent: InProcessAgent, collection: Any
) -> None:
    with pytest.raises(Exception, match="dimension") as raised:
        collection.query(query_embeddings=[[1.0, 0.0]], n_results=1)

    error = raised.value
    span = store_span(agent)
    assert span.name == "retrieval docs"
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == f"{type(error).__module__}.{type(error).__qualname__}"
    assert type(error).__module__.startswith("chromadb")


def test_a_persistent_client_is_traced(agent: InProcessAgent, tmp_path: Path) -> None:
    client = chromadb.PersistentClient(path=str(tmp_path), settings=settings())
    kept = client.create_collection(f"kept_{uuid.uuid4().hex[:6]}", embedding_function=None)
    kept.add(ids=IDS, embeddings=EMBEDDINGS)
    kept.query(query_embeddings=[EMBEDDINGS[2]], n_results=1)

    add, query = store_spans(agent, 2)
    assert add.name == f"add {kept.name}" and query.name == f"retrieval {kept.name}"
    assert query.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 1


def test_the_embedding_call_chroma_makes_is_the_query_spans_child(
    agent: InProcessAgent, client: Any, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chromadb.utils.embedding_functions import OpenAIEmbeddingFunction

    monkeypatch.setenv("CHROMA_OPENAI_API_KEY", fake_openai_module.API_KEY)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    embed = OpenAIEmbeddingFunction(  # chromadb 0.5 takes the key only as an argument
        api_key=fake_openai_module.API_KEY,
        model_name="text-embedding-3-small",
        api_base=fake_openai.base_url,
    )
    texts = client.create_collection("texts", embedding_function=embed)
    try:
        texts.add(ids=IDS, documents=TEXTS)
        with agent.configured(capture_content=True):
            texts.query(query_texts=["Where is the beach?"], n_results=2)
            spans = agent.spans(4)
    finally:
        client.delete_collection("texts")

    by_name = {span.name: span for span in spans if span.name != "POST"}
    add, query = by_name["add texts"], by_name["retrieval texts"]
    embeddings = [s for s in spans if s.name == "embeddings text-embedding-3-small"]
    assert [e.parent_span_id for e in embeddings] == [add.span_id, query.span_id]
    assert len(fake_openai.requests) == 2  # one embedding span per request
    assert query.attributes[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT] == "Where is the beach?"
    assert add.attributes[semconv.DB_RECORDS_AFFECTED] == 3


def test_a_framework_retrievers_search_is_one_span_the_stores(
    agent: InProcessAgent, collection: Any
) -> None:
    from llmtrace_agent.toolkit.genai.delegation import RETRIEVAL, offer

    # What a LangChain / LlamaIndex instrumentor does around its retriever's search.
    with offer(RETRIEVAL, {"gen_ai.agent.name": "helper"}) as offered:
        collection.query(query_embeddings=[EMBEDDINGS[0]], n_results=1)

    assert offered.taken  # the framework makes no retrieval span of its own
    span = store_span(agent)
    assert span.name == "retrieval docs"
    assert span.attributes["gen_ai.agent.name"] == "helper"
    assert span.attributes[semconv.GEN_AI_OPERATION_NAME] == "retrieval"


def test_numpy_query_embeddings_count_as_a_batch(agent: InProcessAgent, collection: Any) -> None:
    import numpy

    collection.query(query_embeddings=numpy.array(EMBEDDINGS), n_results=1)

    span = store_span(agent)
    assert span.attributes[semconv.DB_OPERATION_BATCH_SIZE] == 3
    assert span.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 3


def test_arguments_the_client_rejects_reach_the_app_as_they_would_untraced(
    agent: InProcessAgent, collection: Any
) -> None:
    with pytest.raises(Exception) as raised:  # Chroma's own error, whatever it is
        collection.add(ids=object(), embeddings="not vectors")

    span = store_span(agent)
    assert span.name == "add docs" and span.status_code == "ERROR"
    assert semconv.DB_RECORDS_AFFECTED not in span.attributes
    assert type(raised.value).__name__ in span.attributes["error.type"]
