"""Flask under gunicorn (2 pre-fork workers, with and without ``--preload``) and ``flask run``:
one SERVER span per request, named after the rule, LLM calls under it, nothing lost on SIGTERM
or SIGINT."""

from __future__ import annotations

import json
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from llmtrace_agent.toolkit import semconv
from tests.support.fake_openai import FakeOpenAI, Reply, chat_completion
from tests.support.otlp_receiver import OTLPReceiver
from tests.support.server_scenario import TRACE_ID, TRACEPARENT, collect, server_span
from tests.support.servers import TracedServer, free_port

APPS = Path(__file__).resolve().parents[2] / "support" / "server_apps"


def gunicorn(port: int, *options: str) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", *options, "flask_app:app"]


def flask_run(port: int, *options: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "flask_app", "run", "--port", str(port)]


@pytest.mark.parametrize(
    ("command", "stop"),
    [
        pytest.param(lambda p: gunicorn(p, "-w", "2"), signal.SIGTERM, id="gunicorn-w2-sigterm"),
        pytest.param(
            lambda p: gunicorn(p, "-w", "2", "--preload"),
            signal.SIGINT,
            id="gunicorn-preload-sigint",
        ),
        pytest.param(flask_run, signal.SIGINT, id="flask-run-sigint"),
    ],
)
def test_every_request_of_every_worker_is_exported_after_a_signal(
    command, stop, tmp_path, _fake_openai: FakeOpenAI
) -> None:
    receiver = OTLPReceiver()
    port = free_port()
    server = TracedServer(
        command(port),
        port,
        receiver,
        APPS,
        env={"FAKE_OPENAI_URL": _fake_openai.base_url, "LLMTRACE_SERVER_EXCLUDE_URLS": "/health"},
        ready_path="/health",
    )
    pids: set[int] = set()
    sent = 0
    try:
        status, body = server.get("/hello/ada", {"traceparent": TRACEPARENT})
        assert status == 200
        sent += 1
        pids.add(json.loads(body)["pid"])
        if "gunicorn" in " ".join(command(0)):
            # Concurrent slow requests: a busy sync worker leaves the next one to the other.
            with ThreadPoolExecutor(4) as pool:
                answers = list(pool.map(lambda _: server.get("/hello/bob?wait=0.5"), range(4)))
            sent += len(answers)
            pids.update(json.loads(body)["pid"] for _, body in answers)
        status, body = server.get("/stream")
        assert (status, body) == (200, b"Hello from the fake server!")
        assert server.get("/boom")[0] == 500
    finally:
        code = server.stop(stop)
    try:
        if "gunicorn" in " ".join(command(0)):
            assert len(pids) == 2, "both workers answered"
        assert code in (0, -stop, 1 if stop == signal.SIGINT else 0), server.output
        spans = collect(receiver, 2 * sent + 3)
        hello = [s for s in spans if s.kind == "SERVER" and s.name == "GET /hello/<name>"]
        assert len(hello) == sent
        llm = [s for s in spans if s.attributes.get(semconv.GEN_AI_REQUEST_MODEL) == "gpt-4o-mini"]
        assert len(llm) == sent
        assert {s.parent_span_id for s in llm} == {s.span_id for s in hello}
        first = next(s for s in hello if s.trace_id == TRACE_ID)
        assert first.attributes[semconv.HTTP_ROUTE] == "/hello/<name>"
        assert first.attributes[semconv.URL_PATH] == "/hello/ada"
        assert first.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] == 200
        assert first.attributes[semconv.SERVER_PORT] == port

        streamed = server_span(spans, "GET /stream")
        stream_llm = next(
            s for s in spans if s.attributes.get(semconv.GEN_AI_REQUEST_MODEL) == "gpt-4o-stream"
        )
        assert stream_llm.parent_span_id == streamed.span_id
        assert stream_llm.end_ns <= streamed.end_ns

        failed = server_span(spans, "GET /boom")
        assert failed.status_code == "ERROR"
        assert failed.attributes[semconv.ERROR_TYPE] == "RuntimeError"
        assert failed.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] == 500
        assert not [s for s in spans if s.attributes.get(semconv.URL_PATH) == "/health"]
    finally:
        receiver.close()


def test_a_request_killed_by_the_worker_timeout_is_an_error_and_the_next_worker_traces(
    fake_openai: FakeOpenAI,
) -> None:
    # An LLM answer slower than gunicorn's --timeout: the master aborts the worker (SIGABRT, which
    # gunicorn turns into SystemExit inside the view) and forks a new one.
    receiver = OTLPReceiver()
    port = free_port()
    server = TracedServer(
        gunicorn(port, "-w", "1", "--timeout", "1"),
        port,
        receiver,
        APPS,
        env={"FAKE_OPENAI_URL": fake_openai.base_url, "LLMTRACE_SERVER_EXCLUDE_URLS": "/health"},
        ready_path="/health",
    )
    try:
        fake_openai.reply(Reply(body=chat_completion(), delay=4))
        assert server.get("/hello/slow")[0] == 500  # gunicorn's answer for the aborted request
        server.wait_ready("/health")  # the replacement worker
        assert server.get("/hello/ada")[0] == 200
    finally:
        code = server.stop(signal.SIGTERM)
    try:
        assert code == 0, server.output
        spans = collect(receiver, 4)
        killed, served = sorted(
            (s for s in spans if s.kind == "SERVER"), key=lambda span: span.start_ns
        )
        assert killed.attributes[semconv.URL_PATH] == "/hello/slow"
        assert killed.status_code == "ERROR"
        assert killed.attributes[semconv.ERROR_TYPE] == "SystemExit"
        [killed_llm] = [s for s in spans if s.parent_span_id == killed.span_id]
        assert killed_llm.attributes[semconv.ERROR_TYPE] == "SystemExit"
        assert served.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] == 200
        assert served.status_code == "UNSET"
        [served_llm] = [s for s in spans if s.parent_span_id == served.span_id]
        assert served_llm.status_code == "UNSET"
    finally:
        receiver.close()
