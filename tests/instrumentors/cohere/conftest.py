"""Fixtures of the cohere tests: skipped when the SDK is absent; a loopback fake of its v2 API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("cohere")

from tests.support.fake_cohere import FakeCohere


@pytest.fixture(scope="session")
def _fake_cohere() -> Iterator[FakeCohere]:
    server = FakeCohere()
    yield server
    server.close()


@pytest.fixture
def fake_cohere(_fake_cohere: FakeCohere) -> FakeCohere:
    """A loopback Cohere v2 API recording the requests it gets; empty at the start."""
    _fake_cohere.clear()
    return _fake_cohere
