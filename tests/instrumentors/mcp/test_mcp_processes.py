"""An MCP client and server in two processes, both under ``llmtrace-run``: over stdio (the client
starts the server) and over streamable HTTP (FastMCP's own uvicorn runner on a loopback port).
Each request forms one trace: the server's span is a child of the client's."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmtrace_agent.toolkit import semconv
from tests.support.agent import run_traced
from tests.support.fake_openai import FakeOpenAI
from tests.support.otlp_receiver import OTLPReceiver, ReceivedSpan
from tests.support.servers import TracedServer, free_port

HERE = Path(__file__).resolve().parent
# What client_app.py sends, by span name.
SENT = (
    "initialize",
    "notifications/initialized",
    "tools/list",
    "tools/call get_weather",
    "tools/call broken",
    "tools/call ask_model",
    "prompts/get forecast",
    "resources/read",
    "logging/setLevel",
)
MCP_SPANS = 2 * len(SENT)


class Run:
    """The spans both processes exported, and the client's output."""

    def __init__(
        self, spans: list[ReceivedSpan], output: str, errors: str, model_requests: int
    ) -> None:
        self.spans = spans
        self.output = output
        self.errors = errors
        self.model_requests = model_requests

    def pair(self, name: str) -> tuple[ReceivedSpan, ReceivedSpan]:
        """The one CLIENT and the one SERVER span named ``name``."""
        clients = [s for s in self.spans if s.name == name and s.kind == "CLIENT"]
        servers = [s for s in self.spans if s.name == name and s.kind == "SERVER"]
        assert len(clients) == 1 and len(servers) == 1, (name, clients, servers)
        return clients[0], servers[0]


def mcp_spans(receiver: OTLPReceiver) -> list[ReceivedSpan]:
    def is_mcp(span: ReceivedSpan) -> bool:
        return semconv.MCP_METHOD_NAME in span.attributes

    receiver.wait_for_spans(MCP_SPANS, 20.0, is_mcp)
    return receiver.spans


def check_client_output(output: str) -> None:
    assert "ok Sunny in Paris, 21 C" in output
    assert "isError True" in output
    assert "error -32601" in output
    assert "model Hello from the fake server!" in output


@pytest.fixture(scope="module")
def stdio_run(_fake_openai: FakeOpenAI) -> Iterator[Run]:
    """The client under llmtrace-run starts its server as a plain ``python`` over stdio."""
    receiver = OTLPReceiver()
    _fake_openai.clear()
    try:
        result = run_traced(
            [str(HERE / "client_app.py"), "stdio"],
            receiver,
            env={"FAKE_OPENAI_URL": _fake_openai.base_url},  # the server inherits it
        )
        assert result.returncode == 0, result.stderr
        check_client_output(result.stdout)
        yield Run(mcp_spans(receiver), result.stdout, result.stderr, len(_fake_openai.requests))
    finally:
        receiver.close()


@pytest.fixture(scope="module")
def http_run(_fake_openai: FakeOpenAI) -> Iterator[Run]:
    receiver = OTLPReceiver()
    _fake_openai.clear()
    port = free_port()
    server = TracedServer(
        [sys.executable, str(HERE / "server_app.py"), "http", str(port)],
        port,
        receiver,
        HERE,
        env={"FAKE_OPENAI_URL": _fake_openai.base_url},
    )
    try:
        result = run_traced(
            [str(HERE / "client_app.py"), "http", f"http://127.0.0.1:{port}/mcp"], receiver
        )
    finally:
        code = server.stop(signal.SIGTERM)
    try:
        assert result.returncode == 0, result.stderr
        assert code in (0, -signal.SIGTERM), server.output  # uvicorn re-raises the signal
        check_client_output(result.stdout)
        yield Run(
            mcp_spans(receiver),
            result.stdout,
            result.stderr + server.output,
            len(_fake_openai.requests),
        )
    finally:
        receiver.close()


@pytest.fixture(params=["stdio", "http"])
def run(request: pytest.FixtureRequest) -> Run:
    return request.getfixturevalue(f"{request.param}_run")


def test_each_message_is_one_client_and_one_server_span_in_one_trace(run: Run) -> None:
    for name in SENT:
        client, server = run.pair(name)
        assert server.trace_id == client.trace_id, name
        assert server.parent_span_id == client.span_id, name
    mcp = [s for s in run.spans if semconv.MCP_METHOD_NAME in s.attributes]
    assert sorted(s.name for s in mcp) == sorted(2 * SENT)


def test_spans_carry_the_mcp_attributes(run: Run) -> None:
    client, server = run.pair("tools/call get_weather")
    for span in (client, server):
        attributes = span.attributes
        assert attributes[semconv.MCP_METHOD_NAME] == "tools/call"
        assert attributes[semconv.GEN_AI_OPERATION_NAME] == "execute_tool"
        assert attributes[semconv.GEN_AI_TOOL_NAME] == "get_weather"
        assert attributes[semconv.MCP_PROTOCOL_VERSION] >= "2025-03-26"
        assert span.status_code == "UNSET"
        assert semconv.ERROR_TYPE not in attributes
    assert (
        client.attributes[semconv.JSONRPC_REQUEST_ID]
        == server.attributes[semconv.JSONRPC_REQUEST_ID]
    )
    for name in SENT:
        for span in run.pair(name):
            assert span.attributes[semconv.MCP_PROTOCOL_VERSION] >= "2025-03-26", name
    initialize, served = run.pair("initialize")
    assert initialize.attributes[semconv.JSONRPC_REQUEST_ID] in ("0", "1")  # mcp 1 / mcp 2
    assert (
        served.attributes[semconv.JSONRPC_REQUEST_ID]
        == initialize.attributes[semconv.JSONRPC_REQUEST_ID]
    )
    notification, _ = run.pair("notifications/initialized")
    assert semconv.JSONRPC_REQUEST_ID not in notification.attributes
    prompt, served_prompt = run.pair("prompts/get forecast")
    assert prompt.attributes[semconv.GEN_AI_PROMPT_NAME] == "forecast"
    assert served_prompt.attributes[semconv.GEN_AI_PROMPT_NAME] == "forecast"
    assert semconv.GEN_AI_OPERATION_NAME not in prompt.attributes
    read, served_read = run.pair("resources/read")
    assert read.attributes[semconv.MCP_RESOURCE_URI] == "weather://stations"
    assert served_read.attributes[semconv.MCP_RESOURCE_URI] == "weather://stations"


def test_a_tool_result_with_is_error_is_a_tool_error(run: Run) -> None:
    for span in run.pair("tools/call broken"):
        assert span.attributes[semconv.ERROR_TYPE] == "tool_error"
        assert span.status_code == "ERROR"


def test_a_json_rpc_error_is_its_code(run: Run) -> None:
    for span in run.pair("logging/setLevel"):
        assert span.attributes[semconv.ERROR_TYPE] == "-32601"
        assert span.attributes[semconv.RPC_RESPONSE_STATUS_CODE] == "-32601"
        assert span.status_code == "ERROR"
        assert span.status_message == "Method not found"


def test_content_is_not_captured_by_default(run: Run) -> None:
    for span in run.pair("tools/call get_weather"):
        assert semconv.GEN_AI_TOOL_CALL_ARGUMENTS not in span.attributes
        assert semconv.GEN_AI_TOOL_CALL_RESULT not in span.attributes


def test_no_context_errors_and_no_internal_errors(run: Run) -> None:
    assert "Failed to detach context" not in run.errors
    assert "internal error" not in run.errors


def test_a_model_call_in_a_tool_is_one_chat_span_under_the_servers_tool_span(run: Run) -> None:
    client, server = run.pair("tools/call ask_model")
    chats = [s for s in run.spans if s.attributes.get(semconv.GEN_AI_OPERATION_NAME) == "chat"]
    assert len(chats) == run.model_requests == 1
    assert chats[0].trace_id == client.trace_id
    assert chats[0].parent_span_id == server.span_id


def test_a_stdio_server_started_with_the_sdks_default_environment_is_traced(
    stdio_run: Run,
) -> None:
    # The SDK passes a server only HOME, PATH, USER… (and the app's env): the agent adds its own,
    # so the server process exports its SERVER spans (over a connection of its own) too.
    client, server = stdio_run.pair("tools/call get_weather")
    assert server.parent_span_id == client.span_id
    assert server.client_port != client.client_port


def test_stdio_is_a_pipe(stdio_run: Run) -> None:
    for name in SENT:
        for span in stdio_run.pair(name):
            assert span.attributes[semconv.NETWORK_TRANSPORT] == "pipe", name
            assert semconv.MCP_SESSION_ID not in span.attributes


def test_streamable_http_is_tcp_with_the_server_address_and_session_id(http_run: Run) -> None:
    client, server = http_run.pair("tools/call get_weather")
    for span in (client, server):
        assert span.attributes[semconv.NETWORK_TRANSPORT] == "tcp"
        assert span.attributes[semconv.NETWORK_PROTOCOL_NAME] == "http"
    assert client.attributes[semconv.SERVER_ADDRESS] == "127.0.0.1"
    assert isinstance(client.attributes[semconv.SERVER_PORT], int)
    assert server.attributes[semconv.CLIENT_ADDRESS] == "127.0.0.1"
    session_id = client.attributes[semconv.MCP_SESSION_ID]
    assert len(session_id) >= 16 and session_id.isalnum()  # the id itself, not a redaction
    for name in SENT:
        for span in http_run.pair(name):
            assert span.attributes[semconv.MCP_SESSION_ID] == session_id, name


def test_over_http_the_server_span_links_the_http_request_that_carried_it(http_run: Run) -> None:
    client, server = http_run.pair("tools/call get_weather")
    # The client's POST runs in its MCP span; the server's HTTP span continues it.
    spans = http_run.spans
    posts = [s for s in spans if s.kind == "CLIENT" and s.parent_span_id == client.span_id]
    assert {s.attributes[semconv.HTTP_REQUEST_METHOD] for s in posts} == {"POST"}
    # FastMCP before 1.1x redirects /mcp to /mcp/ first: the POST that got the answer carried it.
    (post,) = [s for s in posts if s.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] == 200]
    served = [s for s in spans if s.kind == "SERVER" and s.parent_span_id == post.span_id]
    assert [s.attributes[semconv.HTTP_REQUEST_METHOD] for s in served] == ["POST"]
    assert server.links == [(served[0].trace_id, served[0].span_id)]
