"""Agents over langchain-openai against the loopback fake: one ``invoke_agent`` span per run, its
nodes, the tool's ``execute_tool`` span, and exactly one model span per request (the openai
instrumentor's, enriched with the agent), in every way of running the graph."""

from __future__ import annotations

import asyncio
import json
import warnings

import pytest

from llmtrace_agent.toolkit import semconv
from tests.instrumentors.langchain.scenario import (
    ANSWER,
    QUESTION,
    Tree,
    broken_weather,
    chat_model,
    get_weather,
    named,
    skip_without_v3,
    tool_call_then_answer,
    tree_of,
)

THREAD = {"configurable": {"thread_id": "conversation-7"}}


def react_agent(fake_openai, tools=(get_weather,), **options):
    # Imported here, as an app run by llmtrace-run would: after the agent started.
    from langgraph.prebuilt import create_react_agent

    with warnings.catch_warnings():  # LangGraph 1.x: "moved to langchain.agents"
        warnings.simplefilter("ignore")
        return named(create_react_agent, chat_model(fake_openai, **options), list(tools))


def langchain_agent(fake_openai, tools=(get_weather,), **options):
    agents = pytest.importorskip("langchain.agents")
    if not hasattr(agents, "create_agent"):
        pytest.skip("langchain 1.x's create_agent")
    return agents.create_agent(chat_model(fake_openai, **options), list(tools), name="weather")


FACTORIES = {"create_react_agent": react_agent, "create_agent": langchain_agent}
MODEL_NODE = {"create_react_agent": "agent", "create_agent": "model"}


def run(agent, mode):
    """Run ``agent`` on the question the way ``mode`` says; the final answer's text."""
    if mode == "invoke":
        return agent.invoke(QUESTION, THREAD)["messages"][-1].content
    if mode == "ainvoke":
        return asyncio.run(agent.ainvoke(QUESTION, THREAD))["messages"][-1].content
    if mode == "stream":
        values = list(agent.stream(QUESTION, THREAD, stream_mode="values"))
        return values[-1]["messages"][-1].content
    if mode == "astream":

        async def consume():
            return [chunk async for chunk in agent.astream(QUESTION, THREAD, stream_mode="values")]

        return asyncio.run(consume())[-1]["messages"][-1].content
    if mode == "astream_events":

        async def consume():
            return [event async for event in agent.astream_events(QUESTION, THREAD, version="v2")]

        events = asyncio.run(consume())
        return events[-1]["data"]["output"]["messages"][-1].content
    if mode == "stream_events_v3":  # langgraph 1.2's typed protocol: iterating drives the run
        skip_without_v3(agent)
        with agent.stream_events(QUESTION, THREAD, version="v3") as events:
            for _ in events:
                pass
            return events.output["messages"][-1].text
    if mode == "astream_events_v3":
        skip_without_v3(agent)

        async def consume():
            run = await agent.astream_events(QUESTION, THREAD, version="v3")
            async with run:
                async for _ in run:
                    pass
                return (await run.output())["messages"][-1].text

        return asyncio.run(consume())
    if mode == "stream_messages":  # the model streams its tokens through the graph
        tokens = [m.content for m, _ in agent.stream(QUESTION, THREAD, stream_mode="messages")]
        return "".join(token for token in tokens if isinstance(token, str))
    raise AssertionError(mode)


def assert_agent_tree(tree: Tree, model_node: str, requests: int) -> None:
    """One trace: invoke_agent weather → model node → chat; tools node → execute_tool."""
    (root,) = tree.roots()
    assert root.name == "invoke_agent weather"
    assert root.kind == "INTERNAL"
    assert root.attributes[semconv.GEN_AI_OPERATION_NAME] == "invoke_agent"
    assert root.attributes[semconv.GEN_AI_AGENT_NAME] == "weather"
    assert root.attributes[semconv.GEN_AI_CONVERSATION_ID] == "conversation-7"
    assert len({span.trace_id for span in tree.spans}) == 1

    chats = tree.operation("chat")
    assert len(chats) == requests == 2  # one model span per request the fake got
    for chat in chats:
        assert chat.name == "chat gpt-4o-mini" and chat.kind == "CLIENT"
        assert chat.scope == "llmtrace_agent.openai"  # the provider's span, not a second one
        assert chat.attributes[semconv.GEN_AI_AGENT_NAME] == "weather"
        assert chat.attributes[semconv.GEN_AI_CONVERSATION_ID] == "conversation-7"
        assert chat.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12
        node = tree.parent(chat)
        assert node.name == model_node and node.kind == "INTERNAL"
        assert tree.parent(node) is root

    tool = tree.one("execute_tool get_weather")
    assert tool.kind == "INTERNAL"
    assert tool.attributes[semconv.GEN_AI_TOOL_NAME] == "get_weather"
    assert tool.attributes[semconv.GEN_AI_TOOL_CALL_ID] == "call_1"
    assert tool.attributes[semconv.GEN_AI_TOOL_TYPE] == "function"
    assert tool.attributes[semconv.GEN_AI_TOOL_DESCRIPTION] == "The weather in a city."
    assert tool.status_code != "ERROR"
    assert tree.parent(tool).name == "tools"
    assert root in tree.ancestors(tool)
    # the tool's call comes after the first model call and before the second
    first, second = sorted(chats, key=lambda span: span.start_ns)
    assert first.end_ns <= tool.start_ns and tool.end_ns <= second.start_ns
    # nothing for the glue: prompt, RunnableSequence, conditional edges
    names = {span.name for span in tree.spans}
    assert not names & {"RunnableSequence", "Prompt", "should_continue", "call_model"}


@pytest.mark.parametrize("factory", FACTORIES)
@pytest.mark.parametrize(
    "mode",
    [
        "invoke",
        "ainvoke",
        "stream",
        "astream",
        "astream_events",
        "stream_messages",
        "stream_events_v3",
        "astream_events_v3",
    ],
)
def test_an_agent_run_is_one_tree_with_one_model_span_per_request(
    agent, fake_openai, factory, mode
):
    streamed = mode not in ("invoke", "ainvoke", "stream", "astream")  # the model streams
    tool_call_then_answer(fake_openai, streamed=streamed)
    graph = FACTORIES[factory](fake_openai)

    answer = run(graph, mode)

    assert ANSWER in answer
    assert_agent_tree(tree_of(agent, 7), MODEL_NODE[factory], len(fake_openai.requests))


def test_a_graph_run_without_thread_has_no_conversation_id(agent, fake_openai):
    tool_call_then_answer(fake_openai)
    react_agent(fake_openai).invoke(QUESTION)

    tree = tree_of(agent, 7)
    for span in tree.spans:
        assert semconv.GEN_AI_CONVERSATION_ID not in span.attributes


@pytest.mark.parametrize("factory", FACTORIES)
def test_a_failing_tool_is_an_error_span_under_its_agent(agent, fake_openai, factory):
    fake_openai.reply(
        _tool_call_to("broken_weather"),
        _answer("The station is down"),
    )
    graph = FACTORIES[factory](fake_openai, tools=(broken_weather,))

    # LangGraph's tool node re-raises a tool's own errors (1.x; older ones answered the model
    # with the error): either way the app sees LangGraph's own behaviour.
    try:
        result = graph.invoke(QUESTION, THREAD)
    except ConnectionError as error:
        assert str(error) == "no station in Paris"
        expected = 5  # agent, model node, chat, tools node, tool
    else:
        assert result["messages"][-1].content == "The station is down"
        expected = 7

    tree = tree_of(agent, expected)
    tool = tree.one("execute_tool broken_weather")
    assert tool.status_code == "ERROR"
    assert tool.attributes[semconv.ERROR_TYPE] == "ConnectionError"
    (root,) = tree.roots()
    assert root.name == "invoke_agent weather"
    assert root in tree.ancestors(tool)
    if expected == 5:
        assert root.status_code == "ERROR"
        assert root.attributes[semconv.ERROR_TYPE] == "ConnectionError"


def test_a_tool_error_reaches_the_app_unchanged(agent):
    with pytest.raises(ConnectionError) as raised:
        broken_weather.invoke({"city": "Paris"})

    assert str(raised.value) == "no station in Paris"
    tree = tree_of(agent, 1)
    (tool,) = tree.spans
    assert tool.name == "execute_tool broken_weather"
    assert tool.status_code == "ERROR"
    assert tool.attributes[semconv.ERROR_TYPE] == "ConnectionError"
    assert tree.roots() == [tool]


@pytest.mark.parametrize("capture", [False, True])
def test_tool_arguments_and_results_only_with_content_capture(agent, fake_openai, capture):
    tool_call_then_answer(fake_openai)
    with agent.configured(capture_content=capture):
        react_agent(fake_openai).invoke(QUESTION, THREAD)

    tool = tree_of(agent, 7).one("execute_tool get_weather")
    if capture:
        assert json.loads(tool.attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"city": "Paris"}
        assert tool.attributes[semconv.GEN_AI_TOOL_CALL_RESULT] == "sunny in Paris"
    else:
        assert semconv.GEN_AI_TOOL_CALL_ARGUMENTS not in tool.attributes
        assert semconv.GEN_AI_TOOL_CALL_RESULT not in tool.attributes
        exported = agent.receiver.all_bytes()
        assert b"sunny in Paris" not in exported and b"weather in Paris" not in exported


def test_an_agent_stream_left_early_ends_its_spans(agent, fake_openai):
    tool_call_then_answer(fake_openai)
    steps = react_agent(fake_openai).stream(QUESTION, THREAD, stream_mode="updates")
    first = next(steps)  # the model asked for the tool
    assert "agent" in first
    steps.close()

    tree = tree_of(agent, 3)
    root = tree.one("invoke_agent weather")
    assert root.status_code != "ERROR"  # the app chose to stop: not a failure
    assert len(tree.operation("chat")) == len(fake_openai.requests) == 1


def test_a_v3_event_stream_left_early_ends_its_spans(agent, fake_openai):
    tool_call_then_answer(fake_openai, streamed=True)
    graph = react_agent(fake_openai)
    skip_without_v3(graph)
    with graph.stream_events(QUESTION, THREAD, version="v3") as events:
        for update in events.values:
            if len(update.get("messages", ())) > 1:  # the model asked for the tool: stop here
                break

    tree = tree_of(agent, 3)
    root = tree.one("invoke_agent weather")
    assert root.status_code != "ERROR"  # the app chose to stop: not a failure
    assert len(tree.operation("chat")) == len(fake_openai.requests) == 1


def _tool_call_to(name):
    from tests.support.fake_openai import Reply, chat_completion

    body = chat_completion(tool_call=True)
    body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] = name
    return Reply(body=body)


def _answer(text):
    from tests.support.fake_openai import Reply, chat_completion

    return Reply(body=chat_completion(content=text))


@pytest.mark.parametrize("mode", ["invoke", "ainvoke"])
def test_a_subagent_run_by_a_tool_nests_under_the_tool(agent, fake_openai, mode):
    from langchain_core.tools import StructuredTool

    from tests.support.fake_openai import Reply, chat_completion

    fake_openai.reply(
        Reply(body=chat_completion(tool_call=True)),  # supervisor: ask the researcher
        _answer("sunny, says the researcher"),  # researcher
        _answer(ANSWER),  # supervisor
    )
    researcher = named(react_agent_factory(), chat_model(fake_openai), [], name="researcher")

    def ask(city: str) -> str:
        return researcher.invoke({"messages": [("user", city)]})["messages"][-1].content

    async def aask(city: str) -> str:
        return (await researcher.ainvoke({"messages": [("user", city)]}))["messages"][-1].content

    get_weather = StructuredTool.from_function(
        func=ask, coroutine=aask, name="get_weather", description="Ask the researcher."
    )
    supervisor = named(react_agent_factory(), chat_model(fake_openai), [get_weather])

    assert ANSWER in run(supervisor, mode)

    tree = tree_of(agent, 10)
    (root,) = tree.roots()
    assert root.name == "invoke_agent weather"
    inner = tree.one("invoke_agent researcher")
    assert tree.parent(inner).name == "execute_tool get_weather"
    chats = tree.operation("chat")
    assert len(chats) == len(fake_openai.requests) == 3
    (inner_chat,) = [chat for chat in chats if inner in tree.ancestors(chat)]
    assert inner_chat.attributes[semconv.GEN_AI_AGENT_NAME] == "researcher"
    assert len({span.trace_id for span in tree.spans}) == 1


def react_agent_factory():
    from langgraph.prebuilt import create_react_agent

    return create_react_agent
