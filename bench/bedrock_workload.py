"""The Bedrock side of ``workload.py``: boto3 ``converse`` / ``converse_stream`` calls to Bedrock
Runtime (``python bench/workload.py MODE ENDPOINT bedrock``).

urllib3's request sending (the pool's ``_make_request``) is replaced by canned replies, so
botocore's parameter validation, signing, parsing and event-stream decoding run, and so does the
urllib3 instrumentation (the HTTP child span). The same commands as for OpenAI (``calls``,
``stream``; not ``parsed-stream``: ``per_chunk.py`` measures our per-event code for Bedrock), the
same modes (``bare`` and ``floor``; no peer is measured on Bedrock).
"""

from __future__ import annotations

import binascii
import json
import os
import struct

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
SERVER = ("bedrock-runtime.bench.invalid", 443)
MESSAGES = [{"role": "user", "content": [{"text": "Say hello."}]}]
SYSTEM = [{"text": "You are a concise assistant."}]
CONFIG = {"maxTokens": 64, "temperature": 0.2}
COMPLETION = json.dumps(
    {
        "output": {
            "message": {
                "role": "assistant",
                "content": [{"text": "Hello! How can I help you today?"}],
            }
        },
        "stopReason": "end_turn",
        "usage": {"inputTokens": 12, "outputTokens": 9, "totalTokens": 21},
        "metrics": {"latencyMs": 100},
    }
).encode()


def event_frame(event_type: str, payload: dict[str, object]) -> bytes:
    """One AWS event-stream message (prelude, string headers, JSON payload, CRC32s)."""
    headers = b"".join(
        struct.pack("!B", len(name)) + name + struct.pack("!BH", 7, len(value)) + value
        for name, value in (
            (b":event-type", event_type.encode()),
            (b":content-type", b"application/json"),
            (b":message-type", b"event"),
        )
    )
    body = json.dumps(payload).encode()
    prelude = struct.pack("!II", 16 + len(headers) + len(body), len(headers))
    message = prelude + struct.pack("!I", binascii.crc32(prelude)) + headers + body
    return message + struct.pack("!I", binascii.crc32(message))


def sse_body(chunks: int) -> bytes:
    """A ``converse_stream`` reply of ``chunks`` text deltas plus start, stop and metadata
    events (the name matches the other workloads': the body of a streamed reply)."""
    frames = [event_frame("messageStart", {"role": "assistant"})]
    for index in range(chunks):
        delta = {"contentBlockIndex": 0, "delta": {"text": f"tok{index} "}}
        frames.append(event_frame("contentBlockDelta", delta))
    frames.append(event_frame("contentBlockStop", {"contentBlockIndex": 0}))
    frames.append(event_frame("messageStop", {"stopReason": "end_turn"}))
    usage = {"inputTokens": 12, "outputTokens": chunks, "totalTokens": 12 + chunks}
    frames.append(event_frame("metadata", {"usage": usage, "metrics": {"latencyMs": 100}}))
    return b"".join(frames)


class MockServer:
    """Answers urllib3's requests in-process: the Converse JSON, or ``stream_body``."""

    def __init__(self) -> None:
        self.stream_body = b""

    def install(self) -> None:
        import io

        import urllib3
        from urllib3.connectionpool import HTTPConnectionPool

        server = self

        def make_request(
            pool: object, conn: object, method: str, url: str, **kwargs: object
        ) -> object:
            if url.endswith("/converse-stream"):
                data, kind = server.stream_body, "application/vnd.amazon.eventstream"
            else:
                data, kind = COMPLETION, "application/json"
            return urllib3.HTTPResponse(
                body=io.BytesIO(data),
                headers={"content-type": kind, "x-amzn-requestid": "bench-request"},
                status=200,
                preload_content=bool(kwargs.get("preload_content", True)),
                decode_content=False,
                request_method=method,
                request_url=url,
            )

        HTTPConnectionPool._make_request = make_request  # type: ignore[method-assign,assignment]


def make_client() -> tuple[object, MockServer]:
    import boto3

    os.environ.update(AWS_ACCESS_KEY_ID="AKIABENCH", AWS_SECRET_ACCESS_KEY="bench-secret")
    server = MockServer()
    server.install()
    client = boto3.client(
        "bedrock-runtime", region_name="us-east-1", endpoint_url=f"https://{SERVER[0]}"
    )
    return client, server


def floor_calls(client: object, tracer: object) -> tuple[object, object]:
    """The floor: a hand-written span with our span's attributes around each call."""
    from opentelemetry.trace import SpanKind

    request_attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.temperature": 0.2,
        "server.address": SERVER[0],
        "server.port": SERVER[1],
    }
    converse = client.converse  # type: ignore[attr-defined]
    converse_stream = client.converse_stream  # type: ignore[attr-defined]
    name = f"chat {MODEL}"

    def record(span: object, stop_reason: object, usage: object) -> None:
        span.set_attributes(  # type: ignore[attr-defined]
            {
                "aws.request_id": "bench-request",
                "gen_ai.response.finish_reasons": [stop_reason],
                "gen_ai.usage.input_tokens": usage["inputTokens"],  # type: ignore[index]
                "gen_ai.usage.output_tokens": usage["outputTokens"],  # type: ignore[index]
            }
        )

    def call() -> None:
        with tracer.start_as_current_span(  # type: ignore[attr-defined]
            name, kind=SpanKind.CLIENT, attributes=request_attributes
        ) as span:
            reply = converse(
                modelId=MODEL, messages=MESSAGES, system=SYSTEM, inferenceConfig=CONFIG
            )
            record(span, reply["stopReason"], reply["usage"])

    stream_attributes = {**request_attributes, "gen_ai.request.stream": True}

    def stream_call(parsed: list[object] | None) -> None:
        with tracer.start_as_current_span(  # type: ignore[attr-defined]
            name, kind=SpanKind.CLIENT, attributes=stream_attributes
        ) as span:
            stop_reason = usage = None
            reply = converse_stream(
                modelId=MODEL, messages=MESSAGES, system=SYSTEM, inferenceConfig=CONFIG
            )
            for event in reply["stream"]:
                if "messageStop" in event:
                    stop_reason = event["messageStop"]["stopReason"]
                elif "metadata" in event:
                    usage = event["metadata"]["usage"]
            record(span, stop_reason, usage)

    return call, stream_call


def plain_calls(client: object) -> tuple[object, object]:
    converse = client.converse  # type: ignore[attr-defined]
    converse_stream = client.converse_stream  # type: ignore[attr-defined]

    def call() -> None:
        converse(modelId=MODEL, messages=MESSAGES, system=SYSTEM, inferenceConfig=CONFIG)

    def stream_call(parsed: list[object] | None) -> None:
        reply = converse_stream(
            modelId=MODEL, messages=MESSAGES, system=SYSTEM, inferenceConfig=CONFIG
        )
        for _event in reply["stream"]:
            pass

    return call, stream_call
