"""One benchmark worker: OpenAI chat calls through an in-process mock transport, on command.

    python bench/workload.py MODE ENDPOINT [PROVIDER]

PROVIDER is ``openai`` (the default), ``gemini`` (google-genai, in ``gemini_workload.py``) or
``bedrock`` (boto3 Bedrock Runtime, in ``bedrock_workload.py``).

Runs in whichever virtualenv the runner picked (ours, or a peer's) and imports nothing from this
repository. MODE says what traces the calls:

- ``bare``: nothing (under ``llmtrace-run`` this same mode measures our agent);
- ``floor``: one hand-made OpenTelemetry SDK span per call with the attributes our span carries,
  batch-exported over OTLP/HTTP: the least any tracer that exports can cost;
- ``genai-openai`` / ``openllmetry`` / ``openinference``: that peer's instrumentor, with an SDK
  tracer provider (and meter provider where the peer records metrics) exporting to ENDPOINT.

Commands arrive on stdin as JSON lines and are answered on stdout:
``{"op": "calls", "n": N}`` runs N ``chat.completions.create`` calls then flushes the exporters;
``{"op": "stream", "n": N, "chunks": C}`` runs N streamed calls of C chunks each (plus a finish
and a usage chunk), consumed fully; ``"op": "parsed-stream"`` does the same with chunks parsed
in advance, so that what remains per chunk is the tracer's code; ``"op": "unwrapped-stream"``
streams through the SDK method a wrapt wrapper wraps (``__wrapped__``; the method itself when
nothing wraps it), for a same-process comparison; ``"op": "paired-stream"`` alternates the two,
one stream each, N times, and also answers ``"differences"``: each pair's CPU time through the
traced method minus through ``__wrapped__`` (many short pairs: a slow moment of a busy machine
hits a pair, not one side of the comparison). All answer
``{"seconds": wall time, "cpu_seconds": CPU time of the whole process}``. The flush is timed
too: the export thread's work is part of what tracing costs, and it would otherwise leak into the
next worker's round. CPU time counts every thread of the worker (the export thread included) and
none of the other processes sharing the machine.
"""

from __future__ import annotations

import json
import os
import sys
import time

MODEL = "gpt-4o-mini"
SERVER = ("api.bench.invalid", 443)
COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
    }
).encode()
MESSAGES = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "Say hello."},
]


def sse_body(chunks: int) -> bytes:
    """A streamed chat completion of ``chunks`` content chunks, a finish chunk and a usage chunk."""
    events = []
    base = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini-2024-07-18",
    }
    for index in range(chunks):
        delta = {"content": f"tok{index} "}
        if index == 0:
            delta["role"] = "assistant"
        choice = {"index": 0, "delta": delta, "finish_reason": None}
        events.append({**base, "choices": [choice]})
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    usage = {"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks}
    events.append({**base, "choices": [], "usage": usage})
    lines = [b"data: " + json.dumps(event).encode() + b"\n\n" for event in events]
    return b"".join(lines) + b"data: [DONE]\n\n"


class MockServer:
    """The canned responses the mock transport returns; ``stream_body`` is set per command."""

    def __init__(self, http: object) -> None:
        self.http = http
        self.stream_body = b""

    def handle(self, request: object) -> object:
        if self.stream_body:
            return self.http.Response(  # type: ignore[attr-defined]
                200, headers={"content-type": "text/event-stream"}, content=self.stream_body
            )
        return self.http.Response(  # type: ignore[attr-defined]
            200, headers={"content-type": "application/json"}, content=COMPLETION
        )


def make_client() -> tuple[object, MockServer]:
    import openai

    major = int(openai.__version__.split(".")[0])
    if major >= 3:
        import httpx2 as http
    else:
        import httpx as http
    server = MockServer(http)
    client = openai.OpenAI(
        api_key="sk-bench",
        base_url=f"https://{SERVER[0]}/v1",
        max_retries=0,
        http_client=http.Client(transport=http.MockTransport(server.handle)),
    )
    return client, server


# --- tracing set-ups --------------------------------------------------------------------------


def sdk_providers(endpoint: str, metrics: bool) -> tuple[object, object | None]:
    """An SDK tracer provider (and meter provider) exporting to ``endpoint`` like ours does."""
    from opentelemetry import metrics as metrics_api
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=endpoint + "/v1/traces"),
            max_queue_size=8192,
            schedule_delay_millis=1000,
            max_export_batch_size=512,
        )
    )
    trace.set_tracer_provider(tracer_provider)
    meter_provider = None
    if metrics:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=endpoint + "/v1/metrics")
        )
        meter_provider = MeterProvider(metric_readers=[reader])
        metrics_api.set_meter_provider(meter_provider)
    return tracer_provider, meter_provider


def setup(mode: str, endpoint: str) -> object:
    """Install ``mode``'s tracing; return a function that flushes what it buffered."""
    if mode == "bare":
        agent = sys.modules.get("llmtrace_agent")
        if agent is not None:  # running under llmtrace-run: flush the agent's exporters
            return lambda: agent.flush(30.0)
        return lambda: None
    if mode == "floor":
        tracer_provider, meter_provider = sdk_providers(endpoint, metrics=False)
    elif mode == "genai-openai":
        # Spans in the current GenAI conventions, as the package documents for them.
        os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
        tracer_provider, meter_provider = sdk_providers(endpoint, metrics=True)
        from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(
            tracer_provider=tracer_provider, meter_provider=meter_provider
        )
    elif mode == "openllmetry":
        os.environ.setdefault("TRACELOOP_TRACE_CONTENT", "false")  # like ours: content off
        tracer_provider, meter_provider = sdk_providers(endpoint, metrics=True)
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(
            tracer_provider=tracer_provider, meter_provider=meter_provider
        )
    elif mode == "openinference":
        tracer_provider, meter_provider = sdk_providers(endpoint, metrics=False)
        from openinference.instrumentation import TraceConfig
        from openinference.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(
            tracer_provider=tracer_provider,
            config=TraceConfig(hide_inputs=True, hide_outputs=True),  # like ours: content off
        )
    else:
        raise SystemExit(f"unknown mode {mode!r}")

    def flush() -> None:
        tracer_provider.force_flush()  # type: ignore[attr-defined]
        if meter_provider is not None:
            meter_provider.force_flush()  # type: ignore[attr-defined]

    return flush


def floor_calls(client: object, tracer: object) -> tuple[object, object]:
    """The floor: what a hand-written span with our span's attributes costs around each call."""
    from opentelemetry.trace import SpanKind

    request_attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.temperature": 0.2,
        "server.address": SERVER[0],
        "server.port": SERVER[1],
    }
    create = client.chat.completions.create  # type: ignore[attr-defined]
    name = f"chat {MODEL}"

    def call() -> None:
        with tracer.start_as_current_span(  # type: ignore[attr-defined]
            name, kind=SpanKind.CLIENT, attributes=request_attributes
        ) as span:
            response = create(model=MODEL, messages=MESSAGES, max_tokens=64, temperature=0.2)
            usage = response.usage
            span.set_attributes(
                {
                    "gen_ai.response.id": response.id,
                    "gen_ai.response.model": response.model,
                    "gen_ai.response.finish_reasons": [c.finish_reason for c in response.choices],
                    "gen_ai.usage.input_tokens": usage.prompt_tokens,
                    "gen_ai.usage.output_tokens": usage.completion_tokens,
                }
            )

    stream_attributes = {**request_attributes, "gen_ai.request.stream": True}

    def stream_call(parsed: list[object] | None) -> None:
        with tracer.start_as_current_span(  # type: ignore[attr-defined]
            name, kind=SpanKind.CLIENT, attributes=stream_attributes
        ) as span:
            stream = create(
                model=MODEL, messages=MESSAGES, max_tokens=64, temperature=0.2, stream=True
            )
            if parsed is not None:
                stream._iterator = iter(parsed)
            finish = usage = None
            response_id = model = None
            for chunk in stream:
                if chunk.choices and chunk.choices[0].finish_reason:
                    finish = chunk.choices[0].finish_reason
                if chunk.usage is not None:
                    usage = chunk.usage
                response_id, model = chunk.id, chunk.model
            attributes = {
                "gen_ai.response.id": response_id,
                "gen_ai.response.model": model,
                "gen_ai.response.finish_reasons": [finish or "error"],
            }
            if usage is not None:
                attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
                attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
            span.set_attributes(attributes)

    return call, stream_call


def plain_calls(client: object, unwrapped: bool = False) -> tuple[object, object]:
    create = client.chat.completions.create  # type: ignore[attr-defined]
    inner = getattr(create, "__wrapped__", None)
    # The SDK's own method under a wrapt-based tracer's wrapper (a bound method), if any; the
    # untraced method's ``__wrapped__`` is the plain function of the SDK's own decorator.
    if unwrapped and getattr(inner, "__self__", None) is not None:
        create = inner

    def call() -> None:
        create(model=MODEL, messages=MESSAGES, max_tokens=64, temperature=0.2)

    def stream_call(parsed: list[object] | None) -> None:
        stream = create(model=MODEL, messages=MESSAGES, max_tokens=64, temperature=0.2, stream=True)
        if parsed is not None:
            stream._iterator = iter(parsed)
        for _chunk in stream:
            pass

    return call, stream_call


def main() -> None:
    mode, endpoint = sys.argv[1], sys.argv[2]
    provider = sys.argv[3] if len(sys.argv) > 3 else "openai"
    flush = setup(mode, endpoint)
    workload = sys.modules[__name__]
    if provider == "gemini":
        import gemini_workload as workload  # type: ignore[import-not-found,no-redef]
    elif provider == "bedrock":
        import bedrock_workload as workload  # type: ignore[import-not-found,no-redef]
    client, server = workload.make_client()
    if mode == "floor":
        from opentelemetry import trace

        call, stream_call = workload.floor_calls(client, trace.get_tracer("bench.floor"))
    else:
        call, stream_call = workload.plain_calls(client)
    # The same streams through the SDK's own method (under a wrapt wrapper: its __wrapped__), in
    # this process: the per-chunk slope against it is the tracer's alone, free of the
    # differences between processes (heap, imports, code layout) that the bare process has.
    unwrapped_stream_call = stream_call
    if provider == "openai":
        _, unwrapped_stream_call = plain_calls(client, unwrapped=True)
    make_body = workload.sse_body
    stream_bodies: dict[int, bytes] = {}
    parsed_chunks: dict[int, list[object]] = {}
    if provider == "openai":
        server.stream_body = sse_body(1)
        stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        parsed_chunks[1] = list(stream)
        server.stream_body = sse_body(200)
        stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        parsed_chunks[200] = list(stream)
    server.stream_body = b""
    # Warm up: imports, pydantic models, connection pools, caches, the export thread.
    for _ in range(200):
        call()
    server.stream_body = make_body(10)
    for _ in range(20):
        stream_call(None)
    server.stream_body = b""
    flush()  # type: ignore[operator]
    print(json.dumps({"ready": mode}), flush=True)
    perf_counter, process_time = time.perf_counter, time.process_time
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        if op == "quit":
            break
        count = command["n"]
        parsed = None
        if op == "paired-stream":
            server.stream_body = stream_bodies.setdefault(
                command["chunks"], make_body(command["chunks"])
            )
            start, cpu_start = perf_counter(), process_time()
            differences = []
            for index in range(count):
                # Alternate which goes first, so neither always follows the other.
                first, second = (
                    (stream_call, unwrapped_stream_call)
                    if index % 2
                    else (unwrapped_stream_call, stream_call)
                )
                started = process_time()
                first(None)
                middle = process_time()
                second(None)
                ended = process_time()
                traced, untraced = (
                    (middle - started, ended - middle)
                    if index % 2
                    else (ended - middle, middle - started)
                )
                differences.append(traced - untraced)
            flush()  # type: ignore[operator]
            seconds, cpu_seconds = perf_counter() - start, process_time() - cpu_start
            reply = {"seconds": seconds, "cpu_seconds": cpu_seconds, "differences": differences}
            print(json.dumps(reply), flush=True)
            continue
        if op in ("stream", "unwrapped-stream"):
            chunks = command["chunks"]
            if chunks not in stream_bodies:
                stream_bodies[chunks] = make_body(chunks)
            server.stream_body = stream_bodies[chunks]
            run = stream_call if op == "stream" else unwrapped_stream_call
        elif op == "parsed-stream":
            # The SDK opens a short body; the chunks it hands out come from the parsed list.
            server.stream_body = stream_bodies.setdefault(0, sse_body(0))
            parsed = parsed_chunks[command["chunks"]]
            run = stream_call
        else:
            server.stream_body = b""
            run = lambda _parsed: call()  # noqa: E731
        start, cpu_start = perf_counter(), process_time()
        for _ in range(count):
            run(parsed)  # type: ignore[operator]
        flush()  # type: ignore[operator]
        seconds, cpu_seconds = perf_counter() - start, process_time() - cpu_start
        print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds}), flush=True)


if __name__ == "__main__":
    main()
