"""Fixtures of the qdrant_client tests: skipped when qdrant-client is absent."""

from __future__ import annotations

import pytest

pytest.importorskip("qdrant_client")
