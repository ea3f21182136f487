"""google-genai tests: skipped cleanly without the SDK; a loopback fake of the Gemini API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("google.genai")

from tests.support.fake_gemini import FakeGemini


@pytest.fixture(scope="session")
def _fake_gemini() -> Iterator[FakeGemini]:
    server = FakeGemini()
    yield server
    server.close()


@pytest.fixture
def fake_gemini(_fake_gemini: FakeGemini) -> FakeGemini:
    """A loopback Gemini API (JSON and SSE) recording the requests it gets; empty at the start."""
    _fake_gemini.clear()
    return _fake_gemini
