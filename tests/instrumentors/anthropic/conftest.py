"""The anthropic instrumentor's tests: skipped as a whole when anthropic is not installed."""

import pytest

pytest.importorskip("anthropic")
