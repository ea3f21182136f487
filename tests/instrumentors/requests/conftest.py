"""The requests instrumentor's tests: skipped as a whole when requests is not installed."""

import pytest

pytest.importorskip("requests")
