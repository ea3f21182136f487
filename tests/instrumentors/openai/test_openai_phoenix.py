"""End to end against a real backend: an app under ``llmtrace-run`` exports its OpenAI calls
over OTLP/HTTP to Arize Phoenix (``phoenix serve`` on loopback), whose REST API then shows them
as LLM spans with their token counts.

Phoenix lives in its own venv (``scripts/setup-phoenix`` builds .venvs/phoenix). Without it the
test is skipped, except under CI (``CI=true``), where that is a failure. Deselect it locally
with ``-m "not phoenix"``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.agent import REPO, clean_env, run_traced
from tests.support.fake_openai import API_KEY

PHOENIX = REPO / ".venvs" / "phoenix" / "bin" / "phoenix"
STARTUP_TIMEOUT = 180.0

APP = f"""
import os, openai
client = openai.OpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="{API_KEY}", max_retries=0)
client.chat.completions.create(model="gpt-4o-mini", messages=[{{"role": "user", "content": "hi"}}])
stream = client.chat.completions.create(
    model="gpt-4o-mini", messages=[{{"role": "user", "content": "hi"}}], stream=True,
    stream_options={{"include_usage": True}})
for _ in stream:
    pass
client.responses.create(model="gpt-4o-mini", input="hi")
"""

pytestmark = pytest.mark.phoenix


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Phoenix server on free loopback ports, with its own working directory; its base URL."""
    if not PHOENIX.exists():
        message = f"Arize Phoenix is not installed at {PHOENIX}: run scripts/setup-phoenix"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    working_dir = tmp_path_factory.mktemp("phoenix")
    log_path = working_dir / "phoenix.log"
    env = clean_env(
        {
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(port),
            "PHOENIX_GRPC_PORT": str(free_port()),
            "PHOENIX_WORKING_DIR": str(working_dir),
            "PHOENIX_TELEMETRY_ENABLED": "false",
        }
    )
    with log_path.open("wb") as log:
        server = subprocess.Popen([str(PHOENIX), "serve"], env=env, stdout=log, stderr=log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base_url, server, log_path)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_until_healthy(base_url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"phoenix serve exited with {server.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"phoenix serve not healthy after {STARTUP_TIMEOUT}s:\n{log_path.read_text()}")


def llm_spans_in_phoenix(base_url: str, count: int, timeout: float = 30.0) -> list[dict]:
    """Poll Phoenix's REST API until ``count`` LLM spans are in the default project."""
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        try:
            body = get_json(f"{base_url}/v1/projects/default/spans?limit=100")
        except urllib.error.HTTPError as error:  # 404 until the project has its first span
            if error.code != 404:
                raise
        else:
            found = [span for span in body["data"] if span["span_kind"] == "LLM"]  # type: ignore[index]
            if len(found) >= count:
                return found
        time.sleep(0.5)
    return found


def test_phoenix_shows_the_openai_calls_as_llm_spans_with_token_counts(
    phoenix, fake_openai, tmp_path
):
    app = tmp_path / "app.py"
    app.write_text(APP)

    run = run_traced(
        [str(app)],
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": phoenix,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_METRICS_EXPORTER": "none",  # Phoenix takes traces only
            "FAKE_OPENAI_URL": fake_openai.base_url,
        },
    )
    assert run.returncode == 0, run.stderr

    spans = llm_spans_in_phoenix(phoenix, 3)
    assert len(spans) == 3, spans
    assert {span["name"] for span in spans} == {"chat gpt-4o-mini"}
    tokens = sorted(
        (
            span["attributes"].get("llm.token_count.prompt"),
            span["attributes"].get("llm.token_count.completion"),
        )
        for span in spans
    )
    assert tokens == [(12, 5), (12, 5), (20, 7)]
    assert all(span["attributes"].get("llm.model_name") == "gpt-4o-mini" for span in spans)
