"""Pydantic AI's own spans under the agent, against the loopback OpenAI: one agent-run tree,
one model span per request (the openai instrumentor's), content only when asked."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from tests.support.agent import InProcessAgent, code, run_traced
from tests.support.fake_openai import (
    TOOL_ARGUMENTS,
    FakeOpenAI,
    Reply,
    chat_chunks,
    chat_completion,
)
from tests.support.otlp_receiver import OTLPReceiver, ReceivedSpan

MODEL = "gpt-4o-mini"
AGENT = "weather_agent"
ANSWER = "It is sunny in Paris."
PROMPT = "What is the weather in Paris?"


def tool_call_then_answer(server: FakeOpenAI) -> None:
    """The issue's scenario: a tool call first, the final answer after the tool's result."""
    server.reply(
        Reply(body=chat_completion(model=MODEL, tool_call=True)),
        Reply(body=chat_completion(model=MODEL, content=ANSWER)),
    )


def weather_agent(server: FakeOpenAI, tool: Any = None, **options: Any) -> Agent:
    provider = OpenAIProvider(base_url=server.base_url, api_key="k", **options)
    model = OpenAIChatModel(MODEL, provider=provider)
    agent = Agent(model, name=AGENT)

    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    agent.tool_plain(tool or get_weather, name="get_weather")
    return agent


def tree(spans: list[ReceivedSpan]) -> dict[str, list[ReceivedSpan]]:
    """The spans by operation (chat, invoke_agent, execute_tool)."""
    found: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        found.setdefault(span.attributes.get("gen_ai.operation.name", span.name), []).append(span)
    return found


def descends_from(span: ReceivedSpan, ancestor: ReceivedSpan, spans: list[ReceivedSpan]) -> bool:
    """Whether ``ancestor`` is above ``span`` (releases before 1.4x put tool spans under a
    "running tools" span of their own)."""
    by_id = {found.span_id: found for found in spans}
    parent = by_id.get(span.parent_span_id)
    while parent is not None:
        if parent.span_id == ancestor.span_id:
            return True
        parent = by_id.get(parent.parent_span_id)
    return False


def test_agent_run_tool_and_model_requests_form_one_tree(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    tool_call_then_answer(fake_openai)

    result = weather_agent(fake_openai).run_sync(PROMPT)

    assert result.output == ANSWER
    spans = tree(agent.spans(4))
    [run] = spans["invoke_agent"]
    [tool] = spans["execute_tool"]
    chats = spans["chat"]
    assert len(chats) == len(fake_openai.requests) == 2  # one model span per request
    assert (run.name, run.kind) == (f"invoke_agent {AGENT}", "INTERNAL")
    assert run.attributes["gen_ai.agent.name"] == AGENT
    # Pydantic AI mints a conversation id per run (or takes the history's): never an empty one.
    assert run.attributes.get("gen_ai.conversation.id", "x") != ""
    assert not any(key.startswith("logfire.") for key in run.attributes)
    assert (tool.name, tool.kind) == ("execute_tool get_weather", "INTERNAL")
    assert tool.attributes["gen_ai.tool.call.id"] == "call_1"
    for chat in chats:
        # The openai instrumentor's span, with the framework's agent name added.
        assert chat.scope == "llmtrace_agent.openai"
        assert (chat.name, chat.kind) == (f"chat {MODEL}", "CLIENT")
        assert chat.attributes["gen_ai.provider.name"] == "openai"
        assert chat.attributes["gen_ai.agent.name"] == AGENT
        assert chat.attributes["gen_ai.usage.input_tokens"] == 12
        assert chat.parent_span_id == run.span_id
    reasons = [list(chat.attributes["gen_ai.response.finish_reasons"]) for chat in chats]
    assert reasons == [["tool_calls"], ["stop"]]
    assert descends_from(tool, run, agent.receiver.spans)
    assert {span.trace_id for span in [run, tool, *chats]} == {run.trace_id}
    theirs = [span for span in agent.receiver.spans if span.scope == "pydantic-ai"]
    assert not any(span.kind == "CLIENT" for span in theirs)


def test_token_metrics_are_not_recorded_twice(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    tool_call_then_answer(fake_openai)

    weather_agent(fake_openai).run_sync(PROMPT)

    agent.flush()
    points = agent.receiver.points("gen_ai.client.token.usage")
    assert points  # the openai instrumentor's
    # Pydantic AI's own points carry its deprecated gen_ai.system: none for a measured request.
    assert not any("gen_ai.system" in point.attributes for point in points)


def test_content_is_off_by_default(agent: InProcessAgent, fake_openai: FakeOpenAI) -> None:
    tool_call_then_answer(fake_openai)

    weather_agent(fake_openai).run_sync(PROMPT)

    for span in agent.spans(4):
        assert "gen_ai.tool.call.arguments" not in span.attributes
        assert "gen_ai.tool.call.result" not in span.attributes
        assert "gen_ai.input.messages" not in span.attributes
        assert "final_result" not in span.attributes
        texts = " ".join(str(value) for value in span.attributes.values())
        assert PROMPT not in texts
        assert "sunny" not in texts


def test_a_tool_raising_marks_its_span_and_reaches_the_app_unchanged(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply(Reply(body=chat_completion(model=MODEL, tool_call=True)))
    failure = LookupError("no weather station")

    def get_weather(city: str) -> str:
        raise failure

    with pytest.raises(LookupError) as raised:
        weather_agent(fake_openai, get_weather).run_sync(PROMPT)

    assert raised.value is failure
    spans = tree(agent.spans(3))
    [tool] = spans["execute_tool"]
    [run] = spans["invoke_agent"]
    assert tool.status_code == "ERROR"
    assert tool.attributes["error.type"] == "LookupError"
    assert run.status_code == "ERROR"
    assert len(spans["chat"]) == len(fake_openai.requests) == 1


def test_async_runs_keep_the_tree(agent: InProcessAgent, fake_openai: FakeOpenAI) -> None:
    tool_call_then_answer(fake_openai)

    async def main() -> Any:
        # A client of this event loop's (releases before 1.4x share one across loops).
        async with httpx.AsyncClient() as http_client:
            return await weather_agent(fake_openai, http_client=http_client).run(PROMPT)

    result = asyncio.run(main())

    assert result.output == ANSWER
    spans = tree(agent.spans(4))
    [run] = spans["invoke_agent"]
    assert len(spans["chat"]) == len(fake_openai.requests) == 2
    assert all(span.parent_span_id == run.span_id for span in spans["chat"])
    assert descends_from(spans["execute_tool"][0], run, agent.receiver.spans)
    assert {span.trace_id for span in agent.receiver.spans} == {run.trace_id}


def test_a_streamed_run_keeps_one_model_span_per_request(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply(
        Reply(events=chat_chunks(model=MODEL, tool_call=True, usage=True)),
        Reply(events=chat_chunks(model=MODEL, pieces=("It is", " sunny."), usage=True)),
    )

    async def main() -> str:
        async with httpx.AsyncClient() as http_client:
            weather = weather_agent(fake_openai, http_client=http_client)
            async with weather.run_stream(PROMPT) as streamed:
                return "".join([piece async for piece in streamed.stream_text(delta=True)])

    assert asyncio.run(main()) == "It is sunny."
    spans = tree(agent.spans(4))
    [run] = spans["invoke_agent"]
    chats = spans["chat"]
    assert len(chats) == len(fake_openai.requests) == 2
    assert all(chat.scope == "llmtrace_agent.openai" for chat in chats)
    assert all(chat.attributes["gen_ai.request.stream"] is True for chat in chats)
    assert all(chat.parent_span_id == run.span_id for chat in chats)
    assert descends_from(spans["execute_tool"][0], run, agent.receiver.spans)
    assert {span.trace_id for span in agent.receiver.spans} == {run.trace_id}


APP = """
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    model = OpenAIChatModel({model!r}, provider=OpenAIProvider(base_url={base_url!r}, api_key="k"))
    agent = Agent(model, name={agent!r})

    @agent.tool_plain
    def get_weather(city: str) -> str:
        return "sunny in " + city

    print(agent.run_sync({prompt!r}).output)
    """


def run_app(
    receiver: OTLPReceiver, server: FakeOpenAI, env: dict[str, str] | None = None
) -> list[ReceivedSpan]:
    tool_call_then_answer(server)
    app = APP.format(model=MODEL, base_url=server.base_url, agent=AGENT, prompt=PROMPT)
    result = run_traced(code(app), receiver, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ANSWER
    assert "Failed to detach context" not in result.stderr
    return receiver.wait_for_spans(4, where=lambda span: "gen_ai.operation.name" in span.attributes)


def test_under_llmtrace_run_with_content_on(
    receiver: OTLPReceiver, fake_openai: FakeOpenAI
) -> None:
    spans = tree(run_app(receiver, fake_openai, {"LLMTRACE_CAPTURE_CONTENT": "true"}))

    [run] = spans["invoke_agent"]
    [tool] = spans["execute_tool"]
    chats = spans["chat"]
    assert len(chats) == len(fake_openai.requests) == 2
    assert all(chat.scope == "llmtrace_agent.openai" for chat in chats)
    assert {span.parent_span_id for span in chats} == {run.span_id}
    assert descends_from(tool, run, receiver.spans)
    assert run.parent_span_id == ""
    assert len({span.trace_id for span in [run, tool, *chats]}) == 1
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == json.loads(TOOL_ARGUMENTS)
    assert tool.attributes["gen_ai.tool.call.result"] == "sunny in Paris"
    assert run.attributes["final_result"] == ANSWER
    assert PROMPT in chats[0].attributes["gen_ai.input.messages"]


def test_content_is_clipped_and_stays_json(receiver: OTLPReceiver, fake_openai: FakeOpenAI) -> None:
    env = {"LLMTRACE_CAPTURE_CONTENT": "true", "LLMTRACE_CONTENT_MAX_LENGTH": "8"}

    spans = tree(run_app(receiver, fake_openai, env))

    [run] = spans["invoke_agent"]
    [tool] = spans["execute_tool"]
    assert tool.attributes["gen_ai.tool.call.result"] == "sunny in…[truncated]"
    messages = json.loads(run.attributes["pydantic_ai.all_messages"])  # still JSON
    assert "What is …[truncated]" in json.dumps(messages, ensure_ascii=False)


def test_a_provider_we_do_not_trace_keeps_pydantic_ai_model_spans(
    receiver: OTLPReceiver, fake_openai: FakeOpenAI
) -> None:
    env = {"LLMTRACE_DISABLED_INSTRUMENTORS": "openai"}

    spans = tree(run_app(receiver, fake_openai, env))

    [run] = spans["invoke_agent"]
    chats = spans["chat"]
    assert len(chats) == len(fake_openai.requests) == 2
    for chat in chats:
        assert chat.scope == "pydantic-ai"
        assert (chat.name, chat.kind) == (f"chat {MODEL}", "CLIENT")
        assert chat.parent_span_id == run.span_id
        assert chat.attributes["gen_ai.provider.name"] == "openai"
        assert chat.attributes["gen_ai.usage.input_tokens"] == 12
        assert "gen_ai.system" not in chat.attributes  # deprecated name
        assert chat.end_ns > chat.start_ns
    # Unmeasured by us, the requests keep Pydantic AI's token metrics.
    points = receiver.points("gen_ai.client.token.usage")
    assert any(point.attributes.get("gen_ai.system") == "openai" for point in points)


def test_disabled_it_leaves_pydantic_ai_untraced(
    receiver: OTLPReceiver, fake_openai: FakeOpenAI
) -> None:
    tool_call_then_answer(fake_openai)
    app = APP.format(model=MODEL, base_url=fake_openai.base_url, agent=AGENT, prompt=PROMPT)

    result = run_traced(code(app), receiver, env={"LLMTRACE_DISABLED_INSTRUMENTORS": "pydantic_ai"})

    assert result.returncode == 0, result.stderr
    chats = receiver.wait_for_spans(2, where=lambda span: span.name == f"chat {MODEL}")
    assert len(chats) == 2
    assert not any(span.scope == "pydantic-ai" for span in receiver.spans)


def test_the_newest_conventions_count_the_agent_runs_calls(
    receiver: OTLPReceiver, fake_openai: FakeOpenAI
) -> None:
    env = {"OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental"}

    spans = tree(run_app(receiver, fake_openai, env))

    [run] = spans["invoke_agent"]
    [tool] = spans["execute_tool"]
    assert tool.attributes["gen_ai.agent.name"] == AGENT
    assert "gen_ai.provider.name" not in run.attributes  # not on in-process agent spans now
    (calls,) = receiver.points("gen_ai.invoke_agent.inference_calls")
    assert calls.sum == len(fake_openai.requests) == 2
    assert calls.attributes == {"gen_ai.agent.name": AGENT}
    (tools,) = receiver.points("gen_ai.invoke_agent.tool_calls")
    assert tools.sum == 1
    assert receiver.points("gen_ai.execute_tool.duration")
