"""The langchain instrumentor's tests: skipped as a whole without langchain-core and LangGraph."""

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langgraph")
pytest.importorskip("langchain_openai")
