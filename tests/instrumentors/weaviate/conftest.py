"""Fixtures of the weaviate tests: skipped without the v4 client; a loopback fake of a Weaviate
server, REST and gRPC (tests/support/fake_weaviate.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("weaviate")

from tests.support.fake_weaviate import FakeWeaviate
from tests.support.loopback import loopback_fixtures

_fake_weaviate, fake_weaviate = loopback_fixtures(
    "fake_weaviate",
    FakeWeaviate,
    "A loopback Weaviate (REST and gRPC), empty, recording the REST requests it gets.",
)
