"""qdrant_client: the real client in local mode (in memory and on disk), sync and async; what the
OTLP receiver got is what is asserted."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import AsyncQdrantClient, QdrantClient, models

from llmtrace_agent.toolkit import semconv
from tests.support.agent import InProcessAgent
from tests.support.stores import CONTENT_ATTRIBUTES, documents, store_span, store_spans

# Distinctive components: the exported bytes must never hold them (vectors are not recorded).
VECTORS = {1: [0.911, 0.0123, 0.0], 2: [0.0123, 0.911, 0.0], 3: [0.0, 0.0123, 0.911]}
TEXTS = {1: "Paris is the capital.", 2: "Lyon has silk.", 3: "Nice has a beach."}
POINTS = [
    models.PointStruct(
        id=i, vector=VECTORS[i], payload={"text": TEXTS[i], "city": f"city-payload-{i}"}
    )
    for i in VECTORS
]
CONFIG = models.VectorParams(size=3, distance=models.Distance.COSINE)


def lacks(method: str) -> pytest.MarkDecorator:
    """Skip where the installed client no longer (or not yet) has ``method``."""
    return pytest.mark.skipif(
        not hasattr(QdrantClient, method), reason=f"this qdrant-client has no {method}"
    )


@pytest.fixture
def client(agent: InProcessAgent) -> QdrantClient:
    """A local in-memory client with a collection ``docs`` of three points; the spans of its
    making are not the test's."""
    made = QdrantClient(":memory:")
    made.create_collection("docs", vectors_config=CONFIG)
    made.upsert("docs", points=POINTS)
    agent.flush()
    agent.receiver.clear()
    return made


def test_query_points_is_one_retrieval_span(agent: InProcessAgent, client: QdrantClient) -> None:
    response = client.query_points("docs", query=VECTORS[1], limit=2)

    assert [p.id for p in response.points] == [1, 2]  # the client's answer, untouched
    span = store_span(agent)
    assert span.name == "retrieval docs"
    assert span.kind == "CLIENT"
    assert span.status_code == "UNSET"
    assert span.attributes == {
        semconv.GEN_AI_OPERATION_NAME: "retrieval",
        semconv.GEN_AI_DATA_SOURCE_ID: "docs",
        semconv.GEN_AI_REQUEST_TOP_K: 2.0,
        semconv.DB_SYSTEM_NAME: "qdrant",
        semconv.DB_OPERATION_NAME: "query_points",
        semconv.DB_COLLECTION_NAME: "docs",
        semconv.DB_RESPONSE_RETURNED_ROWS: 2,
    }


def test_the_default_limit_is_the_top_k(agent: InProcessAgent, client: QdrantClient) -> None:
    client.query_points("docs", VECTORS[2])

    span = store_span(agent)
    assert span.attributes[semconv.GEN_AI_REQUEST_TOP_K] == 10.0
    assert span.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 3


def test_a_batch_of_queries_is_one_span_with_its_size(
    agent: InProcessAgent, client: QdrantClient
) -> None:
    requests = [models.QueryRequest(query=VECTORS[i], limit=2) for i in (1, 2, 3)]
    responses = client.query_batch_points("docs", requests=requests)

    assert len(responses) == 3
    span = store_span(agent)
    assert span.name == "retrieval docs"
    assert span.attributes[semconv.DB_OPERATION_NAME] == "query_batch_points"
    assert span.attributes[semconv.DB_OPERATION_BATCH_SIZE] == 3
    assert span.attributes[semconv.GEN_AI_REQUEST_TOP_K] == 2.0
    assert span.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 6


@lacks("query_points_groups")
def test_grouped_queries_count_every_hit(agent: InProcessAgent, client: QdrantClient) -> None:
    client.query_points_groups("docs", "city", query=VECTORS[1], limit=2, group_size=1)

    span = store_span(agent)
    assert span.attributes[semconv.DB_OPERATION_NAME] == "query_points_groups"
    assert span.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 2


@lacks("search")
def test_search_is_a_retrieval_span(agent: InProcessAgent, client: QdrantClient) -> None:
    client.search("docs", query_vector=VECTORS[1], limit=1)

    span = store_span(agent)
    assert span.name == "retrieval docs"
    assert span.attributes[semconv.DB_OPERATION_NAME] == "search"
    assert span.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 1


@lacks("search_batch")
def test_search_batch_is_one_span(agent: InProcessAgent, client: QdrantClient) -> None:
    requests = [models.SearchRequest(vector=VECTORS[i], limit=1) for i in (1, 2)]
    client.search_batch("docs", requests=requests)

    span = store_span(agent)
    assert span.attributes[semconv.DB_OPERATION_BATCH_SIZE] == 2
    assert span.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 2


@lacks("recommend")
def test_recommend_is_a_retrieval_span(agent: InProcessAgent, client: QdrantClient) -> None:
    client.recommend("docs", positive=[1], limit=2)

    span = store_span(agent)
    assert span.attributes[semconv.DB_OPERATION_NAME] == "recommend"
    assert span.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 2


def test_content_is_not_recorded_by_default(agent: InProcessAgent, client: QdrantClient) -> None:
    client.query_points("docs", query=VECTORS[1], limit=3)

    span = store_span(agent)
    assert not set(CONTENT_ATTRIBUTES) & set(span.attributes)
    assert b"capital" not in agent.receiver.all_bytes()


def test_with_capture_on_ids_scores_and_texts_are_recorded_never_vectors(
    agent: InProcessAgent, client: QdrantClient
) -> None:
    with agent.configured(capture_content=True):
        client.query_points("docs", query=VECTORS[1], limit=2, with_vectors=True)
        span = store_span(agent)

    assert documents(span) == [
        {"id": "1", "score": pytest.approx(1.0), "content": "Paris is the capital."},
        {"id": "2", "score": pytest.approx(0.0270, abs=1e-3), "content": "Lyon has silk."},
    ]
    exported = agent.receiver.all_bytes()
    assert (
        b"0.911" not in exported and b"city-payload-1" not in exported
    )  # no vector, no other payload


def test_reads_and_writes_are_spans_with_their_counts(
    agent: InProcessAgent, client: QdrantClient
) -> None:
    records, _next = client.scroll("docs", limit=2)
    fetched = client.retrieve("docs", ids=[1, 3])
    client.count("docs")
    client.upsert("docs", points=models.Batch(ids=[4, 5], vectors=[[1, 1, 0], [0, 1, 1]]))
    client.delete("docs", points_selector=models.PointIdsList(points=[4]))
    client.delete("docs", points_selector=[5])
    client.delete(
        "docs",
        points_selector=models.Filter(
            must=[
                models.FieldCondition(key="city", match=models.MatchValue(value="city-payload-3"))
            ]
        ),
    )

    assert len(records) == 2 and len(fetched) == 2
    spans = store_spans(agent, 7)
    assert [s.name for s in spans] == [
        "scroll docs",
        "retrieve docs",
        "count docs",
        "upsert docs",
        "delete docs",
        "delete docs",
        "delete docs",
    ]
    scroll, retrieve, count, upsert, by_list, by_ids, by_filter = spans
    assert scroll.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 2
    assert retrieve.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 2
    assert semconv.GEN_AI_OPERATION_NAME not in scroll.attributes
    assert upsert.attributes[semconv.DB_RECORDS_AFFECTED] == 2
    assert by_list.attributes[semconv.DB_RECORDS_AFFECTED] == 1
    assert by_ids.attributes[semconv.DB_RECORDS_AFFECTED] == 1
    assert semconv.DB_RECORDS_AFFECTED not in by_filter.attributes  # Qdrant does not count
    assert semconv.DB_RECORDS_AFFECTED not in count.attributes


def test_an_error_is_recorded_and_reaches_the_app_unchanged(
    agent: InProcessAgent, client: QdrantClient
) -> None:
    with pytest.raises(ValueError, match="not found") as raised:
        client.query_points("missing", query=VECTORS[1])

    span = store_span(agent)
    assert type(raised.value) is ValueError
    assert span.name == "retrieval missing"
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "ValueError"


def test_a_client_on_disk_is_traced(agent: InProcessAgent, tmp_path: Path) -> None:
    client = QdrantClient(path=str(tmp_path / "qdrant"))
    client.create_collection("kept", vectors_config=CONFIG)
    client.upsert("kept", points=POINTS)
    client.query_points("kept", query=VECTORS[3], limit=1)
    client.close()

    upsert, query = store_spans(agent, 2)
    assert (upsert.name, query.name) == ("upsert kept", "retrieval kept")
    assert upsert.attributes[semconv.DB_RECORDS_AFFECTED] == 3


def test_the_async_client_is_traced(agent: InProcessAgent) -> None:
    async def app() -> Any:
        client = AsyncQdrantClient(":memory:")
        await client.create_collection("docs", vectors_config=CONFIG)
        await client.upsert("docs", points=POINTS)
        found = await client.query_points("docs", query=VECTORS[1], limit=1)
        batch = [models.QueryRequest(query=VECTORS[i], limit=1) for i in (1, 2)]
        await client.query_batch_points("docs", requests=batch)
        await client.scroll("docs", limit=10)
        await client.delete("docs", points_selector=[1, 2])
        with pytest.raises(ValueError):
            await client.query_points("missing", query=VECTORS[1])
        await client.close()
        return found

    with agent.configured(capture_content=True):
        found = asyncio.run(app())
        spans = store_spans(agent, 6)

    assert [p.id for p in found.points] == [1]
    assert [s.name for s in spans] == [
        "upsert docs",
        "retrieval docs",
        "retrieval docs",
        "scroll docs",
        "delete docs",
        "retrieval missing",
    ]
    upsert, query, batch, scroll, delete, failed = spans
    assert upsert.attributes[semconv.DB_RECORDS_AFFECTED] == 3
    assert [d["id"] for d in documents(query)] == ["1"]
    assert batch.attributes[semconv.DB_OPERATION_BATCH_SIZE] == 2
    assert scroll.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 3
    assert delete.attributes[semconv.DB_RECORDS_AFFECTED] == 2
    assert failed.status_code == "ERROR" and failed.attributes["error.type"] == "ValueError"
