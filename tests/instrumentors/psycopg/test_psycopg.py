"""psycopg 3 against a real PostgreSQL with pgvector (started by the tests): the spans the OTLP
receiver got for plain queries, pgvector similarity searches (retrieval spans), batches, errors,
async connections and SQLAlchemy over psycopg."""

from __future__ import annotations

import asyncio
import json

import psycopg
import pytest

from llmtrace_agent.toolkit.genai.delegation import RETRIEVAL, offer
from tests.support.agent import InProcessAgent
from tests.support.otlp_receiver import ReceivedSpan
from tests.support.postgres import PostgresServer

SEARCH = "SELECT id, embedding <-> %s AS distance FROM items ORDER BY distance LIMIT %s"
QUERY_VECTOR = "[1,0.1,0]"


def only_span(agent: InProcessAgent, name: str) -> ReceivedSpan:
    """The one span named ``name`` (fails if there are several)."""
    agent.spans(1, name=name)
    spans = [span for span in agent.receiver.spans if span.name == name]
    assert len(spans) == 1, [span.name for span in agent.receiver.spans]
    return spans[0]


def test_a_query_is_a_client_span_named_by_its_summary(
    items: PostgresServer, agent: InProcessAgent
) -> None:
    with psycopg.connect(items.dsn()) as connection:
        rows = connection.execute("SELECT id FROM items WHERE id = %s", (2,)).fetchall()
    assert rows == [(2,)]
    span = only_span(agent, "SELECT items")
    assert span.kind == "CLIENT"
    assert span.status_code == "UNSET"
    assert span.attributes == {
        "db.system.name": "postgresql",
        "db.namespace": "vectors",
        "db.query.text": "SELECT id FROM items WHERE id = %s",
        "db.query.summary": "SELECT items",
        "server.address": "127.0.0.1",
        "server.port": items.port,
    }


def test_a_similarity_search_is_a_retrieval_span(
    items: PostgresServer, agent: InProcessAgent
) -> None:
    with psycopg.connect(items.dsn()) as connection:
        rows = connection.execute(SEARCH, (QUERY_VECTOR, 3)).fetchall()
    assert [row[0] for row in rows] == [1, 4, 5]
    span = only_span(agent, "retrieval items")
    assert span.kind == "CLIENT"
    attributes = span.attributes
    assert attributes["gen_ai.operation.name"] == "retrieval"
    assert attributes["gen_ai.data_source.id"] == "items"
    assert attributes["gen_ai.request.top_k"] == 3.0
    assert attributes["db.response.returned_rows"] == 3
    assert attributes["db.system.name"] == "postgresql"
    assert attributes["db.query.summary"] == "SELECT items"
    assert attributes["db.query.text"] == SEARCH
    assert "gen_ai.retrieval.documents" not in attributes  # content is off by default
    assert QUERY_VECTOR not in json.dumps(attributes)  # parameter values never


@pytest.mark.parametrize(
    ("operator", "limit"),
    [("<=>", "LIMIT 2"), ("<#>", "LIMIT %(k)s")],  # <+> (L1): pgvector 0.7, see test_sql.py
)
def test_every_distance_operator_and_limit_form_is_a_search(
    items: PostgresServer, agent: InProcessAgent, operator: str, limit: str
) -> None:
    query = f"SELECT id FROM items ORDER BY embedding {operator} %(q)s {limit}"
    with psycopg.connect(items.dsn()) as connection:
        rows = connection.execute(query, {"q": QUERY_VECTOR, "k": 2}).fetchall()
    assert len(rows) == 2
    span = only_span(agent, "retrieval items")
    assert span.attributes["gen_ai.request.top_k"] == 2.0
    assert span.attributes["db.response.returned_rows"] == 2


def test_capture_on_records_the_ids_and_distances_never_the_vectors(
    items: PostgresServer, agent: InProcessAgent
) -> None:
    with agent.configured(capture_content=True), psycopg.connect(items.dsn()) as connection:
        query = "SELECT id, embedding, embedding <-> %s AS distance FROM items ORDER BY 3 LIMIT 2"
        rows = connection.execute(query, (QUERY_VECTOR,)).fetchall()
    span = only_span(agent, "retrieval items")
    documents = json.loads(span.attributes["gen_ai.retrieval.documents"])
    assert [document["id"] for document in documents] == ["1", "4"]
    assert [document["score"] for document in documents] == pytest.approx([row[2] for row in rows])
    assert set(documents[0]) == {"id", "score"}
    assert "[1,0,0]" not in span.attributes["gen_ai.retrieval.documents"]


def test_the_application_still_reads_every_row_after_capture(
    items: PostgresServer, agent: InProcessAgent
) -> None:
    with agent.configured(capture_content=True), psycopg.connect(items.dsn()) as connection:
        cursor = connection.execute(SEARCH, (QUERY_VECTOR, 5))
        assert cursor.fetchone()[0] == 1
        assert len(cursor.fetchall()) == 4


def test_executemany_is_one_batch_span(items: PostgresServer, agent: InProcessAgent) -> None:
    with psycopg.connect(items.dsn()) as connection, connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO items (id, embedding) VALUES (%s, %s)",
            [(10, "[1,2,3]"), (11, "[3,2,1]"), (12, "[2,2,2]")],
        )
    span = only_span(agent, "BATCH INSERT items")
    assert span.attributes["db.operation.batch.size"] == 3
    assert span.attributes["db.query.summary"] == "BATCH INSERT items"
    assert span.attributes["db.query.text"] == "INSERT INTO items (id, embedding) VALUES (%s, %s)"
    assert "[1,2,3]" not in json.dumps(span.attributes)


def test_literals_of_a_query_without_parameters_are_not_recorded(
    items: PostgresServer, agent: InProcessAgent
) -> None:
    with psycopg.connect(items.dsn()) as connection:
        connection.execute("SELECT id FROM items WHERE embedding = '[1,0,0]' AND id > 0")
    span = only_span(agent, "SELECT items")
    assert span.attributes["db.query.text"] == "SELECT id FROM items WHERE embedding = ? AND id > ?"


def test_an_error_is_recorded_with_its_sqlstate_and_reaches_the_app_unchanged(
    pgvector: PostgresServer, agent: InProcessAgent
) -> None:
    query = "SELECT id FROM missing ORDER BY embedding <-> %s LIMIT 1"
    with (
        psycopg.connect(pgvector.dsn()) as connection,
        pytest.raises(psycopg.errors.UndefinedTable) as raised,
    ):
        connection.execute(query, ("[1]",))
    assert raised.value.sqlstate == "42P01"
    span = only_span(agent, "retrieval missing")
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "42P01"
    assert span.attributes["db.response.status_code"] == "42P01"
    assert "db.response.returned_rows" not in span.attributes


def test_a_retriever_offer_is_taken_by_the_search(
    items: PostgresServer, agent: InProcessAgent
) -> None:
    with (
        psycopg.connect(items.dsn()) as connection,
        offer(RETRIEVAL, {"gen_ai.agent.name": "researcher"}) as offered,
    ):
        connection.execute(SEARCH, (QUERY_VECTOR, 2)).fetchall()
        connection.execute("SELECT count(*) FROM items").fetchall()
    assert offered.taken
    search = only_span(agent, "retrieval items")
    assert search.attributes["gen_ai.agent.name"] == "researcher"
    count = only_span(agent, "SELECT items")
    assert "gen_ai.agent.name" not in count.attributes


def test_register_vector_type_lookup_makes_no_span(
    pgvector: PostgresServer, agent: InProcessAgent
) -> None:
    from pgvector.psycopg import register_vector

    with psycopg.connect(pgvector.dsn()) as connection:
        register_vector(connection)
        connection.execute("SELECT 1").fetchall()
    spans = agent.spans(1, name="SELECT")
    assert [span.name for span in agent.receiver.spans] == ["SELECT"]
    assert spans[0].attributes["db.query.text"] == "SELECT ?"


def test_server_side_cursors_are_traced(items: PostgresServer, agent: InProcessAgent) -> None:
    with psycopg.connect(items.dsn()) as connection, connection.cursor(name="scan") as cursor:
        cursor.execute(SEARCH, (QUERY_VECTOR, 4))
        assert len(cursor.fetchall()) == 4
    span = only_span(agent, "retrieval items")
    assert span.attributes["gen_ai.request.top_k"] == 4.0


def test_async_connection_search_and_error(items: PostgresServer, agent: InProcessAgent) -> None:
    async def main() -> list[tuple[int, float]]:
        async with await psycopg.AsyncConnection.connect(items.dsn()) as connection:
            cursor = await connection.execute(SEARCH, (QUERY_VECTOR, 2))
            rows = await cursor.fetchall()
            with pytest.raises(psycopg.errors.SyntaxError):
                await connection.execute("SELEC 1")
            return rows

    rows = asyncio.run(main())
    assert len(rows) == 2
    search = only_span(agent, "retrieval items")
    assert search.attributes["db.response.returned_rows"] == 2
    error = [span for span in agent.spans(2) if span.status_code == "ERROR"]
    assert error[0].attributes["error.type"] == "42601"


def test_sqlalchemy_orm_over_psycopg_gives_the_same_spans(
    items: PostgresServer, agent: InProcessAgent
) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from pgvector.sqlalchemy import Vector
    from sqlalchemy.orm import DeclarativeBase, Session, mapped_column

    class Base(DeclarativeBase):
        pass

    class Item(Base):
        __tablename__ = "items"
        id = mapped_column(sqlalchemy.BigInteger, primary_key=True)
        embedding = mapped_column(Vector(3))

    engine = sqlalchemy.create_engine(items.url())
    with Session(engine) as session:
        found = session.scalars(
            sqlalchemy.select(Item).order_by(Item.embedding.l2_distance([1, 0.1, 0])).limit(3)
        ).all()
    engine.dispose()
    assert [item.id for item in found] == [1, 4, 5]
    span = only_span(agent, "retrieval items")
    assert span.attributes["gen_ai.request.top_k"] == 3.0
    assert span.attributes["db.response.returned_rows"] == 3
    assert "<->" in span.attributes["db.query.text"]


def test_async_register_vector_type_lookup_makes_no_span(
    pgvector: PostgresServer, agent: InProcessAgent
) -> None:
    from pgvector.psycopg import register_vector_async

    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(pgvector.dsn()) as connection:
            await register_vector_async(connection)
            await connection.execute("SELECT 1")

    asyncio.run(main())
    agent.spans(1, name="SELECT")
    assert [span.name for span in agent.receiver.spans] == ["SELECT"]


def test_a_composed_query_is_recorded_as_psycopg_renders_it(
    items: PostgresServer, agent: InProcessAgent
) -> None:
    from psycopg import sql

    query = sql.SQL("SELECT id FROM {} ORDER BY embedding <=> %s LIMIT {}").format(
        sql.Identifier("items"), sql.Literal(2)
    )
    with psycopg.connect(items.dsn()) as connection:
        assert len(connection.execute(query, (QUERY_VECTOR,)).fetchall()) == 2
    span = only_span(agent, "retrieval items")  # the data source's name, unquoted
    assert span.attributes["db.query.text"] == (
        'SELECT id FROM "items" ORDER BY embedding <=> %s LIMIT 2'
    )
    assert span.attributes["gen_ai.request.top_k"] == 2.0
