"""Fixtures of the mistralai tests: skipped when the SDK is absent; a loopback fake of its API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("mistralai")

from tests.support.fake_mistral import FakeMistral


@pytest.fixture(scope="session")
def _fake_mistral() -> Iterator[FakeMistral]:
    server = FakeMistral()
    yield server
    server.close()


@pytest.fixture
def fake_mistral(_fake_mistral: FakeMistral) -> FakeMistral:
    """A loopback Mistral API recording the requests it gets; empty at the start."""
    _fake_mistral.clear()
    return _fake_mistral
