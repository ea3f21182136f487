import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")
