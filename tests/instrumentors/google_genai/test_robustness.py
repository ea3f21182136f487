"""google-genai with odd responses and odd arguments: the app gets what the SDK gives it, the span
skips what it cannot read (internal errors re-raise in the test suite, so any would fail here)."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from google import genai
from google.genai import types

from tests.instrumentors.google_genai.test_generate_content import MODEL, genai_span
from tests.support import fake_gemini as fake
from tests.support.agent import InProcessAgent
from tests.support.fake_gemini import FakeGemini

_clients: list[genai.Client] = []

ODD_BODIES = [
    {},
    {"candidates": []},
    {"candidates": None, "usageMetadata": None},
    {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4}},
    {"candidates": [{"content": None, "finishReason": "SAFETY"}]},
    {"candidates": [{"content": {"parts": [{}, {"unknownPart": 1}]}}]},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]}}], "extra": [1, 2]},
]


def odd_client(server: FakeGemini, body: Any) -> genai.Client:
    options = types.HttpOptions(
        base_url=server.base_url, headers={fake.BODY_HEADER: json.dumps(body)}
    )
    made = genai.Client(api_key="AIza-robustness", http_options=options)
    _clients.append(made)  # a collected client closes its HTTP client
    return made


@pytest.mark.parametrize("body", ODD_BODIES)
@pytest.mark.parametrize("capture", [False, True])
def test_odd_responses_reach_the_app_and_the_span_skips_what_is_missing(
    agent: InProcessAgent, fake_gemini: FakeGemini, body: Any, capture: bool
) -> None:
    with agent.configured(capture_content=capture):
        response = odd_client(fake_gemini, body).models.generate_content(model=MODEL, contents="x")
    span = genai_span(agent)
    assert isinstance(response, types.GenerateContentResponse)
    assert span.status_code == "UNSET"
    assert span.attributes["gen_ai.request.model"] == MODEL


@pytest.mark.parametrize("capture", [False, True])
def test_odd_stream_chunks_are_passed_through(
    agent: InProcessAgent, fake_gemini: FakeGemini, capture: bool
) -> None:
    chunks = [{}, {"candidates": [{"index": 3, "content": None}]}, {"usageMetadata": {}}]
    with agent.configured(capture_content=capture):
        stream = odd_client(fake_gemini, chunks).models.generate_content_stream(
            model=MODEL, contents="x"
        )
        received = list(stream)
    span = genai_span(agent)
    assert len(received) == len(chunks)
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)


def test_arguments_the_sdk_accepts_but_the_span_cannot_use_are_skipped(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    config = {
        "max_output_tokens": -1,
        "candidate_count": 1,
        "system_instruction": {"parts": [{"inline_data": {"mime_type": "audio/wav"}}]},
    }
    with agent.configured(capture_content=True):
        odd_client(fake_gemini, fake.response("text", MODEL, "r1")).models.generate_content(
            model=MODEL, contents=[{"role": "user", "parts": [{"text": "hi"}]}], config=config
        )
    attributes = genai_span(agent).attributes
    assert "gen_ai.request.max_tokens" not in attributes
    assert "gen_ai.request.choice.count" not in attributes  # 1 is the default: not recorded
    assert json.loads(attributes["gen_ai.system_instructions"]) == [
        {
            "type": "blob",
            "modality": "audio",
            "mime_type": "audio/wav",
            "content": "<audio/wav, data>",
        }
    ]


def test_a_config_the_sdk_rejects_raises_its_own_error(
    agent: InProcessAgent, fake_gemini: FakeGemini
) -> None:
    with pytest.raises(pydantic.ValidationError):
        odd_client(fake_gemini, {}).models.generate_content(
            model=MODEL, contents="x", config={"temperature": "hot"}
        )
    assert fake_gemini.requests == []
