"""The openai_agents instrumentor's tests: skipped as a whole without openai-agents."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("agents")

INGEST_PATH = "/v1/traces/ingest"


@pytest.fixture(scope="session")
def _sdk_upload(_http_server) -> Iterator[object]:
    """The SDK's own trace upload, sent to the loopback HTTP server instead of OpenAI (with a
    key, so it is really sent), and flushed while that server still listens."""
    from agents.tracing import processors

    exporter = processors.default_exporter()
    exporter.endpoint = _http_server.url(INGEST_PATH)
    exporter.set_api_key("sk-test-upload")
    yield _http_server
    processors.default_processor().force_flush()


@pytest.fixture(autouse=True)
def sdk_upload(_sdk_upload) -> object:
    """The server receiving the SDK's upload, its requests cleared for the test."""
    _sdk_upload.clear()
    return _sdk_upload
