"""google-genai tests: skipped cleanly without the SDK; a loopback fake of the Gemini API."""

from __future__ import annotations

import pytest

pytest.importorskip("google.genai")

from tests.support.fake_gemini import FakeGemini
from tests.support.loopback import loopback_fixtures

_fake_gemini, fake_gemini = loopback_fixtures(
    "fake_gemini",
    FakeGemini,
    "A loopback Gemini API (JSON and SSE) recording the requests it gets; empty at the start.",
)
