"""qdrant_client in remote mode (REST) against a loopback fake of Qdrant's API: the spans name
the server; an error status reaches the span and the app as the client raises it."""

from __future__ import annotations

import inspect

import pytest
from qdrant_client import QdrantClient, models

from llmtrace_agent.toolkit import semconv
from tests.support.agent import InProcessAgent
from tests.support.fake_qdrant import FakeQdrant
from tests.support.stores import documents, store_span, store_spans


def remote(fake: FakeQdrant) -> QdrantClient:
    options = {}
    if "check_compatibility" in inspect.signature(QdrantClient).parameters:  # 1.10 has none
        options["check_compatibility"] = False  # no version probe: the fake is no release
    return QdrantClient(url=fake.url, prefer_grpc=False, timeout=5, **options)


def test_a_remote_search_names_the_server(agent: InProcessAgent, fake_qdrant: FakeQdrant) -> None:
    client = remote(fake_qdrant)
    agent.flush()
    agent.receiver.clear()
    with agent.configured(capture_content=True):
        response = client.query_points("docs", query=[0.1, 0.2, 0.3], limit=2)
        spans = store_spans(agent, 1)

    assert [p.id for p in response.points] == [1, 2]
    (span,) = spans
    assert span.name == "retrieval docs"
    assert span.attributes[semconv.SERVER_ADDRESS] == "127.0.0.1"
    assert span.attributes[semconv.SERVER_PORT] == fake_qdrant.port
    assert span.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 2
    assert documents(span)[0] == {"id": "1", "score": 0.9, "content": "Paris is the capital."}
    http = [s for s in agent.receiver.spans if s.parent_span_id == span.span_id]
    assert all(s.kind == "CLIENT" and s.trace_id == span.trace_id for s in http)


def test_a_remote_upsert_counts_the_points_sent(
    agent: InProcessAgent, fake_qdrant: FakeQdrant
) -> None:
    client = remote(fake_qdrant)
    points = [models.PointStruct(id=i, vector=[0.1, 0.2, 0.3]) for i in (1, 2)]
    client.upsert("docs", points=points)

    span = store_span(agent)
    assert span.name == "upsert docs"
    assert span.attributes[semconv.DB_RECORDS_AFFECTED] == 2
    assert span.attributes[semconv.SERVER_PORT] == fake_qdrant.port


def test_an_error_status_is_the_error_type(agent: InProcessAgent, fake_qdrant: FakeQdrant) -> None:
    from qdrant_client.http.exceptions import UnexpectedResponse

    client = remote(fake_qdrant)
    with pytest.raises(UnexpectedResponse) as raised:
        client.query_points("missing", query=[0.1, 0.2, 0.3])

    assert raised.value.status_code == 404
    span = store_span(agent)
    assert span.name == "retrieval missing"
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "404"
