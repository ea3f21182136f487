"""The openai instrumentor's tests: skipped as a whole when openai is not installed."""

import pytest

pytest.importorskip("openai")
