"""The anthropic SDK's tool runner traces itself (its agent and tool spans); with ours, a
tool-runner app gives one trace: the runner's ``invoke_agent`` span, our ``chat`` span per model
request (the SDK's duplicate API-call span dropped) and the SDK's ``execute_tool`` span."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from typing import Any

import anthropic
import pytest

from llmtrace_agent.toolkit import semconv
from tests.support import fake_anthropic as fake
from tests.support.agent import code, run_traced

MODEL = "claude-haiku-4-5"
MESSAGES = [{"role": "user", "content": "Weather in Paris?"}]
SDK_SCOPE = "com.anthropic.sdk.python"
WEATHER = "Sunny, 21 degrees."

pytestmark = pytest.mark.skipif(
    not hasattr(anthropic, "beta_tool")
    or importlib.util.find_spec("anthropic.lib._tracing") is None,
    reason=f"anthropic {anthropic.__version__}'s tool runner has no spans of its own",
)


def agent_client(server: fake.FakeAnthropic, **options: Any) -> Any:
    """A client the fake answers with a tool call first, the final answer after the result."""
    return anthropic.Anthropic(
        base_url=server.base_url,
        api_key="sk-ant-fake",
        max_retries=0,
        default_headers={fake.SCENARIO_HEADER: "agent"},
        **options,
    )


def get_weather(city: str, unit: str) -> str:
    """The weather in a city (made a tool in each test: older SDKs have no ``beta_tool``)."""
    return WEATHER


def run_spans(agent: Any, count: int) -> list[Any]:
    agent.spans(count)
    spans = [span for span in agent.receiver.spans if not span.name.startswith("POST")]
    assert len({span.trace_id for span in spans}) == 1, [(s.name, s.trace_id) for s in spans]
    return spans


def assert_one_tree(spans: list[Any], requests: int) -> None:
    (runner,) = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "invoke_agent"]
    (tool,) = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "execute_tool"]
    chats = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert len(chats) == requests == 2, [(s.name, s.scope) for s in chats]
    assert all(chat.scope == "llmtrace_agent.anthropic" for chat in chats)
    assert runner.scope == tool.scope == SDK_SCOPE
    assert runner.parent_span_id == ""
    assert all(chat.parent_span_id == runner.span_id for chat in chats)
    assert tool.parent_span_id == runner.span_id
    assert tool.attributes[semconv.GEN_AI_TOOL_NAME] == "get_weather"
    assert tool.attributes[semconv.GEN_AI_TOOL_CALL_ID] == fake.TOOL_ID
    # the conventions' names, not the SDK's (anthropic.messages.tool_runner, …custom_tool_use)
    assert (runner.name, tool.name) == ("invoke_agent", "execute_tool get_weather")
    # no other SDK span: its API-call spans were ours already
    assert not [s for s in spans if s.scope == SDK_SCOPE and s.kind == "CLIENT"]


def test_a_tool_runner_run_is_one_trace_of_agent_chats_and_tool(agent, fake_anthropic):
    runner = agent_client(fake_anthropic).beta.messages.tool_runner(
        model=MODEL, max_tokens=64, messages=MESSAGES, tools=[anthropic.beta_tool(get_weather)]
    )
    final = runner.until_done()

    assert final.content[0].text == fake.TEXT
    spans = run_spans(agent, 4)
    assert_one_tree(spans, len(fake_anthropic.requests))
    (tool,) = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "execute_tool"]
    assert semconv.GEN_AI_TOOL_CALL_ARGUMENTS not in tool.attributes  # content is opt-in


def test_an_async_tool_runner_run_is_the_same_tree(agent, fake_anthropic):
    @anthropic.beta_async_tool
    async def get_weather(city: str, unit: str) -> str:
        """The weather in a city."""
        return WEATHER

    async def main() -> Any:
        client = anthropic.AsyncAnthropic(
            base_url=fake_anthropic.base_url,
            api_key="sk-ant-fake",
            max_retries=0,
            default_headers={fake.SCENARIO_HEADER: "agent"},
        )
        runner = client.beta.messages.tool_runner(
            model=MODEL, max_tokens=64, messages=MESSAGES, tools=[get_weather]
        )
        return await runner.until_done()

    final = asyncio.run(main())

    assert final.content[0].text == fake.TEXT
    assert_one_tree(run_spans(agent, 4), len(fake_anthropic.requests))


def test_a_streaming_tool_runner_run_is_the_same_tree(agent, fake_anthropic):
    runner = agent_client(fake_anthropic).beta.messages.tool_runner(
        model=MODEL,
        max_tokens=64,
        messages=MESSAGES,
        tools=[anthropic.beta_tool(get_weather)],
        stream=True,
    )
    for stream in runner:
        for _event in stream:
            pass

    assert_one_tree(run_spans(agent, 4), len(fake_anthropic.requests))


def test_with_content_capture_the_sdk_tool_span_records_the_arguments(agent, fake_anthropic):
    with agent.configured(capture_content=True):
        client = agent_client(fake_anthropic)  # the option resolves when the client is made
    client.beta.messages.tool_runner(
        model=MODEL, max_tokens=64, messages=MESSAGES, tools=[anthropic.beta_tool(get_weather)]
    ).until_done()

    spans = run_spans(agent, 4)
    (tool,) = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "execute_tool"]
    assert json.loads(tool.attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS]) == fake.TOOL_INPUT


def test_an_unmodified_tool_runner_app_under_the_launcher_is_one_trace(receiver, fake_anthropic):
    app = code(
        f"""
        import anthropic

        @anthropic.beta_tool
        def get_weather(city: str, unit: str) -> str:
            \"\"\"The weather in a city.\"\"\"
            return {WEATHER!r}

        client = anthropic.Anthropic(
            base_url={fake_anthropic.base_url!r},
            api_key="sk-ant-fake",
            default_headers={{{fake.SCENARIO_HEADER!r}: "agent"}},
        )
        runner = client.beta.messages.tool_runner(
            model={MODEL!r}, max_tokens=64, messages={MESSAGES!r}, tools=[get_weather]
        )
        print(runner.until_done().content[0].text)
        """
    )

    result = run_traced(app, receiver)

    assert result.returncode == 0, result.stderr
    assert fake.TEXT in result.stdout
    receiver.wait_for_spans(4, where=lambda span: not span.name.startswith("POST"))
    spans = [s for s in receiver.spans if not s.name.startswith("POST")]
    assert len({span.trace_id for span in spans}) == 1
    assert_one_tree(spans, len(fake_anthropic.requests))
