"""The llama_index instrumentor's tests: skipped as a whole without llama-index-core and its
OpenAI integrations (they need openai<3: an extra run of the SDK matrix, tests/matrix.toml)."""

import pytest

pytest.importorskip("llama_index.core")
pytest.importorskip("llama_index.llms.openai")
pytest.importorskip("llama_index.embeddings.openai")
