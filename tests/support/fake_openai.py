"""A loopback OpenAI-compatible server for the openai instrumentor's tests.

Serves ``/v1/chat/completions``, ``/v1/responses`` (and ``GET /v1/responses/<id>``),
``/v1/embeddings`` and ``/v1/completions`` (and the Azure form ``/openai/deployments/<name>/...``)
over real HTTP/1.1 on 127.0.0.1, as JSON or as server-sent events (chunked), and records every
request it gets.

Without instructions it answers each request plausibly: it echoes the requested model, streams
when asked (with the usage chunk when ``stream_options.include_usage`` is set), answers with a
tool call when the request offers tools, with JSON valid against the schema when it asks for a
``json_schema`` format (``parse()``, structured outputs), honours ``encoding_format`` for
embeddings, and reads a response again (``GET /v1/responses/<id>``, streamed from
``starting_after`` when asked: background responses). A test
shapes the next answers with ``server.reply(Reply(...), ...)``: any status and JSON body, any
list of SSE events, a connection dropped mid-stream, a delay between events. The builders below
(``chat_completion``, ``chat_chunks``, ``response_object``, ``response_events``…) make the
usual bodies, with keyword arguments for what a test varies.
"""

from __future__ import annotations

import base64
import json
import struct
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.support.loopback import Exchange, QueuedRepliesServer, ReceivedRequest

CREATED = 1_700_000_000
TEXT = "Hello from the fake server!"
TOOL_ARGUMENTS = '{"city": "Paris"}'


@dataclass
class Reply:
    """How to answer one request."""

    status: int = 200
    body: Any = None
    """JSON body (any JSON value), or ``bytes`` sent as they are."""
    events: list[Any] | None = None
    """SSE events: dicts (sent as ``data: <json>``, with ``event: <type>`` when they have a
    ``type``), or strings sent as the ``data:`` line verbatim."""
    done: bool = True
    """End the SSE stream with ``data: [DONE]``."""
    drop_after: int | None = None
    """Close the connection abruptly after this many events (no chunked terminator)."""
    delay: float = 0.0
    """Seconds to wait before each event (and before the headers when not streaming)."""
    headers: dict[str, str] = field(default_factory=dict)


class FakeOpenAI(QueuedRepliesServer[Reply]):
    """The server, on a free loopback port, answering from a daemon thread."""

    def __init__(self) -> None:
        super().__init__()
        self.base_url = f"{self.origin}/v1"

    def answer(self, exchange: Exchange, request: ReceivedRequest) -> None:
        reply = self.next_reply() or default_reply(request)
        headers = {"x-request-id": "req_fake", **reply.headers}
        if reply.events is None:
            if reply.delay:
                time.sleep(reply.delay)
            exchange.send_json(reply.status, reply.body, headers)
            return
        exchange.start_chunks(reply.status, "text/event-stream", headers)
        events = list(reply.events)
        if reply.done:
            events.append("[DONE]")
        for sent, event in enumerate(events):
            if reply.drop_after is not None and sent >= reply.drop_after:
                exchange.drop()
                return
            if reply.delay:
                time.sleep(reply.delay)
            exchange.chunk(_sse(event))
        exchange.end_chunks()


# --- default answers -----------------------------------------------------------------------------

AZURE_DEPLOYMENT_MODEL = "gpt-4o-2024-08-06"


def default_reply(request: ReceivedRequest) -> Reply:
    """A plausible answer to ``request``, chosen by its path and body."""
    body = request.body if isinstance(request.body, dict) else {}
    model = body.get("model")
    if "/deployments/" in request.path:  # Azure answers with the deployment's model, not its name
        model = AZURE_DEPLOYMENT_MODEL
    stream = body.get("stream") is True
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    path = request.path.split("?")[0]
    if path.endswith("/chat/completions"):
        tools = bool(body.get("tools"))
        n = body.get("n") or 1
        text = _structured_text(body.get("response_format")) or TEXT
        if stream:
            events = chat_chunks(
                model=model, pieces=_pieces(text), tool_call=tools, usage=include_usage, n=n
            )
            return Reply(events=events)
        return Reply(body=chat_completion(model=model, content=text, tool_call=tools, n=n))
    if path.endswith("/responses"):
        tools = bool(body.get("tools"))
        text = _structured_text((body.get("text") or {}).get("format")) or TEXT
        if stream:
            events = response_events(model=model, pieces=_pieces(text), tool_call=tools)
            return Reply(events=events, done=False)
        return Reply(body=response_object(model=model, text=text, tool_call=tools))
    if request.method == "GET" and "/responses/" in path:  # a (background) response read again
        query = parse_qs(request.path.partition("?")[2])
        if query.get("stream") == ["true"]:
            after = int(query.get("starting_after", ["-1"])[0])
            events = [e for e in response_events() if e["sequence_number"] > after]
            return Reply(events=events, done=False)
        return Reply(body=response_object())
    if path.endswith("/embeddings"):
        inputs = body.get("input")
        count = len(inputs) if isinstance(inputs, list) else 1
        return Reply(
            body=embeddings(
                model=model, count=count, base64=body.get("encoding_format") == "base64"
            )
        )
    if path.endswith("/completions"):
        if stream:
            return Reply(events=completion_chunks(model=model, usage=include_usage))
        return Reply(body=completion(model=model))
    return Reply(status=404, body={"error": {"message": f"no route {path}", "type": "not_found"}})


def _structured_text(response_format: Any) -> str | None:
    """The JSON text answering a ``json_schema`` format (chat's ``response_format``, the
    Responses API's ``text.format``), as ``parse()`` and the structured-output helpers ask."""
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return None
    schema = response_format.get("json_schema", response_format).get("schema") or {}
    return json.dumps(schema_instance(schema, schema))


def _pieces(text: str) -> tuple[str, ...]:
    """``text`` in three stream deltas."""
    third = max(1, len(text) // 3)
    return (text[:third], text[third : 2 * third], text[2 * third :])


def schema_instance(schema: Any, root: Any) -> Any:
    """A small value valid against ``schema`` (a JSON Schema as structured outputs send it:
    objects, arrays, enums, ``anyOf``, ``$ref`` into ``root``'s ``$defs``)."""
    if not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target.get(part, {}) if part else target
        return schema_instance(target, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for combinator in ("anyOf", "oneOf", "allOf"):
        if schema.get(combinator):
            return schema_instance(schema[combinator][0], root)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: schema_instance(sub, root) for name, sub in properties.items()}
    if kind == "array":
        return [schema_instance(schema.get("items") or {"type": "string"}, root)]
    return {"string": "text", "integer": 1, "number": 1.5, "boolean": True}.get(kind)


# --- builders ------------------------------------------------------------------------------------


def chat_usage(
    prompt: int = 12, completion: int = 5, cached: int | None = None, reasoning: int | None = None
) -> dict[str, Any]:
    """A chat/completions ``usage`` object."""
    result: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached is not None:
        result["prompt_tokens_details"] = {"cached_tokens": cached, "audio_tokens": 0}
    if reasoning is not None:
        result["completion_tokens_details"] = {"reasoning_tokens": reasoning, "audio_tokens": 0}
    return result


def _tool_call_body(index: int | None = None, call_id: str = "call_1") -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": TOOL_ARGUMENTS},
    }
    if index is not None:
        result["index"] = index
    return result


def chat_completion(
    model: str = "gpt-4o-mini",
    content: str | None = TEXT,
    tool_call: bool = False,
    n: int = 1,
    finish_reason: str | None = None,
    usage: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A ``chat.completion`` body; ``extra`` adds or overrides top-level fields."""
    message: dict[str, Any] = {"role": "assistant", "content": None if tool_call else content}
    if tool_call:
        message["tool_calls"] = [_tool_call_body()]
    reason = finish_reason or ("tool_calls" if tool_call else "stop")
    body = {
        "id": "chatcmpl-fake-1",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "system_fingerprint": "fp_fake",
        "service_tier": "default",
        "choices": [
            {"index": i, "message": message, "finish_reason": reason, "logprobs": None}
            for i in range(n)
        ],
        "usage": usage if usage is not None else chat_usage(),
    }
    body.update(extra)
    return body


def chat_chunks(
    model: str = "gpt-4o-mini",
    pieces: tuple[str, ...] = ("Hello", " from the", " fake server!"),
    tool_call: bool = False,
    usage: bool | dict[str, Any] = False,
    n: int = 1,
    finish_reason: str | None = None,
) -> list[dict[str, Any]]:
    """``chat.completion.chunk`` events: a role delta, content (or tool-call) deltas per choice,
    the finish reason, then the usage chunk (``choices: []``) when ``usage`` is set."""

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake-1",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "system_fingerprint": "fp_fake",
            "service_tier": "default",
            "choices": choices,
            **extra,
        }

    def choice(index: int, delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
        return {"index": index, "delta": delta, "finish_reason": reason, "logprobs": None}

    events = [chunk([choice(i, {"role": "assistant", "content": ""}) for i in range(n)])]
    for i in range(n):
        if tool_call:
            start = {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
            events.append(chunk([choice(i, {"tool_calls": [start]})]))
            for piece in ('{"city": ', '"Paris"}'):
                delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                events.append(chunk([choice(i, delta)]))
        else:
            events.extend(chunk([choice(i, {"content": piece})]) for piece in pieces)
    reason = finish_reason or ("tool_calls" if tool_call else "stop")
    events.extend(chunk([choice(i, {}, reason)]) for i in range(n))
    if usage:
        usage_body = usage if isinstance(usage, dict) else chat_usage()
        events.append(chunk([], usage=usage_body))
    return events


def completion(model: str = "gpt-3.5-turbo-instruct", text: str = TEXT, **extra: Any) -> dict:
    body = {
        "id": "cmpl-fake-1",
        "object": "text_completion",
        "created": CREATED,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "text": text, "finish_reason": "length", "logprobs": None}],
        "usage": chat_usage(),
    }
    body.update(extra)
    return body


def completion_chunks(
    model: str = "gpt-3.5-turbo-instruct",
    pieces: tuple[str, ...] = ("Hello", " there"),
    usage: bool = False,
) -> list[dict[str, Any]]:
    def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        base = {
            "id": "cmpl-fake-1",
            "object": "text_completion",
            "created": CREATED,
            "model": model,
        }
        return {**base, "choices": choices, **extra}

    events = [
        chunk([{"index": 0, "text": piece, "finish_reason": None, "logprobs": None}])
        for piece in pieces
    ]
    events.append(chunk([{"index": 0, "text": "", "finish_reason": "stop", "logprobs": None}]))
    if usage:
        events.append(chunk([], usage=chat_usage()))
    return events


def embeddings(
    model: str = "text-embedding-3-small", count: int = 1, base64: bool = False
) -> dict[str, Any]:
    vector = [0.25, -0.5, 0.125]
    encoded: Any = _float32_base64(vector) if base64 else vector
    return {
        "object": "list",
        "model": model,
        "data": [{"object": "embedding", "index": i, "embedding": encoded} for i in range(count)],
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    }


def _float32_base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def response_usage(
    input: int = 20, output: int = 7, cached: int = 0, reasoning: int = 0
) -> dict[str, Any]:
    return {
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input + output,
    }


def _message_item(text: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": "msg_fake_1",
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def _function_call_item(status: str = "completed") -> dict[str, Any]:
    return {
        "id": "fc_fake_1",
        "type": "function_call",
        "call_id": "call_1",
        "name": "get_weather",
        "arguments": TOOL_ARGUMENTS,
        "status": status,
    }


def response_object(
    model: str = "gpt-4o-mini",
    text: str = TEXT,
    tool_call: bool = False,
    status: str = "completed",
    usage: dict[str, Any] | None = None,
    output: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A Responses API ``response`` body."""
    if output is None:
        output = [_function_call_item()] if tool_call else [_message_item(text)]
    body = {
        "id": "resp_fake_1",
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage if usage is not None else response_usage(),
        "user": None,
        "metadata": {},
    }
    body.update(extra)
    return body


def response_events(
    model: str = "gpt-4o-mini",
    pieces: tuple[str, ...] = ("Hello", " from the", " fake server!"),
    tool_call: bool = False,
    final: str = "response.completed",
) -> list[dict[str, Any]]:
    """The Responses API event stream for one message (or one function call), ending with
    ``final`` (``response.completed``, ``response.incomplete`` or ``response.failed``)."""
    sequence = iter(range(1000))
    in_progress = response_object(model=model, status="in_progress", output=[], usage=None)
    in_progress["usage"] = None
    events: list[dict[str, Any]] = [
        {"type": "response.created", "sequence_number": next(sequence), "response": in_progress},
        {
            "type": "response.in_progress",
            "sequence_number": next(sequence),
            "response": in_progress,
        },
    ]

    def event(kind: str, **fields: Any) -> None:
        events.append({"type": kind, "sequence_number": next(sequence), **fields})

    if tool_call:
        item = _function_call_item()
        event(
            "response.output_item.added",
            output_index=0,
            item={**item, "arguments": "", "status": "in_progress"},
        )
        for piece in ('{"city": ', '"Paris"}'):
            event(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=0,
                delta=piece,
            )
        event(
            "response.function_call_arguments.done",
            item_id=item["id"],
            output_index=0,
            arguments=TOOL_ARGUMENTS,
        )
        event("response.output_item.done", output_index=0, item=item)
        output = [item]
    else:
        text = "".join(pieces)
        item = _message_item(text)
        event(
            "response.output_item.added",
            output_index=0,
            item={**_message_item("", "in_progress"), "content": []},
        )
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        event(
            "response.content_part.added",
            item_id=item["id"],
            output_index=0,
            content_index=0,
            part=part,
        )
        for piece in pieces:
            event(
                "response.output_text.delta",
                item_id=item["id"],
                output_index=0,
                content_index=0,
                delta=piece,
                logprobs=[],
            )
        event(
            "response.output_text.done",
            item_id=item["id"],
            output_index=0,
            content_index=0,
            text=text,
            logprobs=[],
        )
        event(
            "response.content_part.done",
            item_id=item["id"],
            output_index=0,
            content_index=0,
            part={**part, "text": text},
        )
        event("response.output_item.done", output_index=0, item=item)
        output = [item]
    status = {"response.completed": "completed", "response.incomplete": "incomplete"}.get(
        final, "failed"
    )
    done = response_object(model=model, status=status, output=output)
    if status == "incomplete":
        done["incomplete_details"] = {"reason": "max_output_tokens"}
    event(final, response=done)
    return events


def error_body(status: int) -> dict[str, Any]:
    kinds = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_exceeded"}
    return {
        "error": {
            "message": f"fake error {status}",
            "type": kinds.get(status, "server_error"),
            "param": None,
            "code": kinds.get(status, "server_error"),
        }
    }


def _sse(event: Any) -> bytes:
    if isinstance(event, str):
        return f"data: {event}\n\n".encode()
    lines = ""
    if isinstance(event, dict) and isinstance(event.get("type"), str) and "." in event["type"]:
        lines += f"event: {event['type']}\n"
    return (lines + f"data: {json.dumps(event)}\n\n").encode()


# --- clients -------------------------------------------------------------------------------------

API_KEY = "sk-fake-secret-key-0123456789"


def openai_major() -> int:
    import openai

    return int(openai.__version__.split(".")[0])


def _httpx_module() -> Any:
    """The HTTP library the installed openai is built on: httpx2 from 3.x, httpx before."""
    if openai_major() >= 3:
        import httpx2

        return httpx2
    import httpx

    return httpx


_http_clients: dict[int, Any] = {}


def _shared_http_client() -> Any:
    """One pooled HTTP client for every sync test client: a new one builds an SSL context
    (~75 ms) even for plain-HTTP loopback."""
    major = openai_major()
    if major not in _http_clients:
        _http_clients[major] = _httpx_module().Client()
    return _http_clients[major]


def client(server: FakeOpenAI, **options: Any) -> Any:
    import openai

    options.setdefault("http_client", _shared_http_client())
    return openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0, **options)


def async_client(server: FakeOpenAI, **options: Any) -> Any:
    import openai

    return openai.AsyncOpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0, **options)


AZURE_HOST = "myresource.openai.azure.com"


def azure_client(server: FakeOpenAI, asynchronous: bool = False) -> Any:
    """An ``AzureOpenAI`` client for ``https://<AZURE_HOST>`` whose connections go to ``server``
    on loopback (a transport that rewrites the URL; the Host header stays Azure's)."""
    import openai

    httpx = _httpx_module()
    port = server.port

    def loopback(request: Any) -> None:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)

    class LoopbackTransport(httpx.HTTPTransport):  # type: ignore[misc,name-defined]
        def handle_request(self, request: Any) -> Any:
            loopback(request)
            return super().handle_request(request)

    class AsyncLoopbackTransport(httpx.AsyncHTTPTransport):  # type: ignore[misc,name-defined]
        async def handle_async_request(self, request: Any) -> Any:
            loopback(request)
            return await super().handle_async_request(request)

    options = {
        "azure_endpoint": f"https://{AZURE_HOST}",
        "api_key": API_KEY,
        "api_version": "2024-10-21",
        "max_retries": 0,
    }
    if asynchronous:
        http_client = httpx.AsyncClient(transport=AsyncLoopbackTransport())
        return openai.AsyncAzureOpenAI(http_client=http_client, **options)
    return openai.AzureOpenAI(http_client=httpx.Client(transport=LoopbackTransport()), **options)


# --- reading what the receiver got ---------------------------------------------------------------


def llm_spans(agent: Any, count: int = 1, timeout: float = 10.0) -> list[Any]:
    """Flush, then exactly ``count`` GenAI spans (those with ``gen_ai.operation.name``)."""
    agent.flush()
    found = agent.receiver.wait_for_spans(
        count, timeout, lambda span: "gen_ai.operation.name" in span.attributes
    )
    assert len(found) == count, f"expected {count} LLM spans, got {[s.name for s in found]}"
    return found


def llm_span(agent: Any) -> Any:
    """The one GenAI span the receiver got (fails if none or several arrived)."""
    return llm_spans(agent, 1)[0]


def json_attribute(span: Any, name: str) -> Any:
    """A content attribute (a JSON string) decoded."""
    assert name in span.attributes, f"{name} missing from {sorted(span.attributes)}"
    return json.loads(span.attributes[name])


# --- what the installed SDK has (the SDK matrix runs these tests against the oldest release) ----


def sdk_lacks(resource: str, method: str, *parameters: str) -> str | None:
    """Why a test of ``openai.resources.<resource>`` ``method`` (with these keyword
    ``parameters``) cannot run on the installed SDK, or None when it can."""
    import importlib
    import inspect

    import openai

    module_name, _, class_name = resource.rpartition(".")
    cls = getattr(importlib.import_module(f"openai.resources.{module_name}"), class_name)
    function = getattr(cls, method, None)
    if function is None:
        return f"openai {openai.__version__} has no {class_name}.{method}"
    accepted = inspect.signature(function).parameters
    missing = [name for name in parameters if name not in accepted]
    if missing:
        return f"openai {openai.__version__}: {class_name}.{method} takes no {', '.join(missing)}"
    return None


def skip_unless_sdk_has(resource: str, method: str, *parameters: str) -> pytest.MarkDecorator:
    """A skip marker for surfaces older SDK releases lack (see ``sdk_lacks``)."""
    reason = sdk_lacks(resource, method, *parameters)
    return pytest.mark.skipif(reason is not None, reason=reason or "")
