"""Fixtures of the psycopg tests: skipped without psycopg; one PostgreSQL server with pgvector
for the session (tests/support/postgres.py), skipped with the reason when it cannot start."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("psycopg")

import psycopg

from tests.support.postgres import CannotStart, PostgresServer


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
    except CannotStart as exc:
        pytest.skip(f"no PostgreSQL server: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pgvector(postgres: PostgresServer) -> PostgresServer:
    """The server, with the pgvector extension in its test database."""
    if not postgres.pgvector:
        pytest.skip("this PostgreSQL has no pgvector extension (pip install pgserver has one)")
    return postgres


ITEMS = [(1, "[1,0,0]"), (2, "[0,1,0]"), (3, "[0,0,1]"), (4, "[1,1,0]"), (5, "[0.25,-0.5,0.125]")]


@pytest.fixture
def items(pgvector: PostgresServer) -> PostgresServer:
    """A fresh ``items`` table (id, embedding vector(3)) holding five rows."""
    with psycopg.connect(pgvector.dsn(), autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS items")
        connection.execute("CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(3))")
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO items (id, embedding) VALUES (%s, %s)", ITEMS)
    return pgvector
