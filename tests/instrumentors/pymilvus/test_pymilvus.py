"""pymilvus: the real ``MilvusClient`` and ``AsyncMilvusClient`` on Milvus Lite (a local file);
what the OTLP receiver got is what is asserted."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from pymilvus import MilvusClient

from llmtrace_agent.toolkit import semconv
from tests.support.agent import InProcessAgent
from tests.support.stores import CONTENT_ATTRIBUTES, documents, store_span, store_spans

# Distinctive components: the exported bytes must never hold them (vectors are not recorded).
VECTORS = {1: [0.911, 0.0123, 0.0], 2: [0.0123, 0.911, 0.0], 3: [0.0, 0.0123, 0.911]}
TEXTS = {1: "Paris is the capital.", 2: "Lyon has silk.", 3: "Nice has a beach."}
ROWS = [
    {"id": i, "vector": VECTORS[i], "text": TEXTS[i], "city": f"city-payload-{i}"} for i in VECTORS
]


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("milvus") / "milvus.db")


@pytest.fixture(scope="module")
def milvus(database: str) -> Iterator[MilvusClient]:
    client = MilvusClient(database)
    yield client
    client.close()


@pytest.fixture
def client(milvus: MilvusClient, agent: InProcessAgent) -> Iterator[MilvusClient]:
    """The client with a collection ``docs`` of three rows; the spans of its making are not the
    test's."""
    milvus.create_collection("docs", dimension=3)
    milvus.insert("docs", ROWS)
    agent.flush()
    agent.receiver.clear()
    yield milvus
    milvus.drop_collection("docs")


def _common(span: Any, operation: str) -> None:
    assert span.kind == "CLIENT"
    assert span.attributes[semconv.DB_SYSTEM_NAME] == "milvus"
    assert span.attributes[semconv.DB_OPERATION_NAME] == operation
    assert span.attributes[semconv.DB_COLLECTION_NAME] == "docs"


def test_search_is_one_retrieval_span(agent: InProcessAgent, client: MilvusClient) -> None:
    result = client.search("docs", data=[VECTORS[1]], limit=2)

    assert [hit["id"] for hit in result[0]] == [1, 2]  # the client's answer, untouched
    span = store_span(agent)
    assert span.name == "retrieval docs"
    assert span.status_code == "UNSET"
    _common(span, "search")
    assert span.attributes[semconv.GEN_AI_OPERATION_NAME] == "retrieval"
    assert span.attributes[semconv.GEN_AI_DATA_SOURCE_ID] == "docs"
    assert span.attributes[semconv.GEN_AI_REQUEST_TOP_K] == 2.0
    assert span.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 2
    assert semconv.DB_OPERATION_BATCH_SIZE not in span.attributes
    assert not set(CONTENT_ATTRIBUTES) & set(span.attributes)
    config = getattr(client, "_config", None)  # pymilvus 2.6.10+: the URI it connected to
    if config is not None:  # Milvus Lite's loopback server
        assert span.attributes[semconv.SERVER_ADDRESS] == "127.0.0.1"
        assert span.attributes[semconv.SERVER_PORT] == int(config.uri.rsplit(":", 1)[1])


def test_a_batched_search_is_one_span_with_its_size(
    agent: InProcessAgent, client: MilvusClient
) -> None:
    client.search("docs", data=[VECTORS[1], VECTORS[2], VECTORS[3]])

    span = store_span(agent)
    assert span.attributes[semconv.DB_OPERATION_BATCH_SIZE] == 3
    assert span.attributes[semconv.GEN_AI_REQUEST_TOP_K] == 10.0  # the default limit
    assert span.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 9


def test_with_capture_on_ids_scores_and_texts_are_recorded_never_vectors(
    agent: InProcessAgent, client: MilvusClient
) -> None:
    with agent.configured(capture_content=True):
        client.search("docs", data=[VECTORS[1]], limit=2, output_fields=["text", "vector"])
        span = store_span(agent)

    assert documents(span) == [
        {"id": "1", "score": pytest.approx(1.0, abs=1e-4), "content": "Paris is the capital."},
        {"id": "2", "score": pytest.approx(0.0270, abs=1e-3), "content": "Lyon has silk."},
    ]
    exported = agent.receiver.all_bytes()
    assert b"0.911" not in exported and b"city-payload-1" not in exported


def test_content_is_not_recorded_by_default(agent: InProcessAgent, client: MilvusClient) -> None:
    client.search("docs", data=[VECTORS[1]], limit=3, output_fields=["text"])

    store_span(agent)
    assert b"capital" not in agent.receiver.all_bytes()


def test_reads_and_writes_are_spans_with_their_counts(
    agent: InProcessAgent, client: MilvusClient
) -> None:
    rows = client.query("docs", filter="id >= 2", output_fields=["text"])
    got = client.get("docs", ids=[1])
    client.insert("docs", [{"id": 4, "vector": [1, 1, 0], "text": "", "city": ""}])
    client.upsert("docs", [{"id": i, "vector": [0, 1, 1], "text": "", "city": ""} for i in (4, 5)])
    client.delete("docs", ids=[4, 5])

    assert len(rows) == 2 and len(got) == 1
    spans = store_spans(agent, 5)
    assert [s.name for s in spans] == [
        "query docs",
        "get docs",
        "insert docs",
        "upsert docs",
        "delete docs",
    ]
    query, get, insert, upsert, delete = spans
    for span, operation in zip(spans, ("query", "get", "insert", "upsert", "delete"), strict=True):
        _common(span, operation)
        assert semconv.GEN_AI_OPERATION_NAME not in span.attributes
    assert query.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 2
    assert get.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 1
    assert insert.attributes[semconv.DB_RECORDS_AFFECTED] == 1
    assert upsert.attributes[semconv.DB_RECORDS_AFFECTED] == 2
    assert delete.attributes[semconv.DB_RECORDS_AFFECTED] == 2


def test_an_error_is_recorded_and_reaches_the_app_unchanged(
    agent: InProcessAgent, client: MilvusClient
) -> None:
    with pytest.raises(Exception) as raised:
        client.search("missing", data=[VECTORS[1]], limit=1)

    error = raised.value
    span = store_span(agent)
    assert span.name == "retrieval missing"
    assert span.status_code == "ERROR"
    assert type(error).__module__.startswith("pymilvus")
    error_type = span.attributes["error.type"]
    assert error_type == f"{type(error).__module__}.{type(error).__qualname__}"


def test_the_async_client_is_traced(
    agent: InProcessAgent, client: MilvusClient, database: str
) -> None:
    pymilvus = pytest.importorskip("pymilvus")
    if not hasattr(pymilvus, "AsyncMilvusClient"):
        pytest.skip("this pymilvus has no AsyncMilvusClient")

    async def app() -> Any:
        aclient = pymilvus.AsyncMilvusClient(database)
        try:
            found = await aclient.search("docs", data=[VECTORS[1], VECTORS[2]], limit=1)
            await aclient.query("docs", filter="id > 0")
            await aclient.insert("docs", [{"id": 9, "vector": [1, 1, 1], "text": "", "city": ""}])
            return found
        finally:
            await aclient.close()

    found = asyncio.run(app())

    assert [hits[0]["id"] for hits in found] == [1, 2]
    search, query, insert = store_spans(agent, 3)
    assert (search.name, query.name, insert.name) == (
        "retrieval docs",
        "query docs",
        "insert docs",
    )
    assert search.attributes[semconv.DB_OPERATION_BATCH_SIZE] == 2
    assert search.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 2
    assert query.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 3
    assert insert.attributes[semconv.DB_RECORDS_AFFECTED] == 1


@pytest.mark.skipif(
    not hasattr(MilvusClient, "hybrid_search"), reason="this pymilvus has no hybrid_search"
)
def test_a_hybrid_search_is_one_retrieval_span(agent: InProcessAgent, milvus: MilvusClient) -> None:
    from pymilvus import AnnSearchRequest, DataType, RRFRanker

    schema = milvus.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=3)
    schema.add_field("other", DataType.FLOAT_VECTOR, dim=3)
    indexes = milvus.prepare_index_params()
    for name in ("dense", "other"):
        indexes.add_index(name, index_type="FLAT", metric_type="COSINE")
    milvus.create_collection("hybrid", schema=schema, index_params=indexes)
    try:
        milvus.insert(
            "hybrid", [{"id": i, "dense": VECTORS[i], "other": VECTORS[i]} for i in VECTORS]
        )
        agent.flush()
        agent.receiver.clear()
        with agent.configured(capture_content=True):
            requests = [
                AnnSearchRequest([VECTORS[1]], "dense", {}, 2),
                AnnSearchRequest([VECTORS[2]], "other", {}, 2),
            ]
            milvus.hybrid_search("hybrid", requests, RRFRanker(), limit=2)
            span = store_span(agent)
    finally:
        milvus.drop_collection("hybrid")

    assert span.name == "retrieval hybrid"
    assert span.attributes[semconv.DB_OPERATION_NAME] == "hybrid_search"
    assert span.attributes[semconv.GEN_AI_REQUEST_TOP_K] == 2.0
    assert span.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 2
    assert [set(document) for document in documents(span)] == [{"id", "score"}] * 2
    assert b"0.911" not in agent.receiver.all_bytes()  # the hits' vectors are not recorded
