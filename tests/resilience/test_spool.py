"""The spool (LLMTRACE_SPOOL_DIR): what a collector outage kept from one run, the next run sends,
each span once, even when several processes drain the folder at the same time.

Real programs under ``llmtrace-run``, a refused endpoint for the outage, a real OTLP receiver for
the recovery.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.resilience.collectors import refused_endpoint, slow
from tests.support.agent import clean_env, run_traced
from tests.support.otlp_receiver import OTLPReceiver

APP = """
import sys
from opentelemetry import trace
tracer = trace.get_tracer("app")
name, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for index in range(count):
    with tracer.start_as_current_span(name) as span:
        span.set_attribute("index", index)
        span.set_attribute("padding", "x" * size)
"""
LAUNCH = [sys.executable, "-m", "llmtrace_agent", "--", sys.executable]
EXIT_BUDGET = 2.0 + 1.5  # LLMTRACE_SHUTDOWN_TIMEOUT and interpreter teardown on a busy machine


def spool_env(spool: Path, endpoint: str, **extra: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_METRICS_EXPORTER": "none",
        "LLMTRACE_SPOOL_DIR": str(spool),
        **extra,
    }


def run(spool: Path, endpoint: str, name: str, count: int, size: int = 0, **extra: str) -> str:
    started = time.monotonic()
    done = run_traced(
        ["-c", APP, name, str(count), str(size)], env=spool_env(spool, endpoint, **extra)
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 10
    return done.stderr


def spooled_spans(spool: Path) -> int:
    return sum(int(p.name.split("-")[3].split(".")[0]) for p in spool.glob("*.otlp"))


def test_spans_of_a_run_during_an_outage_arrive_once_with_the_next_run(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    stderr = run(spool, refused_endpoint(), "outage", 300, OTEL_BSP_MAX_EXPORT_BATCH_SIZE="100")
    assert "300 kept in LLMTRACE_SPOOL_DIR" in stderr, stderr
    assert "none lost" in stderr
    files = list(spool.glob("*.otlp"))
    assert len(files) >= 3 and spooled_spans(spool) == 300  # one file per batch
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}

    receiver = OTLPReceiver()
    try:
        run(spool, receiver.endpoint, "recovered", 5)
        spans = receiver.wait_for_spans(305, timeout=5)
    finally:
        receiver.close()
    assert Counter(span.name for span in spans) == {"outage": 300, "recovered": 5}
    assert len({span.span_id for span in spans}) == 305
    assert list(spool.iterdir()) == []


def test_two_processes_draining_one_folder_send_each_file_once(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    run(spool, refused_endpoint(), "outage", 400, OTEL_BSP_MAX_EXPORT_BATCH_SIZE="10")
    assert len(list(spool.glob("*.otlp"))) >= 40

    receiver = OTLPReceiver(respond=slow(0.02))  # slow enough for the two drains to overlap
    try:
        # Each process waits a moment before exiting, so both drain while the other does.
        program = APP + "import time; time.sleep(0.5)\n"
        env = clean_env(
            {"LLMTRACE_RAISE_INTERNAL_ERRORS": "true"} | spool_env(spool, receiver.endpoint)
        )
        processes = [
            subprocess.Popen(
                [*LAUNCH, "-c", program, f"drainer-{i}", "1", "0"],
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(2)
        ]
        for process in processes:
            _, stderr = process.communicate(timeout=30)
            assert process.returncode == 0, stderr
        spans = receiver.wait_for_spans(402, timeout=5)
    finally:
        receiver.close()
    assert Counter(span.name for span in spans) == {"outage": 400, "drainer-0": 1, "drainer-1": 1}
    assert len({span.span_id for span in spans}) == 402  # no file was sent twice
    assert list(spool.iterdir()) == []


def test_the_spool_stays_under_its_bound_dropping_the_oldest_and_saying_how_many(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    # 3000 spans of ~1 kB in batches of 100: about 3 MB for a 1 MB spool.
    stderr = run(
        spool,
        refused_endpoint(),
        "outage",
        3000,
        1000,
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE="100",
        LLMTRACE_SPOOL_MAX_MB="1",
    )
    size = sum(f.stat().st_size for f in spool.glob("*.otlp"))
    assert 0 < size <= 1024 * 1024
    kept = spooled_spans(spool)
    deleted = int(re.search(r"(\d+) deleted from the full spool", stderr).group(1))  # type: ignore[union-attr]
    assert kept + deleted == 3000, stderr


def test_a_collector_still_down_leaves_the_spool_for_later_without_holding_the_exit(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    run(spool, refused_endpoint(), "first", 50)
    waiting = sorted(p.name for p in spool.glob("*.otlp"))
    started = time.monotonic()
    run(spool, refused_endpoint(), "second", 50)
    assert time.monotonic() - started < EXIT_BUDGET + 1.5
    assert set(waiting) <= {p.name for p in spool.glob("*.otlp")}  # released, not lost
    assert spooled_spans(spool) == 100
    assert not [p for p in spool.iterdir() if not p.name.endswith(".otlp")]
    os.sync()


def test_the_spool_holds_only_scrubbed_data(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    key = "sk-proj-Q7xW2mZr9LkP4vTb8NcY3hJd6FgS1aE5uRoI0pVt"
    program = APP.replace('"x" * size', f'"key={key}"')
    done = run_traced(["-c", program, "leaky", "3", "0"], env=spool_env(spool, refused_endpoint()))
    assert done.returncode == 0, done.stderr
    payload = b"".join(path.read_bytes() for path in spool.glob("*.otlp"))
    assert b"leaky" in payload
    assert key.encode() not in payload
    assert b"[REDACTED" in payload
