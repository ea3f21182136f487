import pytest

pytest.importorskip("groq")
