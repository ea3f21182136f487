"""ASGI servers with several worker processes, stopped as production stops them: every request
of every worker is exported, whichever of SIGTERM or SIGINT the master gets."""

from __future__ import annotations

import json
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from llmtrace_agent.toolkit import semconv
from tests.support.fake_openai import FakeOpenAI
from tests.support.otlp_receiver import OTLPReceiver
from tests.support.servers import TracedServer, free_port

APPS = Path(__file__).resolve().parents[2] / "support" / "server_apps"
APP = "fastapi_app:app"


def uvicorn(port: int, *options: str) -> list[str]:
    return [sys.executable, "-m", "uvicorn", APP, "--port", str(port), *options]


def gunicorn(port: int, *options: str) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", *options, APP]


def hypercorn(port: int, *options: str) -> list[str]:
    return [sys.executable, "-m", "hypercorn", "-b", f"127.0.0.1:{port}", *options, APP]


CASES = [
    pytest.param(uvicorn, (), signal.SIGTERM, 1, id="uvicorn-sigterm"),
    pytest.param(uvicorn, ("--workers", "2"), signal.SIGINT, 2, id="uvicorn-w2-sigint"),
    pytest.param(uvicorn, ("--workers", "2"), signal.SIGTERM, 2, id="uvicorn-w2-sigterm"),
    pytest.param(
        gunicorn,
        ("-w", "2", "-k", "uvicorn.workers.UvicornWorker"),
        signal.SIGTERM,
        2,
        id="gunicorn-uvicornworker-w2-sigterm",
    ),
    pytest.param(hypercorn, (), signal.SIGTERM, 1, id="hypercorn-sigterm"),
    pytest.param(hypercorn, ("-w", "2"), signal.SIGINT, 2, id="hypercorn-w2-sigint"),
]


@pytest.mark.parametrize(("server_command", "options", "stop", "workers"), CASES)
def test_every_workers_requests_are_exported_when_the_server_is_stopped(
    server_command, options, stop, workers, _fake_openai: FakeOpenAI
) -> None:
    receiver = OTLPReceiver()
    port = free_port()
    server = TracedServer(
        server_command(port, *options),
        port,
        receiver,
        APPS,
        env={"FAKE_OPENAI_URL": _fake_openai.base_url, "OTEL_PYTHON_EXCLUDED_URLS": "health"},
        ready_path="/health",
    )
    answers: list[tuple[int, bytes]] = []
    try:
        # Rounds of concurrent requests that each block their worker's event loop, until every
        # worker answered (a worker still booting answers in a later round).
        for _ in range(10):
            with ThreadPoolExecutor(workers + 1) as pool:
                answers += pool.map(
                    lambda _: server.request("POST", "/busy/rain?wait=0.3"), range(workers + 1)
                )
            if len({json.loads(body)["pid"] for _, body in answers}) == workers:
                break
    finally:
        code = server.stop(stop)
    try:
        requests = len(answers)
        assert [status for status, _ in answers] == [200] * requests, server.output
        assert len({json.loads(body)["pid"] for _, body in answers}) == workers
        assert code in (0, -stop, 128 + stop), server.output
        spans = receiver.wait_for_spans(
            2 * requests,
            5,
            lambda s: s.kind == "SERVER" or semconv.GEN_AI_OPERATION_NAME in s.attributes,
        )
        servers = [s for s in spans if s.kind == "SERVER"]
        assert [s.name for s in servers] == ["POST /busy/{topic}"] * requests, server.output
        llm = [s for s in spans if semconv.GEN_AI_OPERATION_NAME in s.attributes]
        assert sorted(s.parent_span_id for s in llm) == sorted(s.span_id for s in servers)
    finally:
        receiver.close()
