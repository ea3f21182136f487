"""Fixtures every test can use: a real OTLP receiver and the agent started in this process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import llmtrace_agent
from tests.support.agent import InProcessAgent
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_openai import FakeOpenAI
from tests.support.http_server import RecordingHTTPServer
from tests.support.loopback import loopback_fixtures
from tests.support.otlp_receiver import OTLPReceiver
from tests.support.plugins import install_example_plugin


@pytest.fixture(scope="session")
def session_receiver() -> Iterator[OTLPReceiver]:
    receiver = OTLPReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="session")
def _agent(session_receiver: OTLPReceiver) -> Iterator[InProcessAgent]:
    agent = InProcessAgent(session_receiver)
    yield agent
    llmtrace_agent.shutdown(5.0)  # while the receiver still listens: a quick exit


@pytest.fixture
def agent(_agent: InProcessAgent) -> InProcessAgent:
    """The in-process agent, with an empty receiver at the start of the test."""
    _agent.flush()
    _agent.receiver.clear()
    return _agent


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    """A fresh receiver of this test's own, for subprocess tests."""
    receiver = OTLPReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="session")
def example_plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/plugin_package installed with pip into a directory to put on PYTHONPATH."""
    return install_example_plugin(tmp_path_factory.mktemp("example-plugin") / "site")


_http_server, http_server = loopback_fixtures(
    "http_server",
    RecordingHTTPServer,
    "A loopback HTTP server recording the requests (and headers) it gets; empty at the start.",
)


_fake_anthropic, fake_anthropic = loopback_fixtures(
    "fake_anthropic",
    FakeAnthropic,
    "A loopback Anthropic Messages API recording the requests it gets; empty at the start.",
)


_fake_openai, fake_openai = loopback_fixtures(
    "fake_openai",
    FakeOpenAI,
    "A loopback OpenAI-compatible server (JSON and SSE) with no queued replies or requests.",
)
