"""Fixtures of the qdrant_client tests: skipped when qdrant-client is absent."""

from __future__ import annotations

import pytest

pytest.importorskip("qdrant_client")

from tests.support.fake_qdrant import FakeQdrant
from tests.support.loopback import loopback_fixtures

_fake_qdrant, fake_qdrant = loopback_fixtures(
    "fake_qdrant",
    FakeQdrant,
    "A loopback Qdrant REST API recording the requests it gets; empty at the start.",
)
