"""The Gemini side of ``workload.py``: google-genai ``generate_content`` calls through an in-process
mock transport (``python bench/workload.py MODE ENDPOINT gemini``).

The same commands as for OpenAI (``calls``, ``stream``; not ``parsed-stream``: google-genai parses
inside its generator, so ``per_chunk.py`` measures our per-chunk code for it instead), the same
modes (``bare`` and ``floor``; no peer is measured on Gemini).
"""

from __future__ import annotations

import json

MODEL = "gemini-2.5-flash"
SERVER = ("generativelanguage.bench.invalid", 443)
CONTENTS = "Say hello."
CONFIG = {
    "system_instruction": "You are a concise assistant.",
    "max_output_tokens": 64,
    "temperature": 0.2,
}


def _response(text: str, final: bool, output_tokens: int) -> dict[str, object]:
    candidate: dict[str, object] = {"content": {"role": "model", "parts": [{"text": text}]}}
    if final:
        candidate["finishReason"] = "STOP"
    return {
        "candidates": [candidate],
        "usageMetadata": {
            "promptTokenCount": 12,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": 12 + output_tokens,
        },
        "modelVersion": MODEL,
        "responseId": "bench-response",
    }


COMPLETION = json.dumps(_response("Hello! How can I help you today?", True, 9)).encode()


def sse_body(chunks: int) -> bytes:
    """A streamed answer of ``chunks`` text chunks (usage on each, the finish on the last) plus a
    final empty-text chunk, as the API ends its streams."""
    events = [_response(f"tok{index} ", False, index + 1) for index in range(chunks)]
    events.append(_response("", True, chunks))
    return b"".join(b"data: " + json.dumps(event).encode() + b"\r\n\r\n" for event in events)


class MockServer:
    """The canned responses the mock transport returns; ``stream_body`` is set per command."""

    def __init__(self, http: object) -> None:
        self.http = http
        self.stream_body = b""

    def handle(self, request: object) -> object:
        if b"streamGenerateContent" in request.url.raw_path:  # type: ignore[attr-defined]
            return self.http.Response(  # type: ignore[attr-defined]
                200, headers={"content-type": "text/event-stream"}, content=self.stream_body
            )
        return self.http.Response(  # type: ignore[attr-defined]
            200, headers={"content-type": "application/json"}, content=COMPLETION
        )


def make_client() -> tuple[object, MockServer]:
    import httpx
    from google import genai
    from google.genai import types

    server = MockServer(httpx)
    options = types.HttpOptions(
        base_url=f"https://{SERVER[0]}/",
        httpx_client=httpx.Client(transport=httpx.MockTransport(server.handle)),
    )
    return genai.Client(api_key="bench-key", http_options=options), server


def floor_calls(client: object, tracer: object) -> tuple[object, object]:
    """The floor: a hand-written span with our span's attributes around each call."""
    from opentelemetry.trace import SpanKind

    request_attributes = {
        "gen_ai.operation.name": "generate_content",
        "gen_ai.provider.name": "gcp.gemini",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.temperature": 0.2,
        "server.address": SERVER[0],
        "server.port": SERVER[1],
    }
    models = client.models  # type: ignore[attr-defined]
    name = f"generate_content {MODEL}"

    def record(span: object, last: object) -> None:
        usage = last.usage_metadata  # type: ignore[attr-defined]
        span.set_attributes(  # type: ignore[attr-defined]
            {
                "gen_ai.response.id": last.response_id,  # type: ignore[attr-defined]
                "gen_ai.response.model": last.model_version,  # type: ignore[attr-defined]
                "gen_ai.response.finish_reasons": [
                    str(c.finish_reason.value).lower()
                    for c in last.candidates  # type: ignore[attr-defined]
                ],
                "gen_ai.usage.input_tokens": usage.prompt_token_count,
                "gen_ai.usage.output_tokens": usage.candidates_token_count,
            }
        )

    def call() -> None:
        with tracer.start_as_current_span(  # type: ignore[attr-defined]
            name, kind=SpanKind.CLIENT, attributes=request_attributes
        ) as span:
            record(span, models.generate_content(model=MODEL, contents=CONTENTS, config=CONFIG))

    stream_attributes = {**request_attributes, "gen_ai.request.stream": True}

    def stream_call(parsed: list[object] | None) -> None:
        with tracer.start_as_current_span(  # type: ignore[attr-defined]
            name, kind=SpanKind.CLIENT, attributes=stream_attributes
        ) as span:
            last = None
            for chunk in models.generate_content_stream(
                model=MODEL, contents=CONTENTS, config=CONFIG
            ):
                last = chunk
            record(span, last)

    return call, stream_call


def plain_calls(client: object) -> tuple[object, object]:
    models = client.models  # type: ignore[attr-defined]

    def call() -> None:
        models.generate_content(model=MODEL, contents=CONTENTS, config=CONFIG)

    def stream_call(parsed: list[object] | None) -> None:
        for _chunk in models.generate_content_stream(model=MODEL, contents=CONTENTS, config=CONFIG):
            pass

    return call, stream_call
