"""The httpx2 instrumentor's tests: skipped as a whole when httpx2 is not installed."""

import pytest

pytest.importorskip("httpx2")
