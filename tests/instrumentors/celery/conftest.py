"""The celery instrumentor's tests run only where Celery is installed."""

import pytest

pytest.importorskip("celery")
