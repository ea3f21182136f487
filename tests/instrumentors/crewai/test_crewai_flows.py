"""CrewAI Flows: one ``invoke_workflow {flow}`` span per kickoff, one span per step under it, a
crew kicked off in a step under that step's span; streamed flows end with their run."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from crewai.flow.flow import Flow, listen, router, start

from tests.instrumentors.crewai.test_crewai import (
    ANSWER,
    CREW,
    assert_one_tree,
    by_operation,
    tool_call_then_answer,
    weather_crew,
)
from tests.instrumentors.crewai.test_crewai_streaming import (
    ENDINGS,
    leave_unfinished,
    streaming,
)
from tests.support.agent import InProcessAgent, code, run_traced
from tests.support.fake_openai import FakeOpenAI
from tests.support.otlp_receiver import OTLPReceiver, ReceivedSpan

STEPS = ("fetch", "route", "publish")


def weather_flow(server: FakeOpenAI, **options: Any) -> Flow:
    """fetch (kicks off the weather crew) -> route (a router) -> publish (listens to "sunny")."""

    class WeatherFlow(Flow):
        @start()
        def fetch(self) -> str:
            return weather_crew(server).kickoff().raw

        @router(fetch)
        def route(self) -> str:
            return "sunny"

        @listen("sunny")
        async def publish(self) -> str:
            return "published: " + self.state["report"]

    flow = WeatherFlow(**options)
    flow.state["report"] = ANSWER
    return flow


def flow_spans(receiver: OTLPReceiver) -> list[ReceivedSpan]:
    """The crew's six spans plus the flow's and its three steps'."""
    return receiver.wait_for_spans(
        10,
        where=lambda span: (
            "gen_ai.operation.name" in span.attributes
            or "crewai.flow.method.name" in span.attributes
            or span.name.startswith("crewai.task")
        ),
    )


def assert_flow_tree(spans: list[ReceivedSpan], requests: int, name: str = "WeatherFlow") -> None:
    """flow -> (fetch -> crew tree, route, publish); one trace; one chat per request."""
    steps = {
        span.attributes["crewai.flow.method.name"]: span
        for span in spans
        if "crewai.flow.method.name" in span.attributes
    }
    workflows = by_operation(spans)["invoke_workflow"]
    [flow] = [span for span in workflows if span.attributes["gen_ai.workflow.name"] == name]
    assert (flow.name, flow.kind) == (f"invoke_workflow {name}", "INTERNAL")
    assert flow.parent_span_id == ""
    assert "gen_ai.conversation.id" not in flow.attributes  # CrewAI's generated state id is not
    assert sorted(steps) == sorted(STEPS)
    for step_name, step in steps.items():
        assert (step.name, step.kind) == (step_name, "INTERNAL")
        assert step.parent_span_id == flow.span_id
    assert_one_tree(
        [span for span in spans if span is not flow], requests, parent=steps["fetch"].span_id
    )
    assert len({span.trace_id for span in spans}) == 1


def test_a_flow_its_steps_and_the_crew_in_a_step_form_one_tree(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    tool_call_then_answer(fake_openai)

    result = weather_flow(fake_openai).kickoff()

    assert result == "published: " + ANSWER
    assert_flow_tree(in_process_flow(agent), len(fake_openai.requests))


def in_process_flow(agent: InProcessAgent) -> list[ReceivedSpan]:
    agent.flush()
    return flow_spans(agent.receiver)


def test_kickoff_async_is_one_flow_span(agent: InProcessAgent, fake_openai: FakeOpenAI) -> None:
    tool_call_then_answer(fake_openai)

    result = asyncio.run(weather_flow(fake_openai).kickoff_async())

    assert result == "published: " + ANSWER
    assert_flow_tree(in_process_flow(agent), len(fake_openai.requests))


def test_the_flow_name_is_the_apps_and_a_pinned_state_id_the_conversation(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    tool_call_then_answer(fake_openai)

    weather_flow(fake_openai, name="weather_flow").kickoff(inputs={"id": "conversation-7"})

    spans = in_process_flow(agent)
    [flow] = [span for span in spans if span.name == "invoke_workflow weather_flow"]
    assert flow.attributes["gen_ai.workflow.name"] == "weather_flow"
    assert flow.attributes["gen_ai.conversation.id"] == "conversation-7"


def test_a_step_raising_marks_its_span_and_the_flow_span(agent: InProcessAgent) -> None:
    class FailingFlow(Flow):
        @start()
        def fetch(self) -> str:
            raise LookupError("no weather station")

    with pytest.raises(LookupError, match="no weather station"):
        FailingFlow().kickoff()

    agent.flush()
    spans = agent.receiver.wait_for_spans(2)
    [flow] = [span for span in spans if span.name == "invoke_workflow FailingFlow"]
    [step] = [span for span in spans if span.name == "fetch"]
    assert step.parent_span_id == flow.span_id
    for span in (flow, step):
        assert span.status_code == "ERROR"
        assert span.attributes["error.type"] == "LookupError"


# --- streamed flows ------------------------------------------------------------------------------


def streaming_flow(server: FakeOpenAI) -> Flow:
    tool_call_then_answer(server)  # the crew inside does not stream: only the flow does
    return streaming(weather_flow(server))


def test_a_streamed_flow_consumed_fully_gives_the_whole_tree(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    streaming = streaming_flow(fake_openai).kickoff()

    list(streaming)

    assert streaming.result == "published: " + ANSWER
    assert_flow_tree(in_process_flow(agent), len(fake_openai.requests))


@pytest.mark.parametrize("ending", ENDINGS)
def test_a_streamed_flow_left_unfinished_ends_its_spans_when_its_run_ends(
    agent: InProcessAgent, fake_openai: FakeOpenAI, ending: str
) -> None:
    leave_unfinished(streaming_flow(fake_openai).kickoff, ending)

    assert_flow_tree(in_process_flow(agent), len(fake_openai.requests))


def test_an_async_streamed_flow_gives_the_whole_tree(
    agent: InProcessAgent, fake_openai: FakeOpenAI
) -> None:
    async def consume() -> object:
        streaming = await streaming_flow(fake_openai).kickoff_async()
        [frame async for frame in streaming]
        return streaming.result

    assert asyncio.run(consume()) == "published: " + ANSWER
    assert_flow_tree(in_process_flow(agent), len(fake_openai.requests))


# --- under llmtrace-run --------------------------------------------------------------------------

APP = """
    import asyncio
    from crewai import LLM, Agent, Crew, Task
    from crewai.flow.flow import Flow, listen, router, start
    from crewai.tools import tool

    @tool("get_weather")
    def get_weather(city: str) -> str:
        \"\"\"The weather in a city.\"\"\"
        return "sunny in " + city

    def crew():
        reporter = Agent(
            role="Weather reporter", goal="Report the weather", backstory="You know the weather.",
            llm=LLM(model="gpt-4o-mini", base_url={base_url!r}, api_key="k"), tools=[get_weather],
        )
        task = Task(name="report_weather", description="What is the weather in Paris?",
                    expected_output="The weather", agent=reporter)
        return Crew(agents=[reporter], tasks=[task], name={crew!r})

    class WeatherFlow(Flow):
        @start()
        async def fetch(self):
            return (await crew().akickoff()).raw

        @router(fetch)
        def route(self):
            return "sunny"

        @listen("sunny")
        def publish(self):
            return "published"

    flow = WeatherFlow()
    """

RUNS = {
    "async": "print(asyncio.run(flow.kickoff_async()))",
    "streamed": "flow.stream = True\nstreaming = flow.kickoff()\n"
    "list(streaming)\nprint(streaming.result)",
}


@pytest.mark.parametrize("run", RUNS)
def test_a_flow_under_llmtrace_run_is_one_trace_without_context_errors(
    receiver: OTLPReceiver, fake_openai: FakeOpenAI, run: str
) -> None:
    tool_call_then_answer(fake_openai)
    app = APP.format(base_url=fake_openai.base_url, crew=CREW)
    settings = {"CREWAI_DISABLE_TELEMETRY": "true", "CREWAI_TRACING_ENABLED": "false"}

    result = run_traced(code(app, RUNS[run]), receiver, env=settings)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("published")
    assert "Failed to detach context" not in result.stderr
    spans = flow_spans(receiver)
    assert_flow_tree(spans, len(fake_openai.requests))
    assert len(spans) == 6 + 4
