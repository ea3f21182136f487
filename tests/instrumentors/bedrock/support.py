"""Helpers the Bedrock tests share: clients pointed at the fake, span lookups."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.config import Config

from tests.support import fake_bedrock as fake
from tests.support.agent import InProcessAgent
from tests.support.fake_bedrock import FakeBedrock
from tests.support.otlp_receiver import ReceivedSpan

CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"
PROMPT = "What is the weather in Paris today?"
MESSAGES = [{"role": "user", "content": [{"text": PROMPT}]}]
GENAI_OPERATIONS = ("chat", "text_completion", "embeddings")


def client(server: FakeBedrock, scenario: str = "text", attempts: int = 1) -> Any:
    """A real ``bedrock-runtime`` client sending to ``server``; ``scenario`` chooses the reply."""
    bedrock = boto3.client(
        "bedrock-runtime",
        endpoint_url=server.base_url,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}),
    )
    if scenario != "text":

        def add_scenario(request: Any, **_: Any) -> None:
            request.headers[fake.SCENARIO_HEADER] = scenario

        bedrock.meta.events.register("before-sign.bedrock-runtime.*", add_scenario)
    return bedrock


def genai_span(agent: InProcessAgent, name: str) -> ReceivedSpan:
    """The one GenAI span this test produced (fails on a duplicate or a span ended twice)."""
    agent.spans(1, name=name)
    spans = [s for s in agent.receiver.spans if s.name.split(" ")[0] in GENAI_OPERATIONS]
    assert len(spans) == 1, [(span.name, span.scope) for span in spans]
    return spans[0]


def content(span: ReceivedSpan, key: str) -> Any:
    return json.loads(span.attributes[key])


def _service_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("bedrock-runtime")


def sdk_has(shape: str, member: str) -> bool:
    """Whether this botocore's Bedrock model has ``shape.member`` (older ones drop what they
    do not know from replies, and reject it in requests)."""
    return member in _service_model().shape_for(shape).members


def sdk_has_operation(name: str) -> bool:
    return name in _service_model().operation_names
