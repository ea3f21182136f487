"""The scrubber's cost per exported span, against the cost of encoding that span for OTLP.

Spans shaped like the agent's (an LLM span with its attributes and an HTTP child span), with
and without captured content (a ~2 KB prompt and a ~1 KB answer, different in every span, as
real prompts are), scrubbed as the export thread scrubs them, then encoded as the OTLP
exporter encodes them (``encode_spans`` + protobuf serialisation; sending adds more). Prints one
JSON object: µs per span by case, and the scrubber's share of the encoding.

    python bench/scrub.py
"""

from __future__ import annotations

import json
import random
import statistics
import time

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from llmtrace_agent._pipeline.scrub import Scrubber
from llmtrace_agent.toolkit import semconv

SPANS = 500
ROUNDS = 15
WORDS = [
    *("the", "model", "answers", "questions", "about", "invoices", "orders", "refunds"),
    *("shipping", "in", "3", "to", "5", "days", "for", "customers", "in", "Paris", "Berlin"),
    *("and", "Madrid", "please", "summarise", "the", "ticket", "below"),
]


class Collect(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: object) -> SpanExportResult:
        self.spans.extend(spans)  # type: ignore[arg-type]
        return SpanExportResult.SUCCESS


def prose(rng: random.Random, characters: int) -> str:
    words: list[str] = []
    length = 0
    while length < characters:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def text_part(text: str) -> dict[str, str]:
    return {"type": "text", "content": text}


def make_spans(content: bool, seed: int) -> list[ReadableSpan]:
    """``SPANS`` LLM spans and as many HTTP children, as the agent records them."""
    rng = random.Random(seed)
    collect = Collect()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(collect))
    tracer = provider.get_tracer("llmtrace_agent.openai")
    for index in range(SPANS // 2):
        with tracer.start_as_current_span("chat gpt-4o-mini") as span:
            span.set_attributes(
                {
                    semconv.GEN_AI_OPERATION_NAME: "chat",
                    semconv.GEN_AI_PROVIDER_NAME: "openai",
                    semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                    semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
                    semconv.GEN_AI_RESPONSE_ID: f"chatcmpl-{index:08d}",
                    semconv.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
                    semconv.GEN_AI_USAGE_INPUT_TOKENS: 412,
                    semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 180,
                    semconv.SERVER_ADDRESS: "api.openai.com",
                    semconv.SERVER_PORT: 443,
                }
            )
            if content:
                prompt = [{"role": "user", "parts": [text_part(prose(rng, 2000))]}]
                answer = [{"role": "assistant", "parts": [text_part(prose(rng, 1000))]}]
                span.set_attribute(semconv.GEN_AI_INPUT_MESSAGES, json.dumps(prompt))
                span.set_attribute(semconv.GEN_AI_OUTPUT_MESSAGES, json.dumps(answer))
            with tracer.start_as_current_span("POST") as http:
                http.set_attributes(
                    {
                        semconv.HTTP_REQUEST_METHOD: "POST",
                        semconv.URL_FULL: "https://api.openai.com/v1/chat/completions",
                        semconv.SERVER_ADDRESS: "api.openai.com",
                        semconv.SERVER_PORT: 443,
                        semconv.HTTP_RESPONSE_STATUS_CODE: 200,
                    }
                )
    return collect.spans


def per_span_us(work: object, spans: list[ReadableSpan]) -> float:
    started = time.process_time()  # CPU time: other processes on the machine barely move it
    work(spans)  # type: ignore[operator]
    return (time.process_time() - started) / len(spans) * 1e6


def encode(spans: list[ReadableSpan]) -> None:
    encode_spans(spans).SerializeToString()


def main() -> None:
    results: dict[str, float] = {}
    for content in (False, True):
        for pii in (False, True):
            label = f"{'with' if content else 'without'} captured content" + (
                ", PII on" if pii else ""
            )
            scrub_us, encode_us = [], []
            for round_number in range(ROUNDS):
                spans = make_spans(content, round_number)
                scrubber = Scrubber(pii=pii)  # a fresh cache each round

                def scrub(batch: list[ReadableSpan], scrubber: Scrubber = scrubber) -> None:
                    for span in batch:
                        scrubber.span(span)

                scrub_us.append(per_span_us(scrub, spans))
                encode_us.append(per_span_us(encode, spans))
            results[f"scrub µs/span, {label}"] = statistics.median(scrub_us)
            results[f"OTLP encode µs/span, {label}"] = statistics.median(encode_us)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
