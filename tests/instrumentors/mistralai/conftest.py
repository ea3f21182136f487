"""Fixtures of the mistralai tests: skipped when the SDK is absent; a loopback fake of its API."""

from __future__ import annotations

import pytest

pytest.importorskip("mistralai")

from tests.support.fake_mistral import FakeMistral
from tests.support.loopback import loopback_fixtures

_fake_mistral, fake_mistral = loopback_fixtures(
    "fake_mistral",
    FakeMistral,
    "A loopback Mistral API recording the requests it gets; empty at the start.",
)
