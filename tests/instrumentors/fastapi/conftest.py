"""The fastapi instrumentor's tests: skipped as a whole without FastAPI or uvicorn."""

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
