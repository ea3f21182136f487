"""CrewAI under the agent, against the loopback OpenAI: crew, task, agent and tool spans in one
tree, one model span per request (the openai instrumentor's), content only when asked."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

from crewai import LLM, Agent, Crew, Task
from crewai.tools import tool

from tests.support.agent import InProcessAgent, code, run_traced
from tests.support.fake_openai import TOOL_ARGUMENTS, FakeOpenAI, Reply, chat_completion
from tests.support.http_server import RecordingHTTPServer
from tests.support.otlp_receiver import OTLPReceiver, ReceivedSpan

MODEL = "gpt-4o-mini"
ROLE = "Weather reporter"
CREW = "weather_crew"
TASK = "report_weather"
ANSWER = "It is sunny in Paris."
QUESTION = "What is the weather in Paris?"


def tool_call_then_answer(server: FakeOpenAI) -> None:
    """The issue's scenario: a tool call first, the final answer after the tool's result."""
    server.reply(
        Reply(body=chat_completion(model=MODEL, tool_call=True)),
        Reply(body=chat_completion(model=MODEL, content=ANSWER)),
    )


def weather_crew(server: FakeOpenAI, weather: Any = None, role: str = ROLE) -> Crew:
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    llm = LLM(model=MODEL, base_url=server.base_url, api_key="k")
    reporter = Agent(
        role=role,
        goal="Report the weather",
        backstory="You know the weather.",
        llm=llm,
        tools=[tool("get_weather")(weather or get_weather)],
    )
    task = Task(name=TASK, description=QUESTION, expected_output="The weather", agent=reporter)
    return Crew(agents=[reporter], tasks=[task], name=CREW)


def by_operation(spans: list[ReceivedSpan]) -> dict[str, list[ReceivedSpan]]:
    found: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        key = span.attributes.get("gen_ai.operation.name") or span.name.split(" ")[0]
        found.setdefault(key, []).append(span)
    return found


def traced(receiver: OTLPReceiver) -> list[ReceivedSpan]:
    """The crew's six spans (crew, task, agent, tool, two model calls), not HTTP ones."""
    return receiver.wait_for_spans(
        6,
        where=lambda span: (
            "gen_ai.operation.name" in span.attributes or span.name.startswith("crewai.task")
        ),
    )


def assert_one_tree(
    spans: list[ReceivedSpan], requests: int, parent: str = ""
) -> dict[str, list[ReceivedSpan]]:
    """crew -> task -> agent -> (chat, chat, execute_tool); one trace; one chat per request; the
    crew under ``parent`` (a span id; a root by default)."""
    found = by_operation(spans)
    [crew] = found["invoke_workflow"]
    [task] = found["crewai.task"]
    [agent] = found["invoke_agent"]
    tools = found["execute_tool"]
    chats = found["chat"]
    assert len(chats) == requests == 2
    assert (crew.name, crew.kind) == (f"invoke_workflow {CREW}", "INTERNAL")
    assert crew.attributes["gen_ai.workflow.name"] == CREW
    assert (task.name, task.kind) == (f"crewai.task {TASK}", "INTERNAL")
    assert task.attributes["crewai.task.name"] == TASK
    assert (agent.name, agent.kind) == (f"invoke_agent {ROLE}", "INTERNAL")
    assert agent.attributes["gen_ai.agent.name"] == ROLE
    assert agent.attributes["gen_ai.provider.name"] == "openai"
    assert [span.name for span in tools] == ["execute_tool get_weather"]
    assert tools[0].attributes["gen_ai.tool.call.id"] == "call_1"  # the model's id for the call
    assert task.parent_span_id == crew.span_id
    assert agent.parent_span_id == task.span_id
    assert tools[0].parent_span_id == agent.span_id
    for chat in chats:
        assert chat.scope == "llmtrace_agent.openai"
        assert (chat.name, chat.kind) == (f"chat {MODEL}", "CLIENT")
        assert chat.parent_span_id == agent.span_id
        assert chat.attributes["gen_ai.agent.name"] == ROLE
        assert chat.attributes["gen_ai.usage.input_tokens"] == 12
    assert crew.parent_span_id == parent
    assert len({span.trace_id for span in [crew, task, agent, *tools, *chats]}) == 1
    return found


def in_process(agent: InProcessAgent) -> list[ReceivedSpan]:
    agent.flush()
    return traced(agent.receiver)


def test_crew_task_agent_tool_and_model_spans_form_one_tree(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    tool_call_then_answer(fake_openai)

    result = weather_crew(fake_openai).kickoff()

    assert result.raw == ANSWER
    assert_one_tree(in_process(agent), len(fake_openai.requests))


def test_an_agent_role_from_folded_yaml_names_spans_without_its_newline(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    """CrewAI's project template writes ``role: >`` in agents.yaml: the role ends with a newline,
    which names neither the agent span nor the model spans' agent."""
    tool_call_then_answer(fake_openai)

    weather_crew(fake_openai, role=f"{ROLE}\n").kickoff()

    assert_one_tree(in_process(agent), len(fake_openai.requests))


def test_content_is_off_by_default(agent: InProcessAgent, fake_openai: FakeOpenAI) -> None:
    tool_call_then_answer(fake_openai)

    weather_crew(fake_openai).kickoff()

    for span in in_process(agent):
        assert "gen_ai.tool.call.arguments" not in span.attributes
        assert "gen_ai.tool.call.result" not in span.attributes
        texts = " ".join(str(value) for value in span.attributes.values())
        assert QUESTION not in texts
        assert "sunny" not in texts


def test_native_async_kickoff_keeps_the_tree(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    tool_call_then_answer(fake_openai)

    result = asyncio.run(weather_crew(fake_openai).akickoff())

    assert result.raw == ANSWER
    assert_one_tree(in_process(agent), len(fake_openai.requests))


def test_kickoff_async_is_one_crew_span(agent: InProcessAgent, fake_openai: FakeOpenAI) -> None:
    tool_call_then_answer(fake_openai)

    result = asyncio.run(weather_crew(fake_openai).kickoff_async())

    assert result.raw == ANSWER
    assert_one_tree(in_process(agent), len(fake_openai.requests))


def test_a_tool_raising_marks_its_span_and_the_crew_goes_on(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    tool_call_then_answer(fake_openai)

    def get_weather(city: str) -> str:
        """The weather in a city."""
        raise LookupError("no weather station")

    result = weather_crew(fake_openai, get_weather).kickoff()

    assert result.raw == ANSWER  # CrewAI gives the model the error; the model answers
    found = by_operation(in_process(agent))
    [failed] = found["execute_tool"]
    assert failed.status_code == "ERROR"
    assert failed.attributes["error.type"] == "LookupError"
    assert len(found["chat"]) == len(fake_openai.requests) == 2
    assert "no weather station" in json.dumps(fake_openai.requests[1].body["messages"])


APP = """
    from crewai import LLM, Agent, Crew, Task
    from crewai.tools import tool

    @tool("get_weather")
    def get_weather(city: str) -> str:
        \"\"\"The weather in a city.\"\"\"
        return "sunny in " + city

    llm = LLM(model={model!r}, base_url={base_url!r}, api_key="k")
    reporter = Agent(
        role={role!r}, goal="Report the weather", backstory="You know the weather.",
        llm=llm, tools=[get_weather],
    )
    task = Task(name={task!r}, description={question!r}, expected_output="The weather",
                agent=reporter)
    print(Crew(agents=[reporter], tasks=[task], name={crew!r}).kickoff().raw)
    """

# CrewAI's telemetry exporter sends to its vendor; the app points it at a loopback server.
TELEMETRY_TO_LOOPBACK = """
    from crewai.telemetry.telemetry import Telemetry
    telemetry = Telemetry()
    exporters = [getattr(telemetry, "_exporter", None)] + [
        getattr(getattr(processor, "_batch_processor", None), "_exporter", None)
        for processor in telemetry.provider._active_span_processor._span_processors
    ]
    for exporter in filter(None, exporters):
        exporter._endpoint = {endpoint!r}
        getattr(exporter, "_client", exporter)._endpoint = {endpoint!r}
    """


def run_app(
    receiver: OTLPReceiver,
    server: FakeOpenAI,
    env: dict[str, str] | None = None,
    prelude: str = "",
) -> list[ReceivedSpan]:
    tool_call_then_answer(server)
    app = APP.format(
        model=MODEL, base_url=server.base_url, role=ROLE, task=TASK, question=QUESTION, crew=CREW
    )
    settings = {"CREWAI_DISABLE_TELEMETRY": "true", "CREWAI_TRACING_ENABLED": "false"}
    result = run_traced(code(prelude, app), receiver, env={**settings, **(env or {})})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(ANSWER)
    assert "Failed to detach context" not in result.stderr
    return traced(receiver)


def test_under_llmtrace_run_with_content_on(
    receiver: OTLPReceiver, fake_openai: FakeOpenAI
) -> None:
    spans = run_app(receiver, fake_openai, {"LLMTRACE_CAPTURE_CONTENT": "true"})

    found = assert_one_tree(receiver.spans, len(fake_openai.requests))
    [tool_span] = found["execute_tool"]
    assert json.loads(tool_span.attributes["gen_ai.tool.call.arguments"]) == json.loads(
        TOOL_ARGUMENTS
    )
    assert tool_span.attributes["gen_ai.tool.call.result"] == "sunny in Paris"
    assert QUESTION in found["chat"][0].attributes["gen_ai.input.messages"]
    assert len(spans) == 6


def test_crewai_telemetry_stays_out_of_the_trace_and_keeps_working(
    receiver: OTLPReceiver, fake_openai: FakeOpenAI, http_server: RecordingHTTPServer
) -> None:
    prelude = TELEMETRY_TO_LOOPBACK.format(endpoint=http_server.url("/v1/traces"))

    run_app(receiver, fake_openai, {"CREWAI_DISABLE_TELEMETRY": "false"}, prelude)

    assert any(request.path == "/v1/traces" for request in http_server.requests)  # still sent
    assert_one_tree(receiver.spans, len(fake_openai.requests))
    port = urlsplit(http_server.origin).port
    assert not any(span.attributes.get("server.port") == port for span in receiver.spans)
    assert not any(span.scope.startswith("crewai") for span in receiver.spans)


def test_a_provider_we_do_not_trace_gets_a_crewai_model_span(
    receiver: OTLPReceiver, fake_openai: FakeOpenAI
) -> None:
    run_app(receiver, fake_openai, {"LLMTRACE_DISABLED_INSTRUMENTORS": "openai"})

    found = by_operation(receiver.spans)
    [agent] = found["invoke_agent"]
    chats = found["chat"]
    assert len(chats) == len(fake_openai.requests) == 2
    for chat in chats:
        assert chat.scope == "llmtrace_agent.crewai"
        assert (chat.name, chat.kind) == (f"chat {MODEL}", "CLIENT")
        assert chat.parent_span_id == agent.span_id
        assert chat.attributes["gen_ai.provider.name"] == "openai"
        assert chat.attributes["gen_ai.agent.name"] == ROLE
