"""The span queue when the collector cannot keep up: bounded, newest dropped, counted, quiet.

The in-process tests give a ``SpanQueue`` its own ``TracerProvider`` and a real OTLP/HTTP
exporter aimed at a loopback receiver that holds its first request until the test lets it go,
so the queue fills exactly as it would behind a stuck collector.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider

from llmtrace_agent._pipeline.span_queue import SpanQueue
from tests.resilience.collectors import HangingCollector
from tests.support.agent import run_traced
from tests.support.otlp_receiver import OTLPReceiver

MAX_QUEUE = 100
BATCH = 10


class HeldCollector:
    """A receiver whose first trace export blocks until ``release``."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self._released = threading.Event()
        self._first = True
        self.receiver = OTLPReceiver(respond=self._respond)

    def _respond(self, path: str) -> int:
        if path.endswith("/v1/traces") and self._first:
            self._first = False
            self.entered.set()
            self._released.wait(30)
        return 200

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self.release()
        self.receiver.close()


@pytest.fixture
def held() -> Iterator[HeldCollector]:
    collector = HeldCollector()
    yield collector
    collector.close()


def queue_to(endpoint: str, **options: float) -> tuple[SpanQueue, TracerProvider]:
    settings = {"max_queue_size": MAX_QUEUE, "max_export_batch_size": BATCH}
    settings.update(options)
    queue = SpanQueue(
        OTLPSpanExporter(endpoint=endpoint + "/v1/traces", timeout=5),
        schedule_delay_s=0.02,
        **settings,  # type: ignore[arg-type]
    )
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(queue)
    return queue, provider


def make_spans(provider: TracerProvider, first: int, count: int) -> None:
    tracer = provider.get_tracer("queue-test")
    for index in range(first, first + count):
        tracer.start_span(f"span-{index:05d}").end()


def stuck_with_a_full_queue(held: HeldCollector) -> tuple[SpanQueue, TracerProvider]:
    """A queue whose first batch is stuck at the collector, then 3 x MAX_QUEUE more spans."""
    queue, provider = queue_to(held.receiver.endpoint)
    make_spans(provider, 0, BATCH)
    assert held.entered.wait(10), "the first export never reached the collector"
    make_spans(provider, BATCH, 3 * MAX_QUEUE)
    return queue, provider


def test_full_queue_drops_the_newest_spans(held: HeldCollector) -> None:
    queue, provider = stuck_with_a_full_queue(held)
    held.release()
    assert queue.force_flush(10_000)
    received = sorted(span.name for span in held.receiver.spans)
    kept = BATCH + MAX_QUEUE  # the batch being sent, then a full queue of the oldest others
    assert received == [f"span-{index:05d}" for index in range(kept)]
    provider.shutdown()


def test_full_queue_counts_every_dropped_span(held: HeldCollector) -> None:
    queue, provider = stuck_with_a_full_queue(held)
    assert queue.dropped == 3 * MAX_QUEUE - MAX_QUEUE
    held.release()
    provider.shutdown()


def test_full_queue_logs_nothing_into_the_applications_logging(
    held: HeldCollector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    queue, provider = stuck_with_a_full_queue(held)
    assert queue.dropped > 0
    ours = [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.WARNING or record.name.startswith("opentelemetry")
    ]
    assert ours == []  # the SDK's processor logs "Queue full, dropping Span." for each one
    held.release()
    provider.shutdown()


def test_queue_stays_bounded_behind_a_hanging_collector() -> None:
    collector = HangingCollector()
    queue, provider = queue_to(collector.endpoint)
    try:
        make_spans(provider, 0, 50 * MAX_QUEUE)
        assert len(queue._spans) <= MAX_QUEUE
        assert queue.dropped >= 50 * MAX_QUEUE - MAX_QUEUE - BATCH
    finally:
        queue.shutdown_timeout_s = 0.1
        provider.shutdown()
        collector.close()


def test_force_flush_gives_up_at_its_timeout_when_the_collector_hangs() -> None:
    collector = HangingCollector()
    queue, provider = queue_to(collector.endpoint)
    try:
        make_spans(provider, 0, BATCH)
        started = time.monotonic()
        assert queue.force_flush(300) is False
        assert time.monotonic() - started < 2.0
    finally:
        queue.shutdown_timeout_s = 0.1
        provider.shutdown()
        collector.close()


def test_shutdown_returns_within_its_timeout_when_the_collector_hangs() -> None:
    collector = HangingCollector()
    _, provider = queue_to(collector.endpoint, shutdown_timeout_s=0.5)
    try:
        make_spans(provider, 0, 3 * BATCH)
        time.sleep(0.1)  # the worker is now inside an export that will never be answered
        started = time.monotonic()
        provider.shutdown()
        assert time.monotonic() - started < 2.0
    finally:
        collector.close()


def test_spans_ended_after_shutdown_are_ignored_quietly(held: HeldCollector) -> None:
    held.release()
    queue, provider = queue_to(held.receiver.endpoint)
    provider.shutdown()
    make_spans(provider, 0, 5)
    assert queue.dropped == 0
    assert held.receiver.spans == []


DROPPING_APP = """
import logging, sys
from opentelemetry import trace
logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="APPLOG %(name)s %(message)s")
tracer = trace.get_tracer("app")
for index in range(2000):
    tracer.start_span("work").end()
print("done", flush=True)
"""


def test_drops_are_reported_once_at_exit_in_one_line_on_stderr() -> None:
    collector = HangingCollector()
    try:
        done = run_traced(
            ["-c", DROPPING_APP],
            env={
                "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
                "OTEL_BSP_MAX_QUEUE_SIZE": "50",
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "10",
                "OTEL_BSP_SCHEDULE_DELAY": "10",
                "LLMTRACE_SHUTDOWN_TIMEOUT": "0.5",
            },
        )
    finally:
        collector.close()
    assert done.returncode == 0, done.stderr
    drops = [line for line in done.stderr.splitlines() if "export queue was full" in line]
    assert len(drops) == 1
    assert drops[0].startswith("llmtrace-agent: spans not exported: ")
    assert "(OTEL_BSP_MAX_QUEUE_SIZE=50)" in drops[0]
    assert [line for line in done.stdout.splitlines() if "Queue full" in line] == []
