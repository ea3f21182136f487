"""google-genai with content capture on: messages in the GenAI message format (roles, parts,
tool calls, thoughts), media as placeholders, texts clipped."""

from __future__ import annotations

import base64
import json
from typing import Any

from google.genai import types

from tests.instrumentors.google_genai.test_generate_content import MODEL, client, genai_span
from tests.support import fake_gemini as fake
from tests.support.agent import InProcessAgent
from tests.support.fake_gemini import FakeGemini
from tests.support.otlp_receiver import ReceivedSpan


def content(span: ReceivedSpan, key: str) -> Any:
    return json.loads(span.attributes[key])


def generate(
    agent: InProcessAgent, server: FakeGemini, scenario: str = "text", **kwargs: Any
) -> ReceivedSpan:
    with agent.configured(capture_content=True):
        client(server, scenario).models.generate_content(model=MODEL, **kwargs)
    return genai_span(agent)


def test_a_string_prompt_is_one_user_message_and_the_answer_an_assistant_message(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    span = generate(agent, fake_gemini, contents="What is the weather in Paris?")
    assert content(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": "What is the weather in Paris?"}]}
    ]
    assert content(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": fake.TEXT}],
            "finish_reason": "stop",
        }
    ]


def test_a_conversation_keeps_its_roles_and_tool_results_are_tool_messages(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    contents = [
        types.Content(role="user", parts=[types.Part.from_text(text="Weather in Paris?")]),
        types.Content(
            role="model",
            parts=[types.Part.from_function_call(name=fake.TOOL_NAME, args=fake.TOOL_ARGS)],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(
                    name=fake.TOOL_NAME, response={"forecast": "sunny"}
                )
            ],
        ),
    ]
    span = generate(agent, fake_gemini, contents=contents)
    messages = content(span, "gen_ai.input.messages")
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[1]["parts"][0]["type"] == "tool_call"
    assert messages[1]["parts"][0]["name"] == fake.TOOL_NAME
    assert messages[1]["parts"][0]["arguments"] == fake.TOOL_ARGS
    assert messages[2]["parts"][0]["type"] == "tool_call_response"
    assert messages[2]["parts"][0]["response"] == {"forecast": "sunny"}


def test_system_instruction_and_tools_are_recorded(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    declaration = types.FunctionDeclaration(
        name=fake.TOOL_NAME,
        description="Today's weather in a city.",
        parameters=types.Schema(type="OBJECT", properties={"city": types.Schema(type="STRING")}),
    )
    config = types.GenerateContentConfig(
        system_instruction="Answer briefly.",
        tools=[
            types.Tool(function_declarations=[declaration]),
            types.Tool(google_search=types.GoogleSearch()),
        ],
    )
    span = generate(agent, fake_gemini, contents="Hi", config=config)
    assert content(span, "gen_ai.system_instructions") == [
        {"type": "text", "content": "Answer briefly."}
    ]
    assert content(span, "gen_ai.tool.definitions") == [
        {"type": "function", "name": fake.TOOL_NAME, "description": "Today's weather in a city."},
        {"type": "google_search"},
    ]


def test_a_function_call_answer_is_a_tool_call_part(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    span = generate(agent, fake_gemini, "tool_call", contents="Weather in Paris?")
    (output,) = content(span, "gen_ai.output.messages")
    assert output["parts"] == [
        {"type": "text", "content": "Let me check the weather."},
        {
            "type": "tool_call",
            "id": fake.TOOL_CALL_ID,
            "name": fake.TOOL_NAME,
            "arguments": fake.TOOL_ARGS,
        },
    ]


def test_thoughts_are_reasoning_parts(agent: InProcessAgent, fake_gemini: FakeGemini) -> None:
    span = generate(agent, fake_gemini, "thinking", contents="Hi")
    (output,) = content(span, "gen_ai.output.messages")
    assert output["parts"] == [
        {"type": "reasoning", "content": fake.THOUGHT},
        {"type": "text", "content": fake.TEXT},
    ]


def test_images_in_and_out_are_placeholders_without_their_bytes(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    image = b"\x89PNG\r\n\x1a\nuser-image-bytes-" + b"x" * 64
    contents = [types.Part.from_bytes(data=image, mime_type="image/png"), "What is this?"]
    span = generate(agent, fake_gemini, "image", contents=contents)
    (message,) = content(span, "gen_ai.input.messages")
    assert message["role"] == "user"
    assert message["parts"][0] == {
        "type": "blob",
        "modality": "image",
        "mime_type": "image/png",
        "content": f"<image/png, {len(image)} bytes>",
    }
    assert message["parts"][1] == {"type": "text", "content": "What is this?"}
    (output,) = content(span, "gen_ai.output.messages")
    assert output["parts"][1]["type"] == "blob"
    exported = agent.receiver.all_bytes()
    for data in (image, fake.IMAGE_BYTES):
        assert base64.b64encode(data) not in exported
        assert data not in exported


def test_long_texts_are_clipped_to_the_configured_length(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    with agent.configured(capture_content=True, content_max_length=10):
        client(fake_gemini).models.generate_content(model=MODEL, contents="x" * 100)
    span = genai_span(agent)
    (message,) = content(span, "gen_ai.input.messages")
    assert message["parts"][0]["content"] == "x" * 10 + "…[truncated]"
    (output,) = content(span, "gen_ai.output.messages")
    assert output["parts"][0]["content"] == fake.TEXT[:10] + "…[truncated]"
