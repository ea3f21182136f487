from collections.abc import Iterator

import pytest

pytest.importorskip("ollama")

from tests.support.fake_ollama import FakeOllama


@pytest.fixture(scope="session")
def _fake_ollama() -> Iterator[FakeOllama]:
    server = FakeOllama()
    yield server
    server.close()


@pytest.fixture
def fake_ollama(_fake_ollama: FakeOllama) -> FakeOllama:
    """A loopback Ollama API (JSON and NDJSON) with no queued replies or requests."""
    _fake_ollama.clear()
    return _fake_ollama
