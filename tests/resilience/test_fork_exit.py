"""Forked children export their spans however they leave: ``os._exit``, a multiprocessing
worker's own exit, ``Pool.terminate()`` (SIGTERM), over OTLP/HTTP and OTLP/gRPC.

Each test runs a real program under ``llmtrace-run`` and counts, at a real OTLP receiver, the
spans each process made.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.support.agent import run_traced
from tests.support.otlp_receiver import OTLPReceiver

RAW_FORK = """
import os, sys
from opentelemetry import trace
tracer = trace.get_tracer("app")
tracer.start_span("parent").end()
pid = os.fork()
if pid == 0:
    for _ in range(10):
        tracer.start_span("child").end()
    os._exit(int(sys.argv[1]))  # no atexit, no flush of its own
_, status = os.waitpid(pid, 0)
print("child exit code", os.waitstatus_to_exitcode(status))
"""


def run_app(source: str, tmp_path: Path, *args: str, **kwargs: object) -> str:
    app = tmp_path / "app.py"
    app.write_text(source)
    done = run_traced([str(app), *args], **kwargs)  # type: ignore[arg-type]
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    return done.stdout


@pytest.mark.parametrize("exit_code", [0, 3])
def test_a_raw_fork_child_leaving_through_os_exit_exports_its_spans(
    exit_code: int, receiver: OTLPReceiver, tmp_path: Path
) -> None:
    stdout = run_app(RAW_FORK, tmp_path, str(exit_code), receiver=receiver)
    assert f"child exit code {exit_code}" in stdout  # os._exit's status is kept
    spans = receiver.wait_for_spans(11, timeout=5)
    assert Counter(span.name for span in spans) == {"parent": 1, "child": 10}


def test_a_raw_fork_child_exports_over_grpc_after_its_parent_did(tmp_path: Path) -> None:
    receiver = OTLPReceiver()
    try:
        endpoint = receiver.start_grpc()
        # The parent exports first (its channel exists at the fork), then forks.
        source = RAW_FORK.replace(
            'tracer.start_span("parent").end()',
            'tracer.start_span("parent").end()\nimport llmtrace_agent; llmtrace_agent.flush()',
        )
        stdout = run_app(
            source,
            tmp_path,
            "0",
            env={
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_METRICS_EXPORTER": "none",
            },
        )
        assert "child exit code 0" in stdout
        spans = receiver.wait_for_spans(11, timeout=5)
    finally:
        receiver.close()
    assert Counter(span.name for span in spans) == {"parent": 1, "child": 10}


POOL_TERMINATED = """
import multiprocessing, sys, time
from opentelemetry import trace
tracer = trace.get_tracer("app")

def work(index):
    for _ in range(5):
        tracer.start_span(f"task-{index}").end()
    return index

if __name__ == "__main__":
    with multiprocessing.get_context(sys.argv[1]).Pool(2) as pool:  # leaving it: terminate()
        assert sorted(pool.map(work, range(4), chunksize=1)) == [0, 1, 2, 3]
    started = time.perf_counter()
    print("terminated in", time.perf_counter() - started)
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pool_workers_stopped_by_terminate_export_their_spans(
    method: str, receiver: OTLPReceiver, tmp_path: Path
) -> None:
    run_app(POOL_TERMINATED, tmp_path, method, receiver=receiver)
    spans = receiver.wait_for_spans(20, timeout=5)
    assert Counter(span.name for span in spans) == {f"task-{i}": 5 for i in range(4)}


PROCESS_OS_EXIT = """
import multiprocessing, os, sys
from opentelemetry import trace
tracer = trace.get_tracer("app")

def work():
    for _ in range(5):
        tracer.start_span("worker").end()
    os._exit(0)

if __name__ == "__main__":
    process = multiprocessing.get_context(sys.argv[1]).Process(target=work)
    process.start()
    process.join()
    assert process.exitcode == 0
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_multiprocessing_worker_leaving_through_os_exit_exports_its_spans(
    method: str, receiver: OTLPReceiver, tmp_path: Path
) -> None:
    run_app(PROCESS_OS_EXIT, tmp_path, method, receiver=receiver)
    spans = receiver.wait_for_spans(5, timeout=5)
    assert Counter(span.name for span in spans) == {"worker": 5}
