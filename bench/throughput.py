"""Sustained load: LLM-like spans at a fixed rate through the OpenTelemetry API, then exit.

    python bench/throughput.py MODE RATE SECONDS ENDPOINT

MODE ``api`` uses whatever provider is global (under ``llmtrace-run``: the agent's); ``sdk`` and
``sdk-tuned`` install the SDK's ``BatchSpanProcessor`` with its defaults or with the agent's
settings, exporting over OTLP/HTTP to ENDPOINT. Spans carry what an LLM span with content
capture carries (about 1 KB). Prints one JSON line: spans made, how late the loop fell behind,
and resident memory before and at its peak.
"""

from __future__ import annotations

import json
import sys
import time

ATTRIBUTES = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.request.max_tokens": 256,
    "gen_ai.request.temperature": 0.2,
    "server.address": "api.openai.com",
    "server.port": 443,
    "gen_ai.response.id": "chatcmpl-0123456789abcdef",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.response.finish_reasons": ("stop",),
    "gen_ai.usage.input_tokens": 120,
    "gen_ai.usage.output_tokens": 80,
    "gen_ai.input.messages": json.dumps(
        [{"role": "user", "parts": [{"type": "text", "content": "Summarise this. " * 20}]}]
    ),
    "gen_ai.output.messages": json.dumps(
        [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "A summary. " * 30}],
                "finish_reason": "stop",
            }
        ]
    ),
}


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def install_sdk(tuned: bool, endpoint: str) -> object:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    options = (
        {"max_queue_size": 8192, "schedule_delay_millis": 1000, "max_export_batch_size": 512}
        if tuned
        else {}
    )
    provider = TracerProvider()
    exporter = OTLPSpanExporter(endpoint=endpoint + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter, **options))
    trace.set_tracer_provider(provider)
    return provider


def main() -> None:
    mode, rate, seconds, endpoint = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    if mode != "api":
        install_sdk(mode == "sdk-tuned", endpoint)
    tracer = trace.get_tracer("bench.throughput")
    tracer.start_span("warm-up").end()
    rss_start = rss_kib()
    rss_peak = rss_start
    tick = 0.01
    per_tick = max(1, round(rate * tick))
    made = 0
    start = time.perf_counter()
    deadline = start + seconds
    next_tick = start
    worst_lag = 0.0
    while next_tick < deadline:
        for _ in range(per_tick):
            span = tracer.start_span(
                "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=ATTRIBUTES
            )
            span.end()
        made += per_tick
        if made % (rate // 4 or 1) < per_tick:
            rss_peak = max(rss_peak, rss_kib())
        next_tick += tick
        lag = time.perf_counter() - next_tick
        if lag < 0:
            time.sleep(-lag)
        else:
            worst_lag = max(worst_lag, lag)
    elapsed = time.perf_counter() - start
    rss_peak = max(rss_peak, rss_kib())
    if mode != "api":
        provider = trace.get_tracer_provider()
        provider.shutdown()  # type: ignore[attr-defined]
    print(
        json.dumps(
            {
                "made": made + 1,
                "elapsed": elapsed,
                "worst_lag_s": worst_lag,
                "rss_start_kib": rss_start,
                "rss_peak_kib": rss_peak,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
