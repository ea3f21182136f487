"""The Bedrock tests drive the real boto3 client against tests/support/fake_bedrock.py, with dummy
credentials from the environment (and no AWS configuration file or metadata service)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("boto3")

from tests.support.fake_bedrock import FakeBedrock

ACCESS_KEY_ID = "AKIAFAKEBEDROCK0KEY1"
SECRET_ACCESS_KEY = "fake/Secret+Access0Key1ForBedrockTests0000"
SESSION_TOKEN = "FakeSessionToken0123456789abcdef"


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials, and nothing read from the machine's AWS set-up."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="session")
def _fake_bedrock() -> Iterator[FakeBedrock]:
    server = FakeBedrock()
    yield server
    server.close()


@pytest.fixture
def fake_bedrock(_fake_bedrock: FakeBedrock) -> FakeBedrock:
    """A loopback Bedrock Runtime API recording the requests it gets; empty at the start."""
    _fake_bedrock.clear()
    return _fake_bedrock
