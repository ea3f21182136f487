"""The Agents SDK beyond the plain run: MCP tools, custom spans, replaced processors, streams
left early, and a model client no provider instrumentor traces."""

from __future__ import annotations

import sys
import textwrap
from typing import Any

from agents import Agent, Runner

from llmtrace_agent.toolkit import semconv
from tests.instrumentors.openai_agents.test_openai_agents import (
    WEATHER,
    assert_tool_run_tree,
    by_name,
    model_spans,
    responses_model,
    run_async,
    tool_call_then_answer,
    tree,
    weather_agent,
)

MCP_SERVER = textwrap.dedent(
    f"""
    try:
        from mcp.server.mcpserver import MCPServer as Server  # mcp 2.x
    except ImportError:
        from mcp.server.fastmcp import FastMCP as Server  # mcp 1.x

    server = Server("weather")


    @server.tool()
    def get_weather(city: str) -> str:
        \"\"\"The weather in a city.\"\"\"
        return {WEATHER!r}


    server.run()
    """
)


def test_an_mcp_server_tool_call_is_an_execute_tool_span_under_its_agent(
    agent, fake_openai, tmp_path
):
    from agents.mcp import MCPServerStdio

    script = tmp_path / "weather_server.py"
    script.write_text(MCP_SERVER)
    tool_call_then_answer(fake_openai)  # the fake calls get_weather: the MCP server's tool

    async def main() -> Any:
        params = {"command": sys.executable, "args": [str(script)]}
        async with MCPServerStdio(params=params, name="weather") as server:
            mcp_agent = Agent(
                name="weather",
                instructions="Answer.",
                mcp_servers=[server],
                model=responses_model(fake_openai),
            )
            return await Runner.run(mcp_agent, "Weather in Paris?")

    result = run_async(main())

    assert result.final_output == "Hello from the fake server!"
    agent.spans(5)
    spans = [s for s in agent.receiver.spans if s.scope.startswith("llmtrace_agent.")]
    spans = [s for s in spans if not s.name.startswith(("POST", "GET"))]
    assert_tool_run_tree(spans, len(fake_openai.requests))
    (tool,) = by_name(spans, "execute_tool get_weather")
    assert tool.status_code != "ERROR"


def test_an_mcp_stdio_server_started_by_an_app_under_the_launcher_joins_its_trace(
    receiver, fake_openai, sdk_upload, tmp_path
):
    # The SDK starts the server with the MCP SDK's scrubbed environment (no PYTHONPATH, no
    # OTEL_*): the agent hands itself on, so the server's span is under the agent's tool span.
    from tests.instrumentors.openai_agents.conftest import INGEST_PATH
    from tests.support.agent import code, run_traced
    from tests.support.fake_openai import API_KEY

    script = tmp_path / "weather_server.py"
    script.write_text(MCP_SERVER)
    tool_call_then_answer(fake_openai)
    app = code(
        f"""
        import asyncio
        import sys

        from agents import Agent, Runner
        from agents.mcp import MCPServerStdio
        from agents.tracing import processors

        processors.default_exporter().endpoint = {sdk_upload.url(INGEST_PATH)!r}  # not OpenAI


        async def main():
            params = {{"command": sys.executable, "args": [{str(script)!r}]}}
            async with MCPServerStdio(params=params, name="weather") as server:
                agent = Agent(name="weather", instructions="Answer.", mcp_servers=[server])
                print((await Runner.run(agent, "Weather in Paris?")).final_output)


        asyncio.run(main())
        """
    )
    env = {"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": API_KEY}

    result = run_traced(app, receiver, env=env)

    assert result.returncode == 0, result.stderr
    assert "Hello from the fake server!" in result.stdout
    assert "Failed to detach" not in result.stderr, result.stderr

    def is_served_call(span: Any) -> bool:
        return span.kind == "SERVER" and span.name == "tools/call get_weather"

    receiver.wait_for_spans(1, where=is_served_call)
    spans = receiver.spans
    (tool,) = by_name(spans, "execute_tool get_weather")
    (served,) = [s for s in spans if is_served_call(s)]
    assert served.parent_span_id == tool.span_id
    assert served.client_port != tool.client_port  # exported by the server's process
    agents = [s for s in spans if s.attributes.get(semconv.GEN_AI_AGENT_NAME) == "weather"]
    assert len({s.trace_id for s in [*agents, served]}) == 1


def test_a_custom_span_is_a_span_named_by_the_app(agent, fake_openai):
    from agents import custom_span
    from agents import trace as agents_trace

    with agents_trace("Nightly"), custom_span("load profile"):
        pass

    spans = tree(agent, 2)
    (workflow,) = by_name(spans, "invoke_workflow Nightly")
    (custom,) = by_name(spans, "load profile")
    assert custom.kind == "INTERNAL" and custom.parent_span_id == workflow.span_id


def test_spans_stay_when_the_app_replaces_the_sdk_processors(agent, fake_openai):
    from agents import set_trace_processors
    from agents.tracing import processors

    tool_call_then_answer(fake_openai)
    set_trace_processors([])
    try:
        Runner.run_sync(weather_agent(responses_model(fake_openai)), "Weather in Paris?")
    finally:
        set_trace_processors([processors.default_processor()])

    assert_tool_run_tree(tree(agent, 5), len(fake_openai.requests))


def test_a_streamed_run_left_after_its_first_event_still_ends_every_span(agent, fake_openai):
    from tests.support.fake_openai import Reply, response_events

    fake_openai.reply(
        Reply(events=response_events(tool_call=True), done=False),
        Reply(events=response_events(), done=False),
    )

    async def main() -> None:
        result = Runner.run_streamed(
            weather_agent(responses_model(fake_openai)), "Weather in Paris?"
        )
        async for _event in result.stream_events():
            break  # the app stops listening; run_async then cancels what is left

    run_async(main())

    agent.flush()
    (workflow,) = agent.receiver.wait_for_spans(
        1, where=lambda span: span.name == "invoke_workflow Agent workflow"
    )
    spans = agent.receiver.spans
    assert len({span.trace_id for span in spans}) == 1
    # how far the run got before it was cancelled depends on the SDK release; what started ended
    runs = by_name(spans, "invoke_agent weather")
    assert all(run.parent_span_id == workflow.span_id for run in runs)
    assert all(chat.parent_span_id in {run.span_id for run in runs} for chat in model_spans(spans))


def test_a_model_request_no_provider_instrumentor_traced_gets_a_span_of_its_own(agent):
    from agents import ModelResponse, Usage
    from agents.models.interface import Model
    from agents.tracing import generation_span
    from openai.types.responses import ResponseOutputMessage, ResponseOutputText

    class CannedModel(Model):
        """A model client we do not instrument: it answers without any HTTP request."""

        async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
            with generation_span(model="canned-1") as span:
                span.span_data.usage = {"input_tokens": 3, "output_tokens": 2}
                text = ResponseOutputText(type="output_text", text="Canned.", annotations=[])
                message = ResponseOutputMessage(
                    id="msg_1", type="message", role="assistant", status="completed",
                    content=[text],
                )  # fmt: skip
                usage = Usage(requests=1, input_tokens=3, output_tokens=2, total_tokens=5)
                return ModelResponse(output=[message], usage=usage, response_id=None)

        def stream_response(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError

    result = Runner.run_sync(Agent(name="canned", model=CannedModel()), "Hi")

    assert result.final_output == "Canned."
    spans = tree(agent, 3)
    (run,) = by_name(spans, "invoke_agent canned")
    (chat,) = by_name(spans, "chat canned-1")
    assert chat.kind == "CLIENT" and chat.parent_span_id == run.span_id
    assert chat.attributes[semconv.GEN_AI_REQUEST_MODEL] == "canned-1"
    assert chat.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 3
    assert chat.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 2
    assert chat.attributes[semconv.GEN_AI_AGENT_NAME] == "canned"
    assert chat.start_ns >= run.start_ns and chat.end_ns <= run.end_ns
