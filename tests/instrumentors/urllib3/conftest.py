"""The urllib3 instrumentor's tests: skipped as a whole when urllib3 is not installed."""

import pytest

pytest.importorskip("urllib3")
