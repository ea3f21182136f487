"""Fixtures of the chromadb tests: skipped when chromadb is absent; Chroma's own telemetry off
(no network)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
pytest.importorskip("chromadb")
