"""A LangGraph agent app under the real launcher, zero code: ``llmtrace-run python app.py``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from llmtrace_agent.toolkit import semconv
from tests.instrumentors.langchain.scenario import ANSWER, Tree, is_http, tool_call_then_answer
from tests.support.agent import run_traced
from tests.support.fake_openai import API_KEY

APP = textwrap.dedent(
    f"""
    import asyncio, os
    import httpx
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from langgraph.prebuilt import create_react_agent

    @tool
    def get_weather(city: str) -> str:
        \"\"\"The weather in a city.\"\"\"
        return f"sunny in {{city}}"

    model = ChatOpenAI(model="gpt-4o-mini", base_url=os.environ["FAKE_OPENAI_URL"],
                       api_key="{API_KEY}", max_retries=0)
    agent = create_react_agent(model, [get_weather])
    agent.name = "weather"  # create_react_agent(..., name=) from LangGraph 0.3
    question = {{"messages": [("user", "What is the weather in Paris?")]}}
    config = {{"configurable": {{"thread_id": "app-thread"}}}}

    async def main():
        # astream_events: LangGraph's async task execution, callbacks in other tasks
        events = [e async for e in agent.astream_events(question, config, version="v2")]
        return events[-1]["data"]["output"]["messages"][-1].content

    print(asyncio.run(main()))
    """
)


def test_an_unmodified_agent_app_is_one_trace(tmp_path: Path, receiver, fake_openai):
    tool_call_then_answer(fake_openai, streamed=True)  # astream_events streams the model
    app = tmp_path / "app.py"
    app.write_text(APP)

    run = run_traced(
        ["-W", "ignore", str(app)], receiver, env={"FAKE_OPENAI_URL": fake_openai.base_url}
    )

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == ANSWER
    assert "Failed to detach" not in run.stderr and "Traceback" not in run.stderr, run.stderr
    tree = Tree(receiver.wait_for_spans(7, 10, lambda span: not is_http(span)))
    (root,) = tree.roots()
    assert root.name == "invoke_agent weather"
    assert root.attributes[semconv.GEN_AI_CONVERSATION_ID] == "app-thread"
    assert len({span.trace_id for span in tree.spans}) == 1
    chats = tree.operation("chat")
    assert len(chats) == len(fake_openai.requests) == 2
    assert [tree.parent(chat).name for chat in chats] == ["agent", "agent"]
    tool = tree.one("execute_tool get_weather")
    assert tree.parent(tool).name == "tools" and tree.parent(tree.parent(tool)) is root
    assert b"sunny in Paris" not in receiver.all_bytes()  # content capture is off by default


def test_the_newest_conventions_add_agent_and_tool_metrics(tmp_path: Path, receiver, fake_openai):
    tool_call_then_answer(fake_openai, streamed=True)
    app = tmp_path / "app.py"
    app.write_text(APP)

    run = run_traced(
        ["-W", "ignore", str(app)],
        receiver,
        env={
            "FAKE_OPENAI_URL": fake_openai.base_url,
            "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        },
    )

    assert run.returncode == 0, run.stderr
    tree = Tree(receiver.wait_for_spans(7, 10, lambda span: not is_http(span)))
    (root,) = tree.roots()
    assert root.name == "invoke_agent weather"
    assert semconv.GEN_AI_PROVIDER_NAME not in root.attributes  # not on in-process agents now
    tool = tree.one("execute_tool get_weather")
    assert tool.attributes[semconv.GEN_AI_AGENT_NAME] == "weather"
    assert tool.attributes[semconv.GEN_AI_CONVERSATION_ID] == "app-thread"

    def point(metric: str) -> object:
        (found,) = receiver.points(metric)
        return found

    agent_run = point(semconv.GEN_AI_INVOKE_AGENT_DURATION)
    assert agent_run.attributes == {semconv.GEN_AI_AGENT_NAME: "weather"}
    assert agent_run.bucket_bounds == semconv.INVOCATION_DURATION_BUCKETS
    assert point(semconv.GEN_AI_INVOKE_AGENT_INFERENCE_CALLS).sum == len(fake_openai.requests) == 2
    assert point(semconv.GEN_AI_INVOKE_AGENT_TOOL_CALLS).sum == 1
    tool_run = point(semconv.GEN_AI_EXECUTE_TOOL_DURATION)
    assert tool_run.attributes[semconv.GEN_AI_TOOL_NAME] == "get_weather"
    assert tool_run.attributes[semconv.GEN_AI_AGENT_NAME] == "weather"
    assert point(semconv.GEN_AI_CLIENT_INFERENCE_DURATION).count == 2
    assert not receiver.points(semconv.GEN_AI_CLIENT_TOKEN_USAGE, timeout=0)


DEPRECATED_FACTORY_APP = textwrap.dedent(
    """
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langgraph.prebuilt import create_react_agent

    agent = create_react_agent(GenericFakeChatModel(messages=iter([])), [])
    print(type(agent).__name__)
    """
)


def test_create_react_agents_deprecation_warning_still_points_at_the_app(tmp_path: Path):
    """LangGraph 1.x deprecates ``create_react_agent`` with a warning attributed to its caller;
    Python shows a DeprecationWarning by default only when that caller is ``__main__``. So the
    agent must not put a frame of its own between them: the app sees the warning, at its line."""
    from langgraph.prebuilt import create_react_agent

    if not hasattr(create_react_agent, "__deprecated__"):
        pytest.skip("this LangGraph does not deprecate create_react_agent")
    app = tmp_path / "app.py"
    app.write_text(DEPRECATED_FACTORY_APP)

    run = run_traced([str(app)])

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "CompiledStateGraph"
    assert f"{app}:5: LangGraphDeprecatedSinceV10" in run.stderr, run.stderr
