"""The OpenTelemetry SDK side: providers, exporters, flush and bounded shutdown.

Instrumentation code depends only on the OpenTelemetry API. The global providers installed
here are lazy: the SDK and the exporters are imported and started on the first span or metric,
not at start-up and never inside an import hook.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref

from opentelemetry import metrics as metrics_api
from opentelemetry import trace as trace_api

from llmtrace_agent._runtime import agent_state, log
from llmtrace_agent._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import requests
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from llmtrace_agent._pipeline.genai_histograms import GenAIHistogram, GenAIHistograms
    from llmtrace_agent._runtime.config import Config

_lock = threading.RLock()
_installed = False
_tracer_provider: TracerProvider | None = None
_meter_provider: MeterProvider | None = None
_genai_histograms: GenAIHistograms | None = None
_shut_down = False
_shutdown_done = threading.Event()


class _LazyTracerProvider(trace_api.TracerProvider):
    """Global provider whose SDK is built on the first ``get_tracer`` that is actually used."""

    def get_tracer(self, *args: object, **kwargs: object) -> trace_api.Tracer:
        return sdk_tracer_provider().get_tracer(*args, **kwargs)  # type: ignore[arg-type]


class _LazyMeterProvider(metrics_api.MeterProvider):
    """Global meter provider, built like the tracer provider on first use."""

    def get_meter(self, *args: object, **kwargs: object) -> metrics_api.Meter:
        provider = sdk_meter_provider()
        if provider is None:
            return metrics_api.NoOpMeter(*args, **kwargs)  # type: ignore[arg-type]
        return provider.get_meter(*args, **kwargs)  # type: ignore[arg-type]


def install_global_providers() -> None:
    """Make the agent's lazy providers the global ones, unless the app already set its own."""
    global _installed
    with _lock:
        if _installed or not agent_state.config.enabled:
            return
        _installed = True
        if isinstance(trace_api.get_tracer_provider(), trace_api.ProxyTracerProvider):
            trace_api.set_tracer_provider(_LazyTracerProvider())
        else:
            log.warning(
                "the application set its own TracerProvider first; the agent's spans go to it"
            )
        if agent_state.config.metrics_exporter != "none" and isinstance(
            metrics_api.get_meter_provider(), metrics_api._internal._ProxyMeterProvider
        ):
            metrics_api.set_meter_provider(_LazyMeterProvider())
        from llmtrace_agent._pipeline import signals

        signals.install(shutdown)  # a SIGTERM'd server still exports its last requests


def sdk_tracer_provider() -> TracerProvider:
    """The SDK tracer provider, built from the active config on first call."""
    global _tracer_provider
    provider = _tracer_provider
    if provider is not None:
        return provider
    with _lock:
        if _tracer_provider is None:
            _tracer_provider = _build_tracer_provider(agent_state.config)
            _register_exit_handlers()
        return _tracer_provider


def sdk_meter_provider() -> MeterProvider | None:
    """The SDK meter provider, or None when metrics are off."""
    global _meter_provider
    config = agent_state.config
    if config.metrics_exporter == "none":
        return None
    with _lock:
        if _meter_provider is None:
            _meter_provider = _build_meter_provider(config)
            _register_exit_handlers()
        return _meter_provider


def _build_tracer_provider(config: Config) -> TracerProvider:
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider(
        resource=_resource(config), sampler=_sampler(config), shutdown_on_exit=False
    )
    from llmtrace_agent._pipeline.context_attributes_processor import ContextAttributesProcessor

    provider.add_span_processor(ContextAttributesProcessor())  # first: exporters see the labels
    if config.genai_latest:  # before the exporters: it names a tool span's agent as it starts
        from llmtrace_agent._pipeline.agent_metrics import AgentMetricsProcessor

        provider.add_span_processor(AgentMetricsProcessor(config.metrics_exporter != "none"))
    for name in config.exporters:
        processor = _span_processor(name, config)
        if processor is not None:
            provider.add_span_processor(processor)
    log.debug(f"tracing started: exporters={','.join(config.exporters)}")
    return provider


def _span_processor(name: str, config: Config) -> SpanProcessor | None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from llmtrace_agent._pipeline.scrub import scrubbing

    if name == "console":
        from llmtrace_agent._pipeline.exporters.console import ConsoleTreeExporter

        return SimpleSpanProcessor(scrubbing(ConsoleTreeExporter()))
    exporter: SpanExporter
    if name == "file":
        from llmtrace_agent._pipeline.exporters.file import OTLPJsonFileExporter

        exporter = OTLPJsonFileExporter(config.file_path)
    elif name == "otlp":
        exporter = _otlp_span_exporter(config)
    else:
        return None
    from llmtrace_agent._pipeline.span_queue import SpanQueue

    spooling = name == "otlp" and config.spool_dir is not None
    if spooling:
        from llmtrace_agent._pipeline import spool

        exporter = spool.SpoolingExporter(exporter, *spool.for_config(config))  # type: ignore[assignment]
        spool.drain_waiting(config)  # what earlier runs kept: sent in the background
    return SpanQueue(
        scrubbing(exporter),  # before any retry, spool or exporter: all see scrubbed data
        spooling=spooling,
        max_queue_size=config.bsp_max_queue_size,
        max_export_batch_size=config.bsp_max_export_batch_size,
        schedule_delay_s=config.bsp_schedule_delay_ms / 1000,
        shutdown_timeout_s=config.shutdown_timeout,
    )


def otlp_endpoint(config: Config, signal: str) -> str | None:
    """The URL for ``signal`` ("traces" or "metrics") per the OTLP exporter specification."""
    specific = config.otlp_traces_endpoint if signal == "traces" else config.otlp_metrics_endpoint
    if specific:
        return specific
    if not config.otlp_endpoint:
        return None
    if config.otlp_protocol == "grpc":
        return config.otlp_endpoint
    return config.otlp_endpoint.rstrip("/") + "/v1/" + signal


def _otlp_span_exporter(config: Config) -> SpanExporter:
    endpoint = otlp_endpoint(config, "traces")
    if config.otlp_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HTTPSpanExporter,
    )

    return HTTPSpanExporter(endpoint=endpoint, session=_fork_safe_session(config))


def _fork_safe_session(config: Config) -> requests.Session:
    """An HTTP session for an OTLP exporter that retries transient collector errors itself
    (quickly within the exit budget: ``retry.py``) and whose keep-alive connections a forked
    child drops.

    Otherwise parent and child write their requests into the same keep-alive connection, and
    the collector reads a corrupt mix of both.
    """
    from llmtrace_agent._pipeline.retry import RetryingSession

    session = RetryingSession(window_s=config.bsp_export_timeout_ms / 1000)
    if hasattr(os, "register_at_fork"):
        reference = weakref.ref(session)

        def drop_inherited_connections() -> None:
            inherited = reference()
            if inherited is not None:
                inherited.close()  # its pools stay usable and open new connections

        os.register_at_fork(after_in_child=drop_inherited_connections)
    return session


def _build_meter_provider(config: Config) -> MeterProvider:
    from opentelemetry.sdk.metrics import Histogram, MeterProvider
    from opentelemetry.sdk.metrics.export import (
        AggregationTemporality,
        MetricExporter,
        PeriodicExportingMetricReader,
    )

    exporter: MetricExporter
    if config.metrics_exporter == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        exporter = ConsoleMetricExporter(out=sys.stderr)
    elif config.otlp_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        exporter = OTLPMetricExporter(endpoint=otlp_endpoint(config, "metrics"))
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter as HTTPMetricExporter,
        )

        exporter = HTTPMetricExporter(
            endpoint=otlp_endpoint(config, "metrics"), session=_fork_safe_session(config)
        )
    from llmtrace_agent._pipeline.genai_histograms import GenAIHistograms
    from llmtrace_agent._pipeline.scrub import scrubbing
    from llmtrace_agent.toolkit import guard

    global _genai_histograms
    resource = _resource(config)
    histograms = _genai_histograms = GenAIHistograms(resource)  # type: ignore[arg-type]

    class Reader(PeriodicExportingMetricReader):
        """The SDK's periodic reader, whose collections include the GenAI histograms."""

        def _set_collect_callback(self, func: Callable[..., object]) -> None:
            delta = any(  # the SDK's own histogram class, which the reader maps preferences to
                issubclass(cls, Histogram) and temporality is AggregationTemporality.DELTA
                for cls, temporality in self._instrument_class_temporality.items()
            )

            def collect(reader: object, timeout_millis: float = 10_000) -> object:
                collected = func(reader, timeout_millis=timeout_millis)
                try:
                    return histograms.added_to(collected, delta)  # type: ignore[arg-type]
                except Exception as exc:
                    guard.handle(exc)
                    return collected

            super()._set_collect_callback(collect)  # type: ignore[arg-type]

    reader = Reader(scrubbing(exporter))
    return MeterProvider(metric_readers=[reader], resource=resource, shutdown_on_exit=False)


def genai_histogram(
    name: str, unit: str, description: str, bounds: Sequence[float]
) -> GenAIHistogram | None:
    """A GenAI client histogram aggregated by the agent (``genai_histograms``), when the global
    meter provider is the agent's; None otherwise (metrics off, or the app's own provider)."""
    if not isinstance(metrics_api.get_meter_provider(), _LazyMeterProvider):
        return None
    if sdk_meter_provider() is None or _genai_histograms is None:
        return None
    return _genai_histograms.histogram(name, unit, description, bounds)


def _resource(config: Config) -> object:
    from opentelemetry.sdk.resources import Resource

    attributes: dict[str, str] = {
        "telemetry.distro.name": "llmtrace-agent",
        "telemetry.distro.version": __version__,
    }
    if config.service_name:
        attributes["service.name"] = config.service_name
    return Resource.create(attributes)


def _sampler(config: Config) -> object:
    from opentelemetry.sdk.trace import sampling

    ratio = sampling.TraceIdRatioBased(config.sampler_arg)
    return {
        "always_on": sampling.ALWAYS_ON,
        "always_off": sampling.ALWAYS_OFF,
        "traceidratio": ratio,
        "parentbased_always_on": sampling.ParentBased(sampling.ALWAYS_ON),
        "parentbased_always_off": sampling.ParentBased(sampling.ALWAYS_OFF),
        "parentbased_traceidratio": sampling.ParentBased(ratio),
    }[config.sampler]


def flush(timeout: float | None = None) -> bool:
    """Export everything recorded so far; False if it did not finish within ``timeout``."""
    timeout = agent_state.config.shutdown_timeout if timeout is None else timeout
    return _run_bounded(_flush_providers, timeout, "flush")


def shutdown(timeout: float | None = None) -> bool:
    """Flush and stop the exporters, once; bounded so a dead collector never holds the process.

    A second call while the first is still exporting (a worker's SIGTERM during its exit
    finalizer) waits for it, within the same bound, instead of letting the process die first.
    """
    global _shut_down
    timeout = agent_state.config.shutdown_timeout if timeout is None else timeout
    with _lock:
        already = _shut_down
        _shut_down = True  # atexit and multiprocessing's own exit may both call this
    if already:
        return _shutdown_done.wait(timeout)
    if _tracer_provider is None and _meter_provider is None:
        _shutdown_done.set()
        return True
    return _run_bounded(_shutdown_providers, timeout, "shutdown")


def _end_spans_waiting_for_prices() -> None:
    # LLM spans that ended before the price table loaded end in its loader (genai/usage.py).
    # Looked up, not imported: a process that made no LLM call never loads that module.
    usage = sys.modules.get("llmtrace_agent.toolkit.genai.usage")
    if usage is not None:
        usage.wait_for_prices()


def _flush_providers() -> None:
    _end_spans_waiting_for_prices()
    for provider in (_tracer_provider, _meter_provider):
        if provider is not None:
            provider.force_flush()


def _shutdown_providers() -> None:
    try:
        _end_spans_waiting_for_prices()
        for provider in (_tracer_provider, _meter_provider):
            if provider is not None:
                provider.shutdown()
    finally:
        _shutdown_done.set()


def _run_bounded(work: object, timeout: float, what: str) -> bool:
    if _tracer_provider is None and _meter_provider is None:
        return True
    retry = sys.modules.get("llmtrace_agent._pipeline.retry")
    if retry is not None:  # transient collector errors: retry fast, and stop in time
        retry.hurry(time.monotonic() + timeout)
    worker = threading.Thread(target=work, name=f"llmtrace-{what}", daemon=True)  # type: ignore[arg-type]
    worker.start()
    worker.join(timeout)
    if retry is not None and what == "flush":
        retry.relax()
    if worker.is_alive():
        log.warning(
            f"{what} did not finish within {timeout:g}s (LLMTRACE_SHUTDOWN_TIMEOUT); "
            "unsent telemetry is dropped"
        )
        return False
    return True


_exit_handlers_registered = False


def _register_exit_handlers() -> None:
    global _exit_handlers_registered
    if _exit_handlers_registered:
        return
    _exit_handlers_registered = True
    atexit.register(shutdown)
    from llmtrace_agent._pipeline import fork_exit

    fork_exit.install(shutdown)  # forked children leaving through os._exit
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_reset_lock_after_fork)
        os.register_at_fork(after_in_child=_shutdown_at_multiprocessing_exit)
    _shutdown_at_multiprocessing_exit()


def _reset_lock_after_fork() -> None:
    # Another thread of the parent may have held the lock at the fork, or been shutting down:
    # the child has its own spans (its span queue starts empty) and its own shutdown to run.
    global _lock, _shut_down, _shutdown_done
    _lock = threading.RLock()
    _shut_down = False
    _shutdown_done = threading.Event()


def _shutdown_at_multiprocessing_exit() -> None:
    """multiprocessing's children leave through ``os._exit``, skipping atexit: shut down there.

    A worker's ``Process._bootstrap`` drops the finalizers it inherited, then runs the after-fork
    callbacks: register the finalizer from one of those, or directly once inside the worker.
    """
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is None:
        return
    mp_util.register_after_fork(_shutdown_at_multiprocessing_exit, _register_finalizer)  # type: ignore[attr-defined]
    mp_process = sys.modules["multiprocessing.process"]
    # A spawned worker runs no after-fork callbacks: it is recognised while it imports the
    # main module (``_inheriting``), or once running (``parent_process``).
    if mp_process.parent_process() is not None or getattr(  # type: ignore[attr-defined]
        mp_process.current_process(),  # type: ignore[attr-defined]
        "_inheriting",
        False,
    ):
        _register_finalizer()


def _register_finalizer(_: object = None) -> None:
    sys.modules["multiprocessing.util"].Finalize(None, shutdown, exitpriority=0)  # type: ignore[attr-defined]
    from llmtrace_agent._pipeline import fork_exit

    fork_exit.wrap_exit()  # a spawned worker leaving through os._exit
    fork_exit.shutdown_on_sigterm()  # Pool.terminate(), Process.terminate()
