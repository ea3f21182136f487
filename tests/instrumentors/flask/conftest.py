"""The flask instrumentor's tests: skipped as a whole without Flask or gunicorn."""

import pytest

pytest.importorskip("flask")
pytest.importorskip("gunicorn")
