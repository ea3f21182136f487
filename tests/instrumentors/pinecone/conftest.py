"""Fixtures of the pinecone tests: skipped without the SDK; a loopback fake of an index's
data-plane API (tests/support/fake_pinecone.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("pinecone")

from tests.support.fake_pinecone import FakePinecone
from tests.support.loopback import loopback_fixtures

_fake_pinecone, fake_pinecone = loopback_fixtures(
    "fake_pinecone",
    FakePinecone,
    "A loopback Pinecone index data plane, empty, recording the requests it gets.",
)
