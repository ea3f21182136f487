"""httpx2 (the httpx fork openai 3.x sends with) has httpx's API and the same instrumentor, so
it runs the httpx suite as it is, with httpx2 as the module under test."""

from types import ModuleType

import pytest

from tests.instrumentors.httpx.test_httpx import *  # noqa: F403 (the very same tests)


@pytest.fixture
def httpx_module() -> ModuleType:
    import httpx2

    return httpx2
