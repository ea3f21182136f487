"""A collector that is down, hanging, slow or failing for a while never harms the application.

Each test runs a real program under ``llmtrace-run`` that makes spans in a loop and checks that
the loop ran as fast as with a healthy collector, that the process exited within
LLMTRACE_SHUTDOWN_TIMEOUT of its last line, and what reached the collector. The comparisons are
generous on purpose: what they catch is an export blocking the application (seconds), not noise.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping

import pytest

from tests.resilience.collectors import FailingFirst, HangingCollector, refused_endpoint, slow
from tests.support.agent import run_traced
from tests.support.otlp_receiver import OTLPReceiver

SPANS = 2000
SHUTDOWN_TIMEOUT = 2.0  # the default LLMTRACE_SHUTDOWN_TIMEOUT
EXIT_SLACK = 1.5  # interpreter teardown on a loaded CI machine

APP = """
import json, logging, sys, time
from opentelemetry import trace
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="APPLOG %(name)s %(message)s")
count = int(sys.argv[1])
tracer = trace.get_tracer("app")
start = time.perf_counter()
for index in range(count):
    with tracer.start_as_current_span("work") as span:
        span.set_attribute("index", index)
loop_s = time.perf_counter() - start
print(json.dumps({"loop_s": loop_s, "ended_at": time.time()}), flush=True)
"""


class Run:
    """What one traced run of the application showed."""

    def __init__(self, endpoint: str, env: Mapping[str, str] | None = None) -> None:
        settings = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "50"}
        settings.update(env or {})
        done = run_traced(["-c", APP, str(SPANS)], env=settings, timeout=90)
        finished_at = time.time()
        assert done.returncode == 0, done.stderr
        self.stdout = done.stdout
        self.stderr = done.stderr
        report = json.loads(done.stdout.splitlines()[-1])
        self.loop_s: float = report["loop_s"]
        self.exit_s = finished_at - report["ended_at"]

    @property
    def app_logs(self) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith("APPLOG")]

    @property
    def agent_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("llmtrace-agent:")]


@pytest.fixture(scope="module")
def healthy() -> Iterator[float]:
    """The loop's time with a healthy collector (the best of two runs)."""
    receiver = OTLPReceiver()
    try:
        runs = [Run(receiver.endpoint) for _ in range(2)]
        yield min(run.loop_s for run in runs)
    finally:
        receiver.close()


def not_slowed(run: Run, healthy: float) -> bool:
    return run.loop_s <= 2 * healthy + 0.5


def test_collector_down_neither_slows_the_app_nor_holds_its_exit(
    healthy: float,
) -> None:
    run = Run(refused_endpoint())
    assert not_slowed(run, healthy), (run.loop_s, healthy)
    assert run.exit_s <= SHUTDOWN_TIMEOUT + EXIT_SLACK


def test_hanging_collector_neither_slows_the_app_nor_holds_its_exit(
    healthy: float,
) -> None:
    collector = HangingCollector()
    try:
        run = Run(collector.endpoint)
    finally:
        collector.close()
    assert collector.connections, "the exporter never reached the hanging collector"
    assert not_slowed(run, healthy), (run.loop_s, healthy)
    assert run.exit_s <= SHUTDOWN_TIMEOUT + EXIT_SLACK


def test_slow_collector_does_not_slow_the_app_and_gets_every_span(
    healthy: float,
) -> None:
    receiver = OTLPReceiver(respond=slow(0.2))
    try:
        run = Run(receiver.endpoint)
        spans = receiver.wait_for_spans(SPANS, timeout=5, where=lambda s: s.name == "work")
    finally:
        receiver.close()
    assert not_slowed(run, healthy), (run.loop_s, healthy)
    assert run.exit_s <= SHUTDOWN_TIMEOUT + EXIT_SLACK
    assert len(spans) == SPANS


@pytest.mark.parametrize("status", [503, 429, 502, 504])
def test_every_span_arrives_within_the_default_budget_when_the_collector_fails_twice(
    status: int,
) -> None:
    respond = FailingFirst([status, status])
    receiver = OTLPReceiver(respond=respond)
    try:
        run = Run(receiver.endpoint)
        spans = receiver.wait_for_spans(SPANS, timeout=5, where=lambda s: s.name == "work")
    finally:
        receiver.close()
    assert len(spans) == SPANS
    assert len({span.span_id for span in spans}) == SPANS
    assert respond.trace_requests >= 3  # two refusals, then the retries that succeeded
    assert run.exit_s <= SHUTDOWN_TIMEOUT + EXIT_SLACK
    (line,) = run.agent_lines
    late = int(re.search(r"(\d+) sent late", line).group(1))  # type: ignore[union-attr]
    assert 0 < late <= SPANS
    assert f"HTTP {status}" in line
    assert "none lost" in line


def test_a_retry_after_that_fits_the_budget_is_waited_for() -> None:
    respond = FailingFirst([(429, {"Retry-After": "1"})])
    receiver = OTLPReceiver(respond=respond)
    try:
        run = Run(receiver.endpoint)
        spans = receiver.wait_for_spans(SPANS, timeout=5, where=lambda s: s.name == "work")
    finally:
        receiver.close()
    assert len(spans) == SPANS
    assert respond.times[1] - respond.times[0] >= 0.95
    assert run.exit_s <= SHUTDOWN_TIMEOUT + EXIT_SLACK


def test_a_retry_after_beyond_the_budget_is_not_waited_for() -> None:
    respond = FailingFirst([(503, {"Retry-After": "60"})] * 1000)
    receiver = OTLPReceiver(respond=respond)
    try:
        run = Run(receiver.endpoint)
    finally:
        receiver.close()
    assert run.exit_s <= 1.0 + EXIT_SLACK  # gave up at once instead of holding the exit
    (line,) = [line for line in run.agent_lines if "spans not exported" in line]
    assert f"{SPANS} refused by or unreachable at the collector" in line
    assert "HTTP 503" in line


def test_collector_down_is_reported_once_and_stays_out_of_the_apps_logs() -> None:
    run = Run(refused_endpoint())
    assert run.app_logs == []
    others = [line for line in run.stderr.splitlines() if line not in run.agent_lines]
    assert others == []
    (line,) = [line for line in run.agent_lines if "spans not exported" in line]
    counts, _, reason = line.partition("(last exporter error:")
    assert sum(int(n) for n in re.findall(r"(\d+) (?:refused|still queued)", counts)) == SPANS
    assert "ConnectionRefusedError" in reason  # why: the last error the exporter met
