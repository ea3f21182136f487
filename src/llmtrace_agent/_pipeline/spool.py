"""The spool (opt-in, LLMTRACE_SPOOL_DIR): spans the collector did not take, kept on disk for
the next traced process to send.

- **What is kept**: batches the exporter failed to deliver (collector down, still failing after
  the retries, or no time left at exit). ``SpoolingExporter`` sits between the scrubber and the
  OTLP exporter, so a file holds exactly what would have been sent: scrubbed, and with the content
  capture settings of the process that made the spans.
- **Files**: one per process and batch, an OTLP/protobuf ``ExportTraceServiceRequest``, written
  to a temporary name and renamed (atomic), mode 0600 in a folder created 0700. The name sorts by
  time and carries the span count: ``<time_ns>-<pid>-<seq>-<spans>.otlp``.
- **Bounded**: beyond LLMTRACE_SPOOL_MAX_MB the oldest files are deleted, and their spans counted
  in the exit report.
- **Sent once**: a process claims a file by renaming it to ``….otlp.<pid>.sending``; a rename
  succeeds for one process only. A sent file is deleted; a failed one is renamed back. A claim
  whose process has died is released by the next drain.
- **Drained in the background**: when a process with the spool set starts tracing (its first
  span) and files are waiting, a daemon thread sends them over OTLP/HTTP (never delaying the app),
  and again after the process's own export succeeds following a spool write. At exit the drain
  gets the exit budget, then stops; what it did not send waits for the next process.
"""

from __future__ import annotations

import atexit
import itertools
import os
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from llmtrace_agent._runtime.config import Config

SUFFIX = ".otlp"
_SENDING = ".sending"
_NEVER_ACCEPTED = frozenset((400, 413))  # a malformed or too large file: retrying cannot help

diverting = False
"""Set once the exit budget is spent: exports go straight to the spool, without a request."""


class SpoolNote(threading.local):
    """Whether the export the current thread is making ended in the spool."""

    spooled = False


note = SpoolNote()


class Spool:
    """One spool folder: atomic writes, a size bound, claims that only one process wins."""

    def __init__(self, directory: str, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.dropped_spans = 0
        """Spans in files deleted to keep the folder under its bound (this process's doing)."""
        self._sequence = itertools.count()
        self._lock = threading.Lock()

    def write(self, payload: bytes, spans: int) -> bool:
        """Keep ``payload`` (``spans`` spans) as a new file; False if it could not be written."""
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._sequence)}-{spans}{SUFFIX}"
        temporary = os.path.join(self.directory, f".{name}.tmp")
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as file:
                file.write(payload)
            os.replace(temporary, os.path.join(self.directory, name))
        except OSError:
            with _suppressed():
                os.unlink(temporary)
            return False
        self._enforce_bound()
        return True

    def waiting(self) -> list[str]:
        """Names of the files waiting to be sent, oldest first."""
        try:
            names = [entry.name for entry in os.scandir(self.directory)]
        except OSError:
            return []
        return sorted(name for name in names if name.endswith(SUFFIX) and name[0] != ".")

    def claim(self, name: str) -> str | None:
        """Take ``name`` for this process; its new path, or None if another process took it."""
        claimed = os.path.join(self.directory, f"{name}.{os.getpid()}{_SENDING}")
        try:
            os.rename(os.path.join(self.directory, name), claimed)
        except OSError:
            return None
        return claimed

    def release(self, claimed: str) -> None:
        """Give a claimed file back (not sent), for a later drain."""
        with _suppressed():
            os.rename(claimed, claimed.rsplit(".", 2)[0])

    def release_abandoned(self) -> None:
        """Give back the claims of processes that died while sending."""
        try:
            names = [entry.name for entry in os.scandir(self.directory)]
        except OSError:
            return
        for name in names:
            if not name.endswith(_SENDING):
                continue
            try:
                pid = int(name.rsplit(".", 2)[1])
            except ValueError:
                continue
            if pid != os.getpid() and not _alive(pid):
                self.release(os.path.join(self.directory, name))

    def _enforce_bound(self) -> None:
        with self._lock:
            names = self.waiting()
            sizes = {}
            for name in names:
                with _suppressed():
                    sizes[name] = os.stat(os.path.join(self.directory, name)).st_size
            total = sum(sizes.values())
            for name in names:  # oldest first
                if total <= self.max_bytes:
                    break
                claimed = self.claim(name)  # so that no drain sends it meanwhile
                if claimed is None:
                    continue
                with _suppressed():
                    os.unlink(claimed)
                total -= sizes.get(name, 0)
                self.dropped_spans += span_count(name)


def span_count(name: str) -> int:
    """The span count a spool file's name carries."""
    try:
        return int(name[: -len(SUFFIX)].rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return 0


class SpoolingExporter:
    """Exports through ``exporter``; what it fails to deliver goes to the spool instead."""

    def __init__(self, exporter: SpanExporter, spool: Spool, drainer: Drainer | None) -> None:
        self.exporter = exporter
        self.spool = spool
        self.drainer = drainer
        self._spooled_since_drain = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        from opentelemetry.sdk.trace.export import SpanExportResult

        note.spooled = False
        if not diverting:
            try:
                result = self.exporter.export(spans)
            except Exception:  # the queue counts it; the spool keeps it
                result = SpanExportResult.FAILURE
            if result is SpanExportResult.SUCCESS:
                if self._spooled_since_drain and self.drainer is not None:
                    self._spooled_since_drain = False
                    self.drainer.start()  # the collector is back: send what was kept
                return result
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        if self.spool.write(encode_spans(spans).SerializeToString(), len(spans)):
            note.spooled = True
            self._spooled_since_drain = True
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


class Drainer:
    """Sends the spool's files over OTLP/HTTP from one daemon thread, oldest first."""

    def __init__(self, spool: Spool, config: Config) -> None:
        self.spool = spool
        self.config = config
        self.headers = {"Content-Type": "application/x-protobuf", **dict(config.otlp_headers)}
        self.timeout_s = config.bsp_export_timeout_ms / 1000
        self.shutdown_timeout_s = config.shutdown_timeout
        self.sent_spans = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopping = False
        self._session: object = None
        atexit.register(self.finish)

    def start(self) -> None:
        """Drain in the background, unless a drain is already under way."""
        with self._lock:
            if self._stopping or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._run, name="llmtrace-spool", daemon=True)
            self._thread.start()

    def finish(self) -> None:
        """At exit: give the drain under way what is left of the exit budget, then stop it."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            from llmtrace_agent._pipeline import retry

            deadline = retry.hurry(time.monotonic() + self.shutdown_timeout_s)
            thread.join(max(deadline - time.monotonic(), 0.0))
        self._stopping = True  # a drain still going stops after its current file

    def _run(self) -> None:
        from opentelemetry import context as otel_context

        from llmtrace_agent._pipeline.retry import RetryingSession
        from llmtrace_agent._pipeline.span_queue import _SUPPRESS_INSTRUMENTATION
        from llmtrace_agent._pipeline.telemetry import otlp_endpoint

        otel_context.attach(otel_context.set_value(_SUPPRESS_INSTRUMENTATION, True))
        endpoint = otlp_endpoint(self.config, "traces")
        if endpoint is None:
            return
        session = RetryingSession(window_s=self.timeout_s)
        self.spool.release_abandoned()
        for name in self.spool.waiting():
            if self._stopping:
                return
            claimed = self.spool.claim(name)
            if claimed is None:
                continue  # another process is sending it
            status = self._send(session, endpoint, claimed)
            if status is None or not (200 <= status < 300 or status in _NEVER_ACCEPTED):
                self.spool.release(claimed)
                return  # the collector is not taking spans: leave the rest for later
            with _suppressed():
                os.unlink(claimed)
            if status in _NEVER_ACCEPTED:
                self.spool.dropped_spans += span_count(name)
            else:
                self.sent_spans += span_count(name)

    def _send(self, session: object, endpoint: str, path: str) -> int | None:
        """The collector's status for the file, or None if it could not be sent."""
        try:
            with open(path, "rb") as file:
                payload = file.read()
            response = session.post(  # type: ignore[attr-defined]
                endpoint, data=payload, headers=self.headers, timeout=self.timeout_s
            )
        except Exception:  # refused, gave up, unreadable: try again next time
            return None
        return int(response.status_code)


_active: tuple[Spool, Drainer | None] | None = None


def for_config(config: Config) -> tuple[Spool, Drainer | None]:
    """This process's spool and its drainer (None unless traces go over OTLP/HTTP), made once."""
    global _active
    if _active is None:
        spool = Spool(config.spool_dir or "", config.spool_max_mb * 1024 * 1024)
        over_http = "otlp" in config.exporters and config.otlp_protocol == "http/protobuf"
        _active = (spool, Drainer(spool, config) if over_http else None)
    return _active


def drain_waiting(config: Config) -> None:
    """Start sending what earlier processes kept, in the background, if there is any.

    Called when tracing starts (the first span), not at interpreter start-up: by then the
    exporter's modules are imported, so the drain thread imports nothing. A thread importing
    while the main thread imports through the agent's import hooks can deadlock.
    """
    if config.spool_dir and has_waiting_files(config.spool_dir):
        drainer = for_config(config)[1]
        if drainer is not None:
            drainer.start()


def has_waiting_files(directory: str) -> bool:
    """Cheap start-up check: one directory listing, stopping at the first spool file."""
    try:
        with os.scandir(directory) as entries:
            return any(SUFFIX in entry.name for entry in entries)  # waiting, or abandoned
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


class _suppressed:
    """``contextlib.suppress(OSError)`` without importing contextlib at start-up."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> bool:
        return kind is not None and issubclass(kind, OSError)
