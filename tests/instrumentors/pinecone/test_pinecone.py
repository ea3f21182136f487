"""pinecone: the real SDK's index clients (sync and asyncio) over loopback HTTP to a fake of an
index's data-plane API; what the OTLP receiver got is what is asserted."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pinecone
import pytest

from llmtrace_agent.toolkit.genai.delegation import RETRIEVAL, offer
from tests.support.agent import InProcessAgent
from tests.support.fake_pinecone import FakePinecone
from tests.support.otlp_receiver import ReceivedSpan

API_KEY = "pc-fake-secret-key"
# 9.x and later name it NotFoundError, 7.x and 8.x NotFoundException.
NOT_FOUND = getattr(pinecone, "NotFoundError", None) or pinecone.NotFoundException
VECTORS = [("a", [1.0, 0.0, 0.0]), ("b", [0.0, 1.0, 0.0]), ("c", [1.0, 1.0, 0.0], {"t": "x"})]


def index(server: FakePinecone, name: str = "articles") -> Any:
    """An index client opened by name, its host given (no describe request)."""
    return pinecone.Pinecone(api_key=API_KEY).Index(name=name, host=server.origin)


def store_spans(agent: InProcessAgent, count: int) -> list[ReceivedSpan]:
    """The store spans (not the HTTP spans under them), in start order."""
    agent.spans(count, timeout=10)
    spans = [s for s in agent.receiver.spans if s.attributes.get("db.system.name") == "pinecone"]
    assert len(spans) == count, [span.name for span in agent.receiver.spans]
    return sorted(spans, key=lambda span: span.start_ns)


def test_query_is_a_retrieval_span(fake_pinecone: FakePinecone, agent: InProcessAgent) -> None:
    client = index(fake_pinecone)
    client.upsert(vectors=VECTORS, namespace="en")
    agent.flush()
    agent.receiver.clear()
    result = client.query(vector=[1.0, 0.1, 0.0], top_k=2, namespace="en")
    assert [match.id for match in result.matches] == ["c", "a"]
    (span,) = store_spans(agent, 1)
    assert span.name == "retrieval articles"
    assert span.kind == "CLIENT"
    assert span.status_code == "UNSET"
    assert span.attributes == {
        "db.system.name": "pinecone",
        "db.operation.name": "query",
        "db.collection.name": "articles",
        "server.address": "127.0.0.1",
        "server.port": fake_pinecone.port,
        "pinecone.namespace": "en",
        "gen_ai.operation.name": "retrieval",
        "gen_ai.data_source.id": "articles",
        "gen_ai.request.top_k": 2.0,
        "db.response.returned_rows": 2,
    }


def test_writes_fetches_and_deletes_are_database_spans(
    fake_pinecone: FakePinecone, agent: InProcessAgent
) -> None:
    client = index(fake_pinecone)
    assert client.upsert(vectors=VECTORS).upserted_count == 3
    assert set(client.fetch(ids=["a", "b", "zz"]).vectors) == {"a", "b"}
    client.delete(ids=["a"])
    upsert, fetch, delete = store_spans(agent, 3)
    assert (upsert.name, fetch.name, delete.name) == (
        "upsert articles",
        "fetch articles",
        "delete articles",
    )
    assert upsert.attributes["llmtrace.db.records_affected"] == 3
    assert fetch.attributes["db.response.returned_rows"] == 2
    assert "gen_ai.operation.name" not in upsert.attributes
    assert "pinecone.namespace" not in upsert.attributes  # the default namespace
    exported = agent.receiver.all_bytes()
    assert API_KEY.encode() not in exported


def test_the_index_name_is_read_from_a_pinecone_host(agent: InProcessAgent) -> None:
    host = "https://docs-abc1234.svc.aped-4627.pinecone.io"
    client = pinecone.Pinecone(api_key="k").Index(host=host)
    with pytest.raises(Exception):  # noqa: B017  (nothing listens there: no network)
        client.query(vector=[1.0], top_k=1)
    (span,) = store_spans(agent, 1)
    assert span.name == "retrieval docs"
    assert span.attributes["server.address"] == "docs-abc1234.svc.aped-4627.pinecone.io"
    assert span.attributes["server.port"] == 443
    assert span.status_code == "ERROR"


def test_content_capture_records_ids_and_scores_never_vectors(
    fake_pinecone: FakePinecone, agent: InProcessAgent
) -> None:
    client = index(fake_pinecone)
    client.upsert(vectors=VECTORS)
    agent.flush()
    agent.receiver.clear()
    client.query(vector=[1.0, 0.0, 0.0], top_k=1)
    with agent.configured(capture_content=True):
        client.query(vector=[1.0, 0.0, 0.0], top_k=2, include_values=True, include_metadata=True)
    off, on = store_spans(agent, 2)
    assert "gen_ai.retrieval.documents" not in off.attributes
    documents = json.loads(on.attributes["gen_ai.retrieval.documents"])
    assert documents == [{"id": "a", "score": 1.0}, {"id": "c", "score": 1.0}]
    assert "[1.0, 0.0, 0.0]" not in json.dumps(on.attributes)


def test_an_api_error_is_recorded_and_reaches_the_app_unchanged(
    fake_pinecone: FakePinecone, agent: InProcessAgent
) -> None:
    client = pinecone.Pinecone(api_key=API_KEY).Index(host=fake_pinecone.url("/status/404"))
    with pytest.raises(NOT_FOUND) as raised:
        client.query(vector=[1.0, 0.0, 0.0], top_k=3)
    assert getattr(raised.value, "status_code", None) or raised.value.status == 404
    (span,) = store_spans(agent, 1)
    assert span.name == "retrieval"  # a loopback host has no index name
    assert span.status_code == "ERROR"
    # 9.x and later: the status of the SDK's ApiError; 7.x, 8.x: the exception's class (their
    # OpenAPI exceptions keep it in .status, which error.type does not read).
    assert span.attributes["error.type"] in {
        "404",
        "pinecone.exceptions.exceptions.NotFoundException",
    }
    assert span.attributes["gen_ai.request.top_k"] == 3.0


def test_a_retriever_offer_is_taken_by_the_query(
    fake_pinecone: FakePinecone, agent: InProcessAgent
) -> None:
    client = index(fake_pinecone)
    with offer(RETRIEVAL, {"gen_ai.agent.name": "researcher"}) as offered:
        client.query(vector=[1.0, 0.0, 0.0], top_k=1)
    assert offered.taken
    (span,) = store_spans(agent, 1)
    assert span.attributes["gen_ai.agent.name"] == "researcher"


def test_the_asyncio_index(fake_pinecone: FakePinecone, agent: InProcessAgent) -> None:
    async def main() -> list[str]:
        async with pinecone.Pinecone(api_key=API_KEY).IndexAsyncio(
            host=fake_pinecone.origin
        ) as client:
            await client.upsert(vectors=VECTORS, namespace="en")
            result = await client.query(vector=[0.0, 1.0, 0.0], top_k=1, namespace="en")
            await client.fetch(ids=["b"], namespace="en")
            await client.delete(delete_all=True, namespace="en")
            return [match.id for match in result.matches]

    assert asyncio.run(main()) == ["b"]
    upsert, query, fetch, delete = store_spans(agent, 4)
    assert [span.name for span in (upsert, query, fetch, delete)] == [
        "upsert",
        "retrieval",
        "fetch",
        "delete",
    ]
    assert upsert.attributes["llmtrace.db.records_affected"] == 3
    assert query.attributes["db.response.returned_rows"] == 1
    assert query.attributes["pinecone.namespace"] == "en"
