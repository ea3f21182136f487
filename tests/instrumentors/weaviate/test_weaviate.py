"""weaviate: the real v4 client (sync and async) over loopback REST and gRPC to a fake Weaviate;
what the OTLP receiver got is what is asserted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
import weaviate
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter, MetadataQuery

from llmtrace_agent.toolkit.genai.delegation import RETRIEVAL, offer
from tests.support.agent import InProcessAgent
from tests.support.fake_weaviate import MISSING, FakeWeaviate
from tests.support.otlp_receiver import ReceivedSpan


@pytest.fixture
def client(fake_weaviate: FakeWeaviate) -> Iterator[weaviate.WeaviateClient]:
    connected = weaviate.connect_to_local(
        host="127.0.0.1",
        port=fake_weaviate.port,
        grpc_port=fake_weaviate.grpc_port,
        skip_init_checks=True,
    )
    yield connected
    connected.close()


@pytest.fixture
def articles(fake_weaviate: FakeWeaviate) -> list[str]:
    """Three objects in ``Article``, stored directly in the fake (no request, no span)."""
    return [
        fake_weaviate.add("Article", "paris is the capital of france", [1.0, 0.0, 0.0]),
        fake_weaviate.add("Article", "berlin is the capital of germany", [0.0, 1.0, 0.0]),
        fake_weaviate.add("Article", "rome is in italy", [0.7, 0.7, 0.0]),
    ]


def store_spans(agent: InProcessAgent, count: int) -> list[ReceivedSpan]:
    """The store spans, in start order (fails if there are more)."""
    agent.spans(count)
    spans = [s for s in agent.receiver.spans if s.attributes.get("db.system.name") == "weaviate"]
    assert len(spans) == count, [span.name for span in agent.receiver.spans]
    return sorted(spans, key=lambda span: span.start_ns)


def test_near_vector_is_a_retrieval_span(
    fake_weaviate: FakeWeaviate,
    articles: list[str],
    client: weaviate.WeaviateClient,
    agent: InProcessAgent,
) -> None:
    collection = client.collections.get("Article")
    found = collection.query.near_vector([1.0, 0.1, 0.0], limit=2)
    assert [str(o.uuid) for o in found.objects] == [articles[0], articles[2]]
    (span,) = store_spans(agent, 1)
    assert span.name == "retrieval Article"
    assert span.kind == "CLIENT"
    assert span.status_code == "UNSET"
    assert span.attributes == {
        "db.system.name": "weaviate",
        "db.operation.name": "near_vector",
        "db.collection.name": "Article",
        "server.address": "127.0.0.1",
        "server.port": fake_weaviate.grpc_port,
        "gen_ai.operation.name": "retrieval",
        "gen_ai.data_source.id": "Article",
        "gen_ai.request.top_k": 2.0,
        "db.response.returned_rows": 2,
    }


@pytest.mark.parametrize("operation", ["near_text", "hybrid", "bm25"])
def test_text_searches_are_retrieval_spans_with_the_query_only_on_capture(
    articles: list[str],
    client: weaviate.WeaviateClient,
    agent: InProcessAgent,
    operation: str,
) -> None:
    search = getattr(client.collections.get("Article").query, operation)
    search("capital of germany", limit=3)
    with agent.configured(capture_content=True):
        found = search(
            "capital of germany", limit=1, return_metadata=MetadataQuery(distance=True, score=True)
        )
    assert str(found.objects[0].uuid) == articles[1]
    off, on = store_spans(agent, 2)
    assert off.name == on.name == "retrieval Article"
    assert off.attributes["db.operation.name"] == operation
    assert off.attributes["gen_ai.request.top_k"] == 3.0
    assert off.attributes["db.response.returned_rows"] == 3
    assert "gen_ai.retrieval.query.text" not in off.attributes
    assert "gen_ai.retrieval.documents" not in off.attributes
    assert on.attributes["gen_ai.retrieval.query.text"] == "capital of germany"
    documents = json.loads(on.attributes["gen_ai.retrieval.documents"])
    assert [document["id"] for document in documents] == [articles[1]]
    assert isinstance(documents[0]["score"], float)


def test_capture_records_ids_and_distances_never_vectors_or_properties(
    articles: list[str], client: weaviate.WeaviateClient, agent: InProcessAgent
) -> None:
    with agent.configured(capture_content=True):
        client.collections.get("Article").query.near_vector(
            [1.0, 0.0, 0.0],
            limit=1,
            include_vector=True,
            return_metadata=MetadataQuery(distance=True),
        )
    (span,) = store_spans(agent, 1)
    documents = json.loads(span.attributes["gen_ai.retrieval.documents"])
    assert documents == [{"id": articles[0], "score": 0.0}]
    assert "paris" not in json.dumps(span.attributes)


def test_writes_are_database_spans_with_the_records_written(
    fake_weaviate: FakeWeaviate, client: weaviate.WeaviateClient, agent: InProcessAgent
) -> None:
    collection = client.collections.get("Article")
    inserted = collection.data.insert_many(
        [
            DataObject(properties={"text": "oslo is in norway"}, vector=[0.0, 0.0, 1.0]),
            DataObject(properties={"text": "lima is in peru"}, vector=[0.5, 0.0, 0.5]),
        ]
    )
    assert len(inserted.uuids) == 2 and not inserted.has_errors
    collection.data.insert({"text": "quito is in ecuador"})
    deleted = collection.data.delete_many(where=Filter.by_property("text").like("*"))
    assert deleted.successful == 3
    insert_many, insert, delete_many = store_spans(agent, 3)
    assert insert_many.name == "insert_many Article"
    assert insert_many.attributes["llmtrace.db.records_affected"] == 2
    assert insert_many.attributes["server.port"] == fake_weaviate.grpc_port
    assert insert.name == "insert Article"
    assert insert.attributes["server.port"] == fake_weaviate.port  # REST
    assert delete_many.attributes["llmtrace.db.records_affected"] == 3
    assert "gen_ai.operation.name" not in insert_many.attributes
    assert "norway" not in json.dumps(insert_many.attributes)


def test_errors_are_recorded_and_reach_the_app_unchanged(
    client: weaviate.WeaviateClient, agent: InProcessAgent
) -> None:
    missing = client.collections.get(MISSING)
    with pytest.raises(weaviate.exceptions.WeaviateQueryError):
        missing.query.near_vector([1.0, 0.0, 0.0], limit=1)
    with pytest.raises(weaviate.exceptions.WeaviateInsertManyAllFailedError):
        missing.data.insert_many([{"text": "lost"}])
    search, write = store_spans(agent, 2)
    assert search.status_code == write.status_code == "ERROR"
    assert search.attributes["error.type"] == "weaviate.exceptions.WeaviateQueryError"
    assert write.attributes["error.type"] == (
        "weaviate.exceptions.WeaviateInsertManyAllFailedError"
    )


def test_a_retriever_offer_is_taken_by_the_search(
    articles: list[str], client: weaviate.WeaviateClient, agent: InProcessAgent
) -> None:
    with offer(RETRIEVAL, {"gen_ai.agent.name": "researcher"}) as offered:
        client.collections.get("Article").query.bm25("italy", limit=1)
    assert offered.taken
    (span,) = store_spans(agent, 1)
    assert span.attributes["gen_ai.agent.name"] == "researcher"


def test_the_async_client(
    fake_weaviate: FakeWeaviate, articles: list[str], agent: InProcessAgent
) -> None:
    async def main() -> list[str]:
        async with weaviate.use_async_with_local(
            host="127.0.0.1",
            port=fake_weaviate.port,
            grpc_port=fake_weaviate.grpc_port,
            skip_init_checks=True,
        ) as client:
            collection = client.collections.get("Article")
            found = await collection.query.near_vector([0.0, 1.0, 0.0], limit=1)
            await collection.data.insert_many([{"text": "kyiv is in ukraine"}])
            with pytest.raises(weaviate.exceptions.WeaviateQueryError):
                await client.collections.get(MISSING).query.hybrid("x")
            return [str(o.uuid) for o in found.objects]

    assert asyncio.run(main()) == [articles[1]]
    search, write, failed = store_spans(agent, 3)
    assert search.name == "retrieval Article"
    assert search.attributes["db.response.returned_rows"] == 1
    assert write.attributes["llmtrace.db.records_affected"] == 1
    assert failed.name == f"retrieval {MISSING}"
    assert failed.status_code == "ERROR"
