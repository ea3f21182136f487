"""The asgi instrumentor's tests (servers under llmtrace-run): skipped without uvicorn/FastAPI."""

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")
