"""The celery instrumentor's tests: skipped as a whole when celery (or openai, which the test
tasks call) is not installed."""

import pytest

pytest.importorskip("celery")
pytest.importorskip("openai")
