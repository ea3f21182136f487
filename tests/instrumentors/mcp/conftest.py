"""The mcp instrumentor's tests: skipped as a whole when the mcp SDK is not installed."""

import pytest

pytest.importorskip("mcp")
