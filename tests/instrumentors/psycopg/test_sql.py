"""The SQL reading behind the psycopg spans' names: summaries per the database conventions'
"Generating a summary of the query", similarity searches, LIMITs, literal sanitizing."""

from __future__ import annotations

import pytest

from llmtrace_agent.instrumentors.psycopg.sql import shape_of


@pytest.mark.parametrize(
    ("text", "summary"),
    [
        ("SELECT * FROM wuser_table WHERE username = %s", "SELECT wuser_table"),
        (
            "INSERT INTO shipping_details (order_id, address) SELECT order_id, address "
            "FROM orders WHERE order_id = %s",
            "INSERT shipping_details SELECT orders",
        ),
        ("SELECT * FROM songs, artists WHERE songs.artist_id = artists.id", "SELECT songs artists"),
        (
            "SELECT order_date FROM (SELECT * FROM orders o JOIN customers c "
            "ON o.customer_id = c.customer_id)",
            "SELECT SELECT orders customers",
        ),
        ('SELECT * FROM "song list", public.artists', 'SELECT "song list" public.artists'),
        ("select extract(year from ts) from events", "select events"),
        ("WITH recent AS (SELECT * FROM logs) SELECT * FROM recent", "SELECT logs SELECT recent"),
        ("UPDATE items SET embedding = %s WHERE id = %s", "UPDATE items"),
        ("DELETE FROM items WHERE id = ANY(%s)", "DELETE items"),
        (
            "INSERT INTO items (id) VALUES (%s) ON CONFLICT (id) DO UPDATE SET id = excluded.id",
            "INSERT items",
        ),
        ("CREATE EXTENSION IF NOT EXISTS vector", "CREATE EXTENSION vector"),
        ("CREATE INDEX ON items USING hnsw (embedding vector_l2_ops)", "CREATE INDEX items"),
        ("DROP TABLE IF EXISTS items", "DROP TABLE items"),
        ("BEGIN", "BEGIN"),
        ("-- the app's note\nSELECT 1 /* FROM secret */ FROM $$ FROM x $$", "SELECT"),
    ],
)
def test_summary(text: str, summary: str) -> None:
    assert shape_of(text).summary == summary


@pytest.mark.parametrize("operator", ["<->", "<=>", "<#>", "<+>"])
def test_every_pgvector_distance_operator_is_a_search(operator: str) -> None:
    shape = shape_of(f"SELECT id FROM docs ORDER BY embedding {operator} %s LIMIT 4")
    assert shape.search_table == "docs"
    assert shape.top_k(("[1,2]",)) == 4


@pytest.mark.parametrize(
    ("text", "params", "top_k"),
    [
        ("SELECT id, e <-> %s AS d FROM t ORDER BY d LIMIT %s", ("[1]", 7), 7),
        ("SELECT id FROM t ORDER BY e <=> %(q)s LIMIT %(k)s::INTEGER", {"q": "[1]", "k": 3}, 3),
        ("SELECT id FROM t ORDER BY e <-> $1 LIMIT $2", ("[1]", 9), 9),
        ("SELECT id FROM t WHERE x = '%s' ORDER BY e <-> %s LIMIT %s", ("[1]", 2), 2),
        ("SELECT id FROM t ORDER BY e <-> %s", ("[1]",), None),
        ("SELECT id FROM t ORDER BY e <-> %s LIMIT %s", ("[1]", "5"), None),
    ],
)
def test_top_k_from_the_limit(text: str, params: object, top_k: int | None) -> None:
    assert shape_of(text).top_k(params) == top_k


def test_a_quoted_table_is_a_data_source_without_its_quotes() -> None:
    shape = shape_of('SELECT id FROM "public"."My ""Items""" ORDER BY e <-> %s LIMIT 1')
    assert shape.search_table == 'public.My "Items"'
    assert shape.summary == 'SELECT "public"."My ""Items"""'


def test_a_distance_without_a_table_is_no_search() -> None:
    assert shape_of("SELECT '[1,2]'::vector <-> '[2,3]'::vector").search_table is None
    assert shape_of("SELECT id FROM t WHERE note = '<->'").search_table is None


def test_literals_are_replaced_and_placeholders_kept() -> None:
    text = "SELECT t1.id FROM t1 WHERE a = 'it''s' AND b > 3.5e2 AND c = $1 AND d = $$x$$"
    assert shape_of(text).sanitized == (
        "SELECT t1.id FROM t1 WHERE a = ? AND b > ? AND c = $1 AND d = ?"
    )


def test_a_long_summary_is_cut_between_words() -> None:
    tables = ", ".join(f"table_number_{i}" for i in range(40))
    summary = shape_of(f"SELECT * FROM {tables}").summary
    assert summary is not None and len(summary) <= 255
    assert summary.endswith(tuple(f"table_number_{i}" for i in range(40)))
