"""The starlette instrumentor's tests: skipped as a whole without Starlette or uvicorn."""

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
