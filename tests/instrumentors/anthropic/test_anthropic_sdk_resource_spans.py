"""The anthropic SDK's own spans of its other APIs (managed agents: environments, agents,
sessions…) reach the collector with the identifiers they record: ``anthropic.session.id`` names
a session, it is not a credential, so the scrubber keeps it (the secret formats are still
looked for in it)."""

from __future__ import annotations

import importlib.util

import anthropic
import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("anthropic.lib._tracing") is None
    or not hasattr(anthropic.Anthropic(api_key="x").beta, "sessions"),
    reason=f"anthropic {anthropic.__version__} has no managed-agents sessions traced by the SDK",
)


def test_a_session_span_keeps_the_session_and_environment_ids(agent, fake_anthropic):
    client = anthropic.Anthropic(base_url=fake_anthropic.base_url, api_key="sk-ant-fake")

    session = client.beta.sessions.create(
        environment_id="env_01Fake", agent={"type": "agent", "id": "agent_01Fake", "version": 1}
    )

    (span,) = agent.spans(1, name="anthropic.sessions.create")
    assert len(fake_anthropic.requests) == 1
    assert span.attributes["anthropic.session.id"] == session.id
    assert span.attributes["anthropic.session.environment.id"] == "env_01Fake"
    assert session.id.startswith("msg_01Fake")  # what the fake answers any POST with


def test_an_id_attribute_holding_a_key_still_loses_the_key(agent, fake_anthropic):
    client = anthropic.Anthropic(base_url=fake_anthropic.base_url, api_key="sk-ant-fake")
    leaked = "sk-ant-api03-" + "A1b2C3d4" * 6

    client.beta.sessions.create(
        environment_id=leaked, agent={"type": "agent", "id": "agent_01Fake", "version": 1}
    )

    (span,) = agent.spans(1, name="anthropic.sessions.create")
    assert span.attributes["anthropic.session.environment.id"] == "[REDACTED:anthropic-key]"
