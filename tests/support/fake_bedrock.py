"""A loopback server speaking the Amazon Bedrock Runtime API, for driving the real ``boto3`` client.

Answers the four model-call operations on their REST paths:

- ``POST /model/{modelId}/converse``: Converse JSON (``output.message``, ``stopReason``, ``usage``);
- ``POST /model/{modelId}/converse-stream``: the ``ConverseStream`` events (``messageStart``,
  ``contentBlockStart`` / ``contentBlockDelta`` / ``contentBlockStop``, ``messageStop``,
  ``metadata``) in the AWS event-stream binary framing (``application/vnd.amazon.eventstream``:
  prelude with lengths and CRC32, typed headers ``:event-type`` / ``:message-type``, JSON payload,
  message CRC32), each message flushed as a chunk of its own;
- ``POST /model/{modelId}/invoke``: the model's native JSON body, chosen by the model id's family
  (Anthropic Claude, Amazon Titan text and embeddings, Amazon Nova, Meta Llama, Cohere Command,
  Command R and Embed, Mistral text and chat), with Bedrock's ``X-Amzn-Bedrock-*-Token-Count``
  headers;
- ``POST /model/{modelId}/invoke-with-response-stream``: the family's stream chunks, each a
  ``chunk`` event whose payload is ``{"bytes": base64(JSON)}``, the last one carrying
  ``amazon-bedrock-invocationMetrics``.

What the reply holds is chosen by the request's ``x-fake-scenario`` header (see ``SCENARIOS``):
``text`` (the default), ``tool_use``, ``reasoning`` (Converse), ``stream_error`` (an exception event
after the first text delta), ``cut_body`` (``invoke``: the connection closes before the announced
body length) or ``status_<code>`` (that HTTP status with Bedrock's error JSON and
``x-amzn-ErrorType`` header). Every request is recorded with its lower-cased headers and body.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import struct
from typing import Any
from urllib.parse import unquote

from tests.support.loopback import Exchange, LoopbackServer, ReceivedRequest

SCENARIO_HEADER = "x-fake-scenario"
SCENARIOS = ("text", "tool_use", "reasoning", "stream_error", "cut_body", "status_<code>")
TEXT_CHUNKS = ("Hello", " from the", " fake Bedrock.")
TEXT = "".join(TEXT_CHUNKS)
# Converse usage: ``inputTokens`` excludes the tokens read from and written to the prompt cache.
USAGE = {
    "inputTokens": 11,
    "outputTokens": 7,
    "cacheReadInputTokens": 100,
    "cacheWriteInputTokens": 20,
}
INPUT_TOKENS = 15  # the invoke families' input count (body and X-Amzn-Bedrock-Input-Token-Count)
OUTPUT_TOKENS = 9
TOOL_ID = "tooluse_FakeWeatherCall"
TOOL_NAME = "get_weather"
TOOL_INPUT = {"city": "Paris"}
TOOL_JSON_CHUNKS = ('{"city"', ': "Paris"}')
REASONING = "The user wants a greeting."
REQUEST_ID = "fake-request-0000"
EMBEDDING = [0.25, -0.5, 0.125, 1.0]
ERROR_TYPES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


class FakeBedrock(LoopbackServer):
    """Serves the Bedrock Runtime API on ``127.0.0.1``, on a free port, in a daemon thread."""

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)
        self.base_url = self.origin

    def answer(self, exchange: Exchange, request: ReceivedRequest) -> None:
        scenario = request.headers.get(SCENARIO_HEADER, "text")
        if scenario.startswith("status_"):
            send_error(exchange, int(scenario.removeprefix("status_")))
            return
        parts = request.path.split("?", 1)[0].split("/", 3)
        if len(parts) != 4 or parts[1] != "model":
            send_error(exchange, 404)
            return
        model, action = unquote(parts[2]), parts[3]
        body = request.body
        number = next(self._ids)
        error_after = 2 if scenario == "stream_error" else None
        if action == "converse":
            exchange.send_json(200, converse_response(scenario), {"x-amzn-RequestId": REQUEST_ID})
        elif action == "converse-stream":
            send_events(exchange, converse_events(scenario), error_after)
        elif action == "invoke" and scenario == "cut_body":
            # A longer body announced than sent, then the connection dropped.
            data = b'{"generation": "Hello'
            exchange.send_response(200)
            exchange.send_header("Content-Type", "application/json")
            exchange.send_header("Content-Length", str(len(data) + 100))
            exchange.end_headers()
            exchange.wfile.write(data)
            exchange.drop()
        elif action == "invoke":
            reply = invoke_response(family_of(model, body), scenario, model, number)
            headers = {"x-amzn-RequestId": REQUEST_ID, **bedrock_token_headers()}
            exchange.send_json(200, reply, headers)
        elif action == "invoke-with-response-stream":
            chunks = invoke_chunks(family_of(model, body), scenario, model, number)
            events = [("chunk", {"bytes": _b64(chunk)}) for chunk in chunks]
            send_events(exchange, events, error_after)
        else:
            send_error(exchange, 404)


def send_error(exchange: Exchange, status: int) -> None:
    """Bedrock's error reply: the JSON message, the type in ``x-amzn-ErrorType``."""
    error_type = ERROR_TYPES.get(status, "InternalServerException")
    headers = {
        "x-amzn-RequestId": REQUEST_ID,
        "x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/",
    }
    exchange.send_json(status, {"message": f"fake {error_type}"}, headers)


def send_events(
    exchange: Exchange, events: list[tuple[str, dict[str, Any]]], error_after: int | None
) -> None:
    """An event-stream reply, one message per chunk; an exception message replaces event
    number ``error_after`` and ends the stream."""
    headers = {"X-Amzn-Bedrock-Content-Type": "application/json", "x-amzn-RequestId": REQUEST_ID}
    exchange.start_chunks(200, "application/vnd.amazon.eventstream", headers)
    for index, (name, payload) in enumerate(events):
        if index == error_after:
            exchange.chunk(exception_message("modelStreamErrorException"))
            break
        exchange.chunk(event_message(name, payload))
    exchange.end_chunks()


# --- AWS event-stream framing ----------------------------------------------------------------


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (total and headers lengths, CRC32), string headers
    (type 7), payload, CRC32 of everything before it."""
    encoded_headers = b"".join(
        struct.pack("!B", len(name))
        + name.encode()
        + struct.pack("!BH", 7, len(value.encode()))
        + value.encode()
        for name, value in headers.items()
    )
    total = 12 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded_headers))
    prelude += struct.pack("!I", binascii.crc32(prelude))
    message = prelude + encoded_headers + payload
    return message + struct.pack("!I", binascii.crc32(message))


def event_message(event_type: str, payload: dict[str, Any]) -> bytes:
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_message(headers, json.dumps(payload).encode())


def exception_message(exception_type: str) -> bytes:
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, json.dumps({"message": "fake stream error"}).encode())


def _b64(payload: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


def bedrock_token_headers() -> dict[str, str]:
    return {
        "X-Amzn-Bedrock-Input-Token-Count": str(INPUT_TOKENS),
        "X-Amzn-Bedrock-Output-Token-Count": str(OUTPUT_TOKENS),
        "X-Amzn-Bedrock-Invocation-Latency": "120",
    }


def invocation_metrics() -> dict[str, int]:
    return {
        "inputTokenCount": INPUT_TOKENS,
        "outputTokenCount": OUTPUT_TOKENS,
        "invocationLatency": 120,
        "firstByteLatency": 40,
    }


# --- Converse --------------------------------------------------------------------------------


def converse_content(scenario: str) -> list[dict[str, Any]]:
    if scenario == "tool_use":
        return [
            {"text": "Let me check."},
            {"toolUse": {"toolUseId": TOOL_ID, "name": TOOL_NAME, "input": TOOL_INPUT}},
        ]
    if scenario == "reasoning":
        return [
            {"reasoningContent": {"reasoningText": {"text": REASONING, "signature": "c2ln"}}},
            {"text": TEXT},
        ]
    return [{"text": TEXT}]


def converse_stop_reason(scenario: str) -> str:
    return "tool_use" if scenario == "tool_use" else "end_turn"


def converse_response(scenario: str) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": converse_content(scenario)}},
        "stopReason": converse_stop_reason(scenario),
        "usage": {**USAGE, "totalTokens": sum(USAGE.values())},
        "metrics": {"latencyMs": 120},
    }


def converse_events(scenario: str) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
    deltas = [{"contentBlockIndex": 0, "delta": {"text": part}} for part in TEXT_CHUNKS]
    if scenario == "reasoning":
        events.append(
            (
                "contentBlockDelta",
                {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": REASONING}}},
            )
        )
        events.append(("contentBlockStop", {"contentBlockIndex": 0}))
        deltas = [{"contentBlockIndex": 1, "delta": {"text": part}} for part in TEXT_CHUNKS]
    events += [("contentBlockDelta", delta) for delta in deltas]
    events.append(("contentBlockStop", {"contentBlockIndex": deltas[0]["contentBlockIndex"]}))
    if scenario == "tool_use":
        start = {"toolUse": {"toolUseId": TOOL_ID, "name": TOOL_NAME}}
        events.append(("contentBlockStart", {"contentBlockIndex": 1, "start": start}))
        for piece in TOOL_JSON_CHUNKS:
            delta = {"contentBlockIndex": 1, "delta": {"toolUse": {"input": piece}}}
            events.append(("contentBlockDelta", delta))
        events.append(("contentBlockStop", {"contentBlockIndex": 1}))
    events.append(("messageStop", {"stopReason": converse_stop_reason(scenario)}))
    usage = {**USAGE, "totalTokens": sum(USAGE.values())}
    events.append(("metadata", {"usage": usage, "metrics": {"latencyMs": 120}}))
    return events


# --- InvokeModel body formats ----------------------------------------------------------------


def family_of(model: str, body: Any) -> str:
    """The body format of ``model``: its vendor prefix (after a cross-region profile prefix)."""
    name = model.split("/")[-1]
    parts = name.split(".")
    if len(parts) > 2 and parts[0] in ("us", "eu", "apac", "global", "us-gov", "jp", "au"):
        name = ".".join(parts[1:])
    messages = isinstance(body, dict) and "messages" in body
    for prefix, family in (
        ("anthropic.", "anthropic"),
        ("amazon.titan-embed", "titan_embed"),
        ("amazon.titan", "titan"),
        ("amazon.nova", "nova"),
        ("meta.", "llama"),
        ("cohere.embed", "cohere_embed"),
        ("cohere.command-r", "cohere_chat"),
        ("cohere.", "cohere"),
        ("mistral.", "mistral_chat" if messages else "mistral"),
    ):
        if name.startswith(prefix):
            return family
    return "anthropic"


def invoke_response(family: str, scenario: str, model: str, number: int) -> dict[str, Any]:
    """The complete JSON body ``family`` answers with."""
    if family == "anthropic":
        content: list[dict[str, Any]] = [{"type": "text", "text": TEXT}]
        stop = "end_turn"
        if scenario == "tool_use":
            content.append(
                {"type": "tool_use", "id": TOOL_ID, "name": TOOL_NAME, "input": TOOL_INPUT}
            )
            stop = "tool_use"
        return {
            "id": f"msg_bdrk_{number:08d}",
            "type": "message",
            "role": "assistant",
            "model": "claude-3-5-haiku-20241022",
            "content": content,
            "stop_reason": stop,
            "usage": {
                "input_tokens": INPUT_TOKENS,
                "output_tokens": OUTPUT_TOKENS,
                "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 0,
            },
        }
    if family == "titan":
        return {
            "inputTextTokenCount": INPUT_TOKENS,
            "results": [
                {"tokenCount": OUTPUT_TOKENS, "outputText": TEXT, "completionReason": "FINISH"}
            ],
        }
    if family == "titan_embed":
        return {"embedding": EMBEDDING, "inputTextTokenCount": INPUT_TOKENS}
    if family == "nova":
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": TEXT}]}},
            "stopReason": "end_turn",
            "usage": {
                "inputTokens": INPUT_TOKENS,
                "outputTokens": OUTPUT_TOKENS,
                "totalTokens": 24,
            },
        }
    if family == "llama":
        return {
            "generation": TEXT,
            "prompt_token_count": INPUT_TOKENS,
            "generation_token_count": OUTPUT_TOKENS,
            "stop_reason": "stop",
        }
    if family == "cohere":
        return {
            "id": f"cohere-gen-{number}",
            "generations": [{"id": f"gen-{number}", "text": TEXT, "finish_reason": "COMPLETE"}],
            "prompt": "",
        }
    if family == "cohere_chat":
        return {
            "response_id": f"cohere-resp-{number}",
            "generation_id": f"gen-{number}",
            "text": TEXT,
            "finish_reason": "COMPLETE",
            "chat_history": [],
        }
    if family == "cohere_embed":
        return {
            "id": f"cohere-embed-{number}",
            "embeddings": [EMBEDDING],
            "response_type": "embeddings_floats",
            "texts": [],
        }
    if family == "mistral":
        return {"outputs": [{"text": TEXT, "stop_reason": "stop"}]}
    # mistral_chat
    message: dict[str, Any] = {"role": "assistant", "content": TEXT}
    finish = "stop"
    if scenario == "tool_use":
        message["tool_calls"] = [
            {"id": TOOL_ID, "function": {"name": TOOL_NAME, "arguments": json.dumps(TOOL_INPUT)}}
        ]
        finish = "tool_calls"
    return {
        "id": f"cmpl-{number}",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": INPUT_TOKENS,
            "completion_tokens": OUTPUT_TOKENS,
            "total_tokens": 24,
        },
    }


def invoke_chunks(family: str, scenario: str, model: str, number: int) -> list[dict[str, Any]]:
    """The decoded stream chunks of ``family``; the last one carries the invocation metrics."""
    metrics = {"amazon-bedrock-invocationMetrics": invocation_metrics()}
    parts = TEXT_CHUNKS
    if family == "anthropic":
        started = {
            "id": f"msg_bdrk_{number:08d}",
            "type": "message",
            "role": "assistant",
            "model": "claude-3-5-haiku-20241022",
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": 1},
        }
        return [
            {"type": "message_start", "message": started},
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            *(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": p},
                }
                for p in parts
            ),
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": OUTPUT_TOKENS},
            },
            {"type": "message_stop", **metrics},
        ]
    if family == "titan":
        chunks = [
            {
                "outputText": p,
                "index": 0,
                "totalOutputTextTokenCount": None,
                "completionReason": None,
                "inputTextTokenCount": INPUT_TOKENS if i == 0 else None,
            }
            for i, p in enumerate(parts)
        ]
        chunks.append(
            {
                "outputText": "",
                "index": 0,
                "totalOutputTextTokenCount": OUTPUT_TOKENS,
                "completionReason": "FINISH",
                "inputTextTokenCount": None,
                **metrics,
            }
        )
        return chunks
    if family == "nova":
        return [
            {"messageStart": {"role": "assistant"}},
            *({"contentBlockDelta": {"delta": {"text": p}, "contentBlockIndex": 0}} for p in parts),
            {"contentBlockStop": {"contentBlockIndex": 0}},
            {"messageStop": {"stopReason": "end_turn"}},
            {
                "metadata": {"usage": {"inputTokens": INPUT_TOKENS, "outputTokens": OUTPUT_TOKENS}},
                **metrics,
            },
        ]
    if family == "llama":
        chunks = [
            {
                "generation": p,
                "prompt_token_count": INPUT_TOKENS if i == 0 else None,
                "generation_token_count": i + 1,
                "stop_reason": None,
            }
            for i, p in enumerate(parts)
        ]
        chunks.append(
            {
                "generation": "",
                "prompt_token_count": None,
                "generation_token_count": OUTPUT_TOKENS,
                "stop_reason": "stop",
                **metrics,
            }
        )
        return chunks
    if family in ("cohere", "cohere_chat"):
        chunks = [{"is_finished": False, "event_type": "text-generation", "text": p} for p in parts]
        chunks.append(
            {
                "is_finished": True,
                "event_type": "stream-end",
                "finish_reason": "COMPLETE",
                **metrics,
            }
        )
        return chunks
    if family == "mistral":
        chunks = [{"outputs": [{"text": p, "stop_reason": None}]} for p in parts]
        chunks.append({"outputs": [{"text": "", "stop_reason": "stop"}], **metrics})
        return chunks
    # mistral_chat
    chunks = [
        {
            "id": f"cmpl-{number}",
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": p}, "stop_reason": None}
            ],
        }
        for p in parts
    ]
    chunks.append(
        {
            "id": f"cmpl-{number}",
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": ""}, "stop_reason": "stop"}
            ],
            **metrics,
        }
    )
    return chunks
