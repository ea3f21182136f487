"""aiohttp tests: skipped cleanly without aiohttp."""

from __future__ import annotations

import pytest

pytest.importorskip("aiohttp")
