"""Fixtures of the ollama tests: skipped when the SDK is absent; a loopback fake of its API."""

import pytest

pytest.importorskip("ollama")

from tests.support.fake_ollama import FakeOllama
from tests.support.loopback import loopback_fixtures

_fake_ollama, fake_ollama = loopback_fixtures(
    "fake_ollama",
    FakeOllama,
    "A loopback Ollama API (JSON and NDJSON) with no queued replies or requests.",
)
