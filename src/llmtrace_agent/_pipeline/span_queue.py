"""The span processor that batches finished spans to an exporter on a background thread.

It replaces the SDK's ``BatchSpanProcessor`` for three reasons:

- **No logging into the application.** When its queue is full the SDK's processor logs a
  ``logging`` warning for every span it drops, into the application's own logs. This one counts
  drops and reports the total once, in one line on stderr, when the process exits.
- **Documented overflow policy: the newest span is dropped.** Spans already queued are kept (they
  are older, and often the parents of the new ones), and the cost of a drop on the application's
  thread is one comparison and one addition. The queue holds at most ``max_queue_size`` spans (a
  few more at most, when several threads end spans at the same instant), so memory is bounded.
- **Bounded waits.** ``force_flush`` honours its timeout (the SDK's ignores it) and ``shutdown``
  gives the final export at most ``shutdown_timeout`` seconds, then stops the exporter, which
  aborts its retry back-off. A dead or hanging collector never holds the process at exit.
  Within that budget, transient collector errors are retried quickly (``retry.py``), so a
  collector that recovers in time gets every span; the exit report counts the spans sent late.

``on_end`` is the only part that runs on the application's threads: an append to a deque, and a
wake-up of the worker when a full batch is waiting. Everything else runs on the worker thread,
which is started on the first span (and again in a forked child, which drops the parent's queue:
those spans are the parent's to export).
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import threading
import time
import weakref

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SpanExportResult

from llmtrace_agent._pipeline import retry
from llmtrace_agent._runtime import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter

_SUPPRESS_INSTRUMENTATION = getattr(
    otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", "suppress_instrumentation"
)
# The OTLP exporters log every retry and every failed batch through ``logging``: with a collector
# down that is several lines a second in the application's logs. The queue keeps them out (unless
# LLMTRACE_DEBUG is on) and its one line at exit says how many spans were lost, and why.
_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.common.http",
)


class _ExporterLogFilter(logging.Filter):
    """Swallows the exporters' log records, remembering the last one for the exit report."""

    def __init__(self) -> None:
        super().__init__()
        self.last_message: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            try:
                self.last_message = record.getMessage()
            except Exception:  # a record whose arguments do not format
                self.last_message = str(record.msg)
        return log.debug_enabled


_exporter_logs = _ExporterLogFilter()
for _name in _EXPORTER_LOGGERS:
    logging.getLogger(_name).addFilter(_exporter_logs)


def _spooled() -> bool:
    from llmtrace_agent._pipeline import spool

    return spool.note.spooled


def _dropped_from_spool() -> int:
    from llmtrace_agent._pipeline import spool

    return spool._active[0].dropped_spans if spool._active is not None else 0


class SpanQueue(SpanProcessor):
    """Queues ended spans and exports them in batches from one background thread."""

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue_size: int = 8192,
        max_export_batch_size: int = 512,
        schedule_delay_s: float = 1.0,
        shutdown_timeout_s: float = 2.0,
        spooling: bool = False,
    ) -> None:
        self.exporter = exporter
        self.spooling = spooling
        """The exporter keeps what it cannot deliver in the spool (``spool.py``)."""
        self.max_queue_size = max_queue_size
        self.max_export_batch_size = max(1, min(max_export_batch_size, max_queue_size))
        self.schedule_delay_s = schedule_delay_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self.dropped = 0
        """Spans dropped because the queue was full."""
        self.undelivered = 0
        """Spans in batches the exporter reported as failed (collector down, rejected…)."""
        self.exported = 0
        """Spans in batches the exporter accepted."""
        self.sent_late = 0
        """Of those, spans accepted only after retrying a transient collector error."""
        self.spooled = 0
        """Spans not delivered but kept in the spool for the next process to send."""
        self._in_flight = 0
        self._spans: collections.deque[ReadableSpan] = collections.deque()
        self._wake = threading.Event()
        self._counter_lock = threading.Lock()
        self._flush_requests: list[threading.Event] = []
        self._worker: threading.Thread | None = None
        self._stopping = False
        self._exporter_closed = False
        self._reported = False
        # After the agent's bounded shutdown (registered later, so run earlier), finished or not.
        atexit.register(self.report_losses)
        if hasattr(os, "register_at_fork"):
            reset = weakref.WeakMethod(self._reset_after_fork)

            def after_fork_in_child() -> None:
                method = reset()
                if method is not None:
                    method()

            os.register_at_fork(after_in_child=after_fork_in_child)

    # --- the application's side -------------------------------------------------------------

    def on_end(self, span: ReadableSpan) -> None:
        # Hot path: once per ended span, on the application's thread.
        context = span.context
        if context is None or not context.trace_flags.sampled or self._stopping:
            return
        spans = self._spans
        if len(spans) >= self.max_queue_size:
            with self._counter_lock:
                self.dropped += 1
            return
        spans.append(span)
        if self._worker is None:
            self._start_worker()
        elif len(spans) >= self.max_export_batch_size and not self._wake.is_set():
            self._wake.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export every span queued so far; False if that took longer than ``timeout_millis``."""
        if self._worker is None or self._stopping:
            return not self._spans
        done = threading.Event()
        self._flush_requests.append(done)
        self._wake.set()
        return done.wait(timeout_millis / 1000)

    def shutdown(self) -> None:
        """Export what is queued (for at most ``shutdown_timeout_s``), then stop the exporter."""
        if self._stopping:
            return
        self._stopping = True
        worker = self._worker
        # With a spool, the end of the budget is kept for writing what is still queued to it.
        reserve = min(0.25 * self.shutdown_timeout_s, 0.5) if self.spooling else 0.0
        if worker is not None:
            deadline = retry.hurry(time.monotonic() + self.shutdown_timeout_s - reserve)
            self._wake.set()
            worker.join(max(deadline - time.monotonic(), 0.0))
        self._exporter_closed = True
        if reserve and worker is not None and worker.is_alive():
            self._divert_to_spool()
            worker.join(reserve / 2)  # its last batch goes to the spool too, now
        try:
            # Also aborts a retry back-off still under way in a stuck worker.
            self.exporter.shutdown()
        except Exception as exc:
            log.debug(f"span exporter shutdown failed: {exc!r}")
        self.report_losses()

    def _divert_to_spool(self) -> None:
        """The exit budget is spent: what is still queued goes to the spool, unsent."""
        from llmtrace_agent._pipeline import spool

        spool.diverting = True
        spans = self._spans
        while spans:
            batch = []
            try:
                for _ in range(self.max_export_batch_size):
                    batch.append(spans.popleft())  # the worker may still take some: each once
            except IndexError:
                pass
            if batch:
                self._export(batch)

    def report_losses(self) -> None:
        """Say once, in one line on stderr, how many spans were sent late, kept, or lost."""
        if self._reported:
            return
        losses = []
        if self.dropped:
            losses.append(
                f"{self.dropped} dropped because the export queue was full "
                f"(OTEL_BSP_MAX_QUEUE_SIZE={self.max_queue_size})"
            )
        if self.undelivered:
            losses.append(f"{self.undelivered} refused by or unreachable at the collector")
        lost_in_queue = len(self._spans) + self._in_flight
        if lost_in_queue:
            losses.append(
                f"{lost_in_queue} still queued or being sent at exit (LLMTRACE_SHUTDOWN_TIMEOUT)"
            )
        dropped_from_spool = _dropped_from_spool() if self.spooling else 0
        if dropped_from_spool:
            losses.append(
                f"{dropped_from_spool} deleted from the full spool (LLMTRACE_SPOOL_MAX_MB)"
            )
        saved = []
        if self.sent_late:
            saved.append(
                f"{self.sent_late} sent late, after retrying the collector's transient errors "
                f"({retry.last_transient})"
            )
        if self.spooled:
            saved.append(f"{self.spooled} kept in LLMTRACE_SPOOL_DIR for the next traced process")
        if not (losses or saved):
            return
        self._reported = True
        if not losses:
            log.warning("spans: " + "; ".join(saved) + "; none lost")
            return
        last_error = retry.last_error or _exporter_logs.last_message
        reason = f" (last exporter error: {last_error[:200]})" if last_error else ""
        log.warning("spans not exported: " + "; ".join(losses + saved) + reason)

    # --- the worker thread ------------------------------------------------------------------

    def _start_worker(self) -> None:
        with self._counter_lock:
            if self._worker is not None:
                return
            worker = threading.Thread(target=self._run, name="llmtrace-span-export", daemon=True)
            worker.start()
            self._worker = worker

    def _run(self) -> None:
        # The exporter's own HTTP requests must not be traced (by us or any instrumentation).
        otel_context.attach(otel_context.set_value(_SUPPRESS_INSTRUMENTATION, True))
        wake = self._wake
        while not self._stopping:
            wake.wait(self.schedule_delay_s)
            wake.clear()
            requests, self._flush_requests = self._flush_requests, []
            self._export_queued()
            for done in requests:
                done.set()
        self._export_queued()
        for done in self._flush_requests:
            done.set()

    def _export_queued(self) -> None:
        """Export the spans queued now, in batches (later arrivals wait for the next round)."""
        spans = self._spans
        remaining = len(spans)
        while remaining > 0 and not self._exporter_closed:
            count = min(remaining, self.max_export_batch_size)
            remaining -= count
            batch = [spans.popleft() for _ in range(count)]
            self._in_flight = count
            self._export(batch)
            self._in_flight = 0

    def _export(self, batch: list[ReadableSpan]) -> None:
        """Export one batch and count what became of its spans."""
        count = len(batch)
        note = retry.note
        note.retried = False
        try:
            result = self.exporter.export(batch)
        except Exception as exc:
            log.debug(f"span export failed: {exc!r}")
            result = None
        if result is SpanExportResult.SUCCESS:
            with self._counter_lock:
                self.exported += count
                if note.retried:
                    self.sent_late += count
        elif self.spooling and _spooled():
            with self._counter_lock:
                self.spooled += count
        else:
            with self._counter_lock:
                self.undelivered += count

    def _reset_after_fork(self) -> None:
        # The parent's worker thread does not exist here, and its queued spans are the parent's.
        self._spans.clear()
        self._wake = threading.Event()
        self._counter_lock = threading.Lock()
        self._flush_requests = []
        self._worker = None
        self.dropped = self.undelivered = self.exported = self.sent_late = self.spooled = 0
