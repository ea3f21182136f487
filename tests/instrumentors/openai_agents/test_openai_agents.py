"""The OpenAI Agents SDK, driven for real against the loopback FakeOpenAI (Responses and Chat
Completions models): one trace per run, workflow > agent > model call / tool / handoff /
guardrail, exactly one model span per model request, in sync, async and streamed runs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrailTripwireTriggered,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    RunConfig,
    Runner,
    function_tool,
    input_guardrail,
)

from llmtrace_agent.toolkit import semconv
from tests.instrumentors.openai_agents.conftest import INGEST_PATH
from tests.support.fake_openai import (
    API_KEY,
    Reply,
    chat_completion,
    response_object,
)

MODEL = "gpt-4o-mini"
WEATHER = "Sunny, 21 degrees in Paris."


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return WEATHER


@function_tool(name_override="get_weather")
def broken_weather(city: str) -> str:
    """A tool that fails."""
    raise ValueError(f"no station in {city}")


def responses_model(server: Any) -> OpenAIResponsesModel:
    import openai

    return OpenAIResponsesModel(
        MODEL, openai.AsyncOpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    )


def chat_model(server: Any) -> OpenAIChatCompletionsModel:
    import openai

    return OpenAIChatCompletionsModel(
        MODEL, openai.AsyncOpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    )


def weather_agent(model: Any, tool: Any = get_weather, **options: Any) -> Agent:
    return Agent(name="weather", instructions="Answer.", tools=[tool], model=model, **options)


def tool_call_then_answer(server: Any) -> None:
    """The model asks for get_weather first, answers after the tool's result."""
    server.reply(Reply(body=response_object(tool_call=True)), Reply(body=response_object()))


def run_async(coroutine: Any) -> Any:
    """Run on a loop of its own, leaving none set (older SDKs' run_sync calls
    get_event_loop, which fails once asyncio.run has set the loop to None)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:  # tasks a run left behind (a model call racing a tripped guardrail) end here
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending))
        loop.close()


def tree(agent: Any, count: int) -> dict[str, Any]:
    """The run's spans by name (names unique in these runs), all in one trace."""
    spans = agent.spans(count)
    spans = [span for span in spans if not span.name.startswith(("POST", "GET"))]
    assert len({span.trace_id for span in spans}) == 1, [(s.name, s.trace_id) for s in spans]
    return spans


def by_name(spans: list[Any], name: str) -> list[Any]:
    return [span for span in spans if span.name == name]


def model_spans(spans: list[Any]) -> list[Any]:
    return [s for s in spans if s.attributes.get(semconv.GEN_AI_OPERATION_NAME) == "chat"]


def assert_tool_run_tree(spans: list[Any], requests: int, input_tokens: int = 20) -> None:
    """workflow > agent > (chat, execute_tool, chat); one chat span per model request."""
    (workflow,) = by_name(spans, "invoke_workflow Agent workflow")
    (run,) = by_name(spans, "invoke_agent weather")
    (tool,) = by_name(spans, "execute_tool get_weather")
    chats = model_spans(spans)
    assert len(chats) == requests == 2
    assert workflow.parent_span_id == ""
    assert workflow.kind == run.kind == tool.kind == "INTERNAL"
    assert run.parent_span_id == workflow.span_id
    assert tool.parent_span_id == run.span_id
    assert all(chat.parent_span_id == run.span_id for chat in chats)
    assert all(chat.attributes[semconv.GEN_AI_AGENT_NAME] == "weather" for chat in chats)
    assert workflow.attributes[semconv.GEN_AI_OPERATION_NAME] == "invoke_workflow"
    assert workflow.attributes[semconv.GEN_AI_WORKFLOW_NAME] == "Agent workflow"
    assert run.attributes[semconv.GEN_AI_OPERATION_NAME] == "invoke_agent"
    assert run.attributes[semconv.GEN_AI_AGENT_NAME] == "weather"
    assert tool.attributes[semconv.GEN_AI_OPERATION_NAME] == "execute_tool"
    assert tool.attributes[semconv.GEN_AI_TOOL_NAME] == "get_weather"
    assert tool.attributes[semconv.GEN_AI_TOOL_TYPE] == "function"
    assert tool.attributes[semconv.GEN_AI_TOOL_CALL_ID] == "call_1"  # the model's call id
    assert tool.status_code != "ERROR"
    assert semconv.GEN_AI_CONVERSATION_ID not in workflow.attributes  # the app set none
    # content is opt-in
    assert semconv.GEN_AI_TOOL_CALL_ARGUMENTS not in tool.attributes
    assert semconv.GEN_AI_TOOL_CALL_RESULT not in tool.attributes
    # the model spans are the openai instrumentor's, with the real request's usage
    assert all(chat.scope == "llmtrace_agent.openai" for chat in chats)
    assert all(chat.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == input_tokens for chat in chats)
    # the agent and workflow spans carry no usage (no backend sums a call twice)
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in run.attributes
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in workflow.attributes


# --- the tree, sync / async / streamed ------------------------------------------------------


def test_a_sync_run_with_a_tool_is_one_tree_with_one_model_span_per_request(agent, fake_openai):
    tool_call_then_answer(fake_openai)

    result = Runner.run_sync(weather_agent(responses_model(fake_openai)), "Weather in Paris?")

    assert result.final_output == "Hello from the fake server!"
    spans = tree(agent, 5)
    assert_tool_run_tree(spans, len(fake_openai.requests))
    (run,) = by_name(spans, "invoke_agent weather")
    assert run.attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai"  # its Responses API model


def test_the_newest_conventions_leave_the_provider_off_agent_spans(agent, fake_openai):
    tool_call_then_answer(fake_openai)

    with agent.configured(genai_latest=True):
        Runner.run_sync(weather_agent(responses_model(fake_openai)), "Weather in Paris?")

    spans = tree(agent, 5)
    assert_tool_run_tree(spans, len(fake_openai.requests))
    (run,) = by_name(spans, "invoke_agent weather")
    assert semconv.GEN_AI_PROVIDER_NAME not in run.attributes


def test_an_async_run_on_chat_completions_is_the_same_tree(agent, fake_openai):
    fake_openai.reply(
        Reply(body=chat_completion(tool_call=True)), Reply(body=chat_completion(model=MODEL))
    )

    async def main() -> Any:
        return await Runner.run(weather_agent(chat_model(fake_openai)), "Weather in Paris?")

    result = run_async(main())

    assert result.final_output == "Hello from the fake server!"
    assert_tool_run_tree(tree(agent, 5), len(fake_openai.requests), input_tokens=12)


def test_a_streamed_run_consumed_to_the_end_is_the_same_tree(agent, fake_openai):
    from tests.support.fake_openai import response_events

    fake_openai.reply(
        Reply(events=response_events(tool_call=True), done=False),
        Reply(events=response_events(), done=False),
    )

    async def main() -> list[str]:
        result = Runner.run_streamed(
            weather_agent(responses_model(fake_openai)), "Weather in Paris?"
        )
        return [event.type async for event in result.stream_events()]

    events = run_async(main())

    assert "raw_response_event" in events
    spans = tree(agent, 5)
    assert_tool_run_tree(spans, len(fake_openai.requests))
    assert all(s.attributes[semconv.GEN_AI_REQUEST_STREAM] for s in model_spans(spans))


def test_runs_inside_an_app_span_nest_under_it(agent, fake_openai):
    from opentelemetry import trace

    tool_call_then_answer(fake_openai)
    with trace.get_tracer("tests.app").start_as_current_span("handle request") as app_span:
        Runner.run_sync(weather_agent(responses_model(fake_openai)), "Weather in Paris?")

    spans = tree(agent, 6)
    (workflow,) = by_name(spans, "invoke_workflow Agent workflow")
    assert workflow.parent_span_id == format(app_span.get_span_context().span_id, "016x")


def test_two_runs_in_one_app_trace_share_its_workflow_span(agent, fake_openai):
    from agents import trace as agents_trace

    fake_openai.reply(Reply(body=response_object()), Reply(body=response_object()))
    plain = Agent(name="weather", instructions="Answer.", model=responses_model(fake_openai))
    with agents_trace("Forecast", group_id="thread-42"):
        Runner.run_sync(plain, "Weather in Paris?")
        Runner.run_sync(plain, "And tomorrow?")

    spans = tree(agent, 5)
    (workflow,) = by_name(spans, "invoke_workflow Forecast")
    runs = by_name(spans, "invoke_agent weather")
    assert len(runs) == 2 and all(run.parent_span_id == workflow.span_id for run in runs)
    assert len(model_spans(spans)) == len(fake_openai.requests) == 2
    # the app's group id is the conversation, on every span that has one
    for span in [workflow, *runs, *model_spans(spans)]:
        assert span.attributes[semconv.GEN_AI_CONVERSATION_ID] == "thread-42", span.name


# --- handoffs, guardrails, tools ------------------------------------------------------------


def test_a_handoff_is_a_span_between_the_two_agents(agent, fake_openai):
    model = responses_model(fake_openai)
    billing = Agent(name="billing", instructions="Bill.", model=model)
    triage = Agent(name="triage", instructions="Route.", handoffs=[billing], model=model)
    transfer = {
        "id": "fc_handoff",
        "type": "function_call",
        "call_id": "call_handoff",
        "name": "transfer_to_billing",
        "arguments": "{}",
        "status": "completed",
    }
    fake_openai.reply(Reply(body=response_object(output=[transfer])), Reply(body=response_object()))

    result = Runner.run_sync(triage, "I need an invoice.")

    assert result.last_agent is billing
    spans = tree(agent, 6)
    (workflow,) = by_name(spans, "invoke_workflow Agent workflow")
    (first,) = by_name(spans, "invoke_agent triage")
    (second,) = by_name(spans, "invoke_agent billing")
    (handoff,) = by_name(spans, "handoff triage -> billing")
    assert first.parent_span_id == second.parent_span_id == workflow.span_id
    assert handoff.parent_span_id == first.span_id
    assert handoff.kind == "INTERNAL"
    assert handoff.attributes[semconv.OPENAI_AGENTS_HANDOFF_FROM_AGENT] == "triage"
    assert handoff.attributes[semconv.OPENAI_AGENTS_HANDOFF_TO_AGENT] == "billing"
    chats = model_spans(spans)
    assert len(chats) == len(fake_openai.requests) == 2
    assert [chat.parent_span_id for chat in chats] == [first.span_id, second.span_id]
    assert [chat.attributes[semconv.GEN_AI_AGENT_NAME] for chat in chats] == ["triage", "billing"]


@input_guardrail
def no_homework(context: Any, agent: Any, text: Any) -> GuardrailFunctionOutput:
    return GuardrailFunctionOutput(output_info=None, tripwire_triggered="homework" in str(text))


def test_a_guardrail_is_a_span_saying_whether_it_tripped(agent, fake_openai):
    fake_openai.reply(Reply(body=response_object()))
    guarded = Agent(
        name="tutor",
        instructions="Help.",
        input_guardrails=[no_homework],
        model=responses_model(fake_openai),
    )

    Runner.run_sync(guarded, "What is a prime number?")

    spans = tree(agent, 4)
    (run,) = by_name(spans, "invoke_agent tutor")
    (check,) = by_name(spans, "guardrail no_homework")
    assert check.parent_span_id == run.span_id
    assert check.kind == "INTERNAL"
    assert check.attributes[semconv.OPENAI_AGENTS_GUARDRAIL_NAME] == "no_homework"
    assert check.attributes[semconv.OPENAI_AGENTS_GUARDRAIL_TRIGGERED] is False


def test_a_tripped_guardrail_stops_the_run_with_the_sdk_exception(agent, fake_openai):
    guarded = Agent(
        name="tutor",
        instructions="Help.",
        input_guardrails=[no_homework],
        model=responses_model(fake_openai),
    )

    with pytest.raises(InputGuardrailTripwireTriggered):
        run_async(Runner.run(guarded, "Do my homework."))

    agent.flush()
    (check,) = agent.receiver.wait_for_spans(
        1, where=lambda span: span.name == "guardrail no_homework"
    )
    assert check.attributes[semconv.OPENAI_AGENTS_GUARDRAIL_TRIGGERED] is True
    (run,) = agent.receiver.wait_for_spans(1, where=lambda span: span.name == "invoke_agent tutor")
    assert check.parent_span_id == run.span_id
    # the model call racing the guardrail (older SDKs start it) is cancelled, in the same trace
    chats = model_spans(agent.receiver.spans)
    assert len(chats) <= 1 and all(chat.parent_span_id == run.span_id for chat in chats)


def test_a_tool_raising_is_an_error_span_and_the_run_goes_on(agent, fake_openai):
    tool_call_then_answer(fake_openai)

    result = Runner.run_sync(
        weather_agent(responses_model(fake_openai), tool=broken_weather), "Weather in Paris?"
    )

    assert result.final_output == "Hello from the fake server!"
    spans = tree(agent, 5)
    (tool,) = by_name(spans, "execute_tool get_weather")
    assert tool.status_code == "ERROR"
    assert tool.attributes[semconv.ERROR_TYPE] == "ValueError"
    assert any(name == "exception" for name, _ in tool.events)
    assert len(model_spans(spans)) == len(fake_openai.requests) == 2


def test_tool_arguments_and_result_are_recorded_only_with_content_capture(agent, fake_openai):
    tool_call_then_answer(fake_openai)
    with agent.configured(capture_content=True):
        Runner.run_sync(weather_agent(responses_model(fake_openai)), "Weather in Paris?")

    (tool,) = by_name(tree(agent, 5), "execute_tool get_weather")
    assert json.loads(tool.attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"city": "Paris"}
    assert tool.attributes[semconv.GEN_AI_TOOL_CALL_RESULT] == WEATHER


def test_the_sdk_without_tracing_runs_untouched_and_untraced_by_us(agent, fake_openai):
    tool_call_then_answer(fake_openai)

    result = Runner.run_sync(
        weather_agent(responses_model(fake_openai)),
        "Weather in Paris?",
        run_config=RunConfig(tracing_disabled=True),
    )

    assert result.final_output == "Hello from the fake server!"
    spans = agent.spans(2, name=f"chat {MODEL}")
    assert not [s for s in spans if s.name.startswith(("invoke_", "execute_tool"))]


# --- the SDK's own upload ---------------------------------------------------------------------


def test_the_sdk_upload_is_kept_and_is_no_http_span(agent, fake_openai, sdk_upload):
    from agents.tracing import processors

    tool_call_then_answer(fake_openai)
    Runner.run_sync(weather_agent(responses_model(fake_openai)), "Weather in Paris?")
    processors.default_processor().force_flush()

    uploads = [r for r in sdk_upload.requests if r.path == INGEST_PATH]
    assert uploads, "the SDK uploaded nothing"
    assert "traceparent" not in uploads[0].headers
    spans = tree(agent, 5)
    assert not [s for s in spans if INGEST_PATH in str(s.attributes.get("url.full", ""))]
    agent.flush()
    assert not [
        s for s in agent.receiver.spans if INGEST_PATH in str(s.attributes.get("url.full", ""))
    ]


def test_the_sdk_upload_stops_when_turned_off(agent, fake_openai, sdk_upload):
    from agents.tracing import processors

    tool_call_then_answer(fake_openai)
    with agent.configured(openai_agents_export=False):
        Runner.run_sync(weather_agent(responses_model(fake_openai)), "Weather in Paris?")
        processors.default_processor().force_flush()

    assert not [r for r in sdk_upload.requests if r.path == INGEST_PATH]
    assert_tool_run_tree(tree(agent, 5), len(fake_openai.requests))


# --- zero code change -------------------------------------------------------------------------


def test_an_unmodified_app_under_the_launcher_gives_one_whole_trace(
    receiver, fake_openai, sdk_upload
):
    from tests.support.agent import code, run_traced

    tool_call_then_answer(fake_openai)
    app = code(
        f"""
        from agents import Agent, Runner, function_tool
        from agents.tracing import processors

        processors.default_exporter().endpoint = {sdk_upload.url(INGEST_PATH)!r}  # not OpenAI


        @function_tool
        def get_weather(city: str) -> str:
            \"\"\"The weather in a city.\"\"\"
            return "Sunny."


        agent = Agent(name="weather", instructions="Answer.", tools=[get_weather], model="{MODEL}")
        print(Runner.run_sync(agent, "Weather in Paris?").final_output)
        """
    )
    env = {"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": API_KEY}

    result = run_traced(app, receiver, env=env)

    assert result.returncode == 0, result.stderr
    assert "Hello from the fake server!" in result.stdout
    assert "Failed to detach" not in result.stderr, result.stderr
    receiver.wait_for_spans(5, where=lambda span: not span.name.startswith("POST"))
    spans = [s for s in receiver.spans if not s.name.startswith("POST")]
    assert_tool_run_tree(spans, len(fake_openai.requests))
    assert len({span.trace_id for span in spans}) == 1
    # the SDK's upload reached its endpoint at exit, and is no span of the app's
    assert [r for r in sdk_upload.requests if r.path == INGEST_PATH]
    assert not [s for s in receiver.spans if INGEST_PATH in str(s.attributes.get("url.full"))]


def test_a_run_that_fails_is_an_error_on_its_agent_and_workflow_spans(agent, fake_openai):
    from agents.exceptions import MaxTurnsExceeded

    tool_call_then_answer(fake_openai)

    with pytest.raises(MaxTurnsExceeded):
        Runner.run_sync(
            weather_agent(responses_model(fake_openai)), "Weather in Paris?", max_turns=1
        )

    spans = tree(agent, 4)
    (run,) = by_name(spans, "invoke_agent weather")
    (workflow,) = by_name(spans, "invoke_workflow Agent workflow")
    for span in (run, workflow):
        assert span.status_code == "ERROR", span.name
        assert span.attributes[semconv.ERROR_TYPE] == "agents.exceptions.MaxTurnsExceeded"
    assert len(model_spans(spans)) == len(fake_openai.requests) == 1
