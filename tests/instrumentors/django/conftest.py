"""The django instrumentor's tests: skipped as a whole without Django."""

import pytest

pytest.importorskip("django")
