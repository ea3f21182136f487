"""Fixtures of the pymilvus tests: skipped when pymilvus or Milvus Lite (``milvus-lite``, the
local-file Milvus the tests run on) is absent."""

from __future__ import annotations

import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite", reason="Milvus Lite (milvus-lite) is not installed")
