"""Fixtures of the cohere tests: skipped when the SDK is absent; a loopback fake of its v2 API."""

from __future__ import annotations

import pytest

pytest.importorskip("cohere")

from tests.support.fake_cohere import FakeCohere
from tests.support.loopback import loopback_fixtures

_fake_cohere, fake_cohere = loopback_fixtures(
    "fake_cohere",
    FakeCohere,
    "A loopback Cohere v2 API recording the requests it gets; empty at the start.",
)
