"""The httpx instrumentor's tests: skipped as a whole when httpx is not installed."""

import pytest

pytest.importorskip("httpx")
