"""chromadb's HTTP clients (sync and async) against a real Chroma server (``chroma run``) on
loopback: the spans name the server; the async client's operations are traced like the sync
ones."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chromadb
import pytest

from llmtrace_agent.toolkit import semconv
from tests.support.agent import InProcessAgent
from tests.support.servers import free_port
from tests.support.stores import documents, store_spans

EMBEDDINGS = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """``chroma run`` on a free loopback port; its port."""
    command = shutil.which("chroma", path=str(Path(sys.executable).parent))
    if command is None:
        pytest.skip("this chromadb has no `chroma` command")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    server = subprocess.Popen(
        [command, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"ANONYMIZED_TELEMETRY": "False", "PATH": "/usr/bin:/bin"},
        cwd=path,  # chromadb 0.5's server writes chroma.log where it runs
    )
    try:
        deadline = time.monotonic() + 30
        while not _answers(port):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.skip("chroma run did not start")
            time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(10)


def _answers(port: int) -> bool:
    for version in ("v2", "v1"):
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/{version}/heartbeat", timeout=1
            ):
                return True
        except OSError:
            continue
    return False


def _settings() -> Any:
    return chromadb.Settings(anonymized_telemetry=False)


def test_the_http_client_names_the_server(agent: InProcessAgent, chroma_server: int) -> None:
    client = chromadb.HttpClient(host="127.0.0.1", port=chroma_server, settings=_settings())
    collection = client.get_or_create_collection("remote", embedding_function=None)
    agent.flush()
    agent.receiver.clear()

    collection.upsert(ids=["a", "b"], embeddings=EMBEDDINGS)
    collection.query(query_embeddings=[EMBEDDINGS[0]], n_results=1)

    upsert, query = store_spans(agent, 2)
    assert (upsert.name, query.name) == ("upsert remote", "retrieval remote")
    for span in (upsert, query):
        assert span.attributes[semconv.SERVER_ADDRESS] == "127.0.0.1"
        assert span.attributes[semconv.SERVER_PORT] == chroma_server
    assert query.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 1
    http = [s for s in agent.receiver.spans if s.parent_span_id == query.span_id]
    assert all(s.kind == "CLIENT" for s in http)  # the client's HTTP request, if any, inside


def test_the_async_client_is_traced(agent: InProcessAgent, chroma_server: int) -> None:
    async def app() -> tuple[Any, Any]:
        client = await chromadb.AsyncHttpClient(
            host="127.0.0.1", port=chroma_server, settings=_settings()
        )
        collection = await client.get_or_create_collection("async_docs", embedding_function=None)
        await collection.add(ids=["a", "b"], embeddings=EMBEDDINGS, documents=["one", "two"])
        found = await collection.query(query_embeddings=EMBEDDINGS, n_results=1)
        counted = await collection.count()
        with pytest.raises(Exception) as raised:
            await collection.query(query_embeddings=[[1.0, 0.0]], n_results=1)
        await client.delete_collection("async_docs")
        return (found, counted), raised.value

    with agent.configured(capture_content=True):
        (found, counted), error = asyncio.run(app())
        add, query, count, failed = store_spans(agent, 4)

    assert found["ids"] == [["a"], ["b"]] and counted == 2
    assert [s.name for s in (add, query, count, failed)] == [
        "add async_docs",
        "retrieval async_docs",
        "count async_docs",
        "retrieval async_docs",
    ]
    assert add.attributes[semconv.DB_RECORDS_AFFECTED] == 2
    assert query.attributes[semconv.DB_OPERATION_BATCH_SIZE] == 2
    assert query.attributes[semconv.DB_RESPONSE_RETURNED_ROWS] == 2
    assert [d["id"] for d in documents(query)] == ["a", "b"]
    assert query.attributes[semconv.SERVER_PORT] == chroma_server
    assert failed.status_code == "ERROR"
    assert failed.attributes["error.type"] == f"{type(error).__module__}.{type(error).__qualname__}"
    assert len({s.trace_id for s in (add, query, count, failed)}) == 4  # no parent: own traces
