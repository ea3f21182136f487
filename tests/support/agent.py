"""Driving the agent from tests: in this process (fast) or under llmtrace-run (faithful)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import llmtrace_agent
from llmtrace_agent._runtime import agent_state
from tests.support.otlp_receiver import OTLPReceiver, ReceivedSpan

REPO = Path(__file__).resolve().parents[2]


class InProcessAgent:
    """The agent started once in the test process, exporting over OTLP/HTTP to ``receiver``."""

    def __init__(self, receiver: OTLPReceiver) -> None:
        self.receiver = receiver
        llmtrace_agent.start(
            exporters=["otlp"],
            otlp_endpoint=receiver.endpoint,
            otlp_protocol="http/protobuf",
            metrics_exporter="otlp",
            raise_internal_errors=True,
            bsp_schedule_delay_ms=100,
            capture_content=False,
        )
        self.base_config = agent_state.config

    def flush(self) -> None:
        assert llmtrace_agent.flush(10.0), "flush timed out"

    def spans(self, count: int = 1, timeout: float = 10.0, **filters: object) -> list[ReceivedSpan]:
        """Flush, then wait for ``count`` spans (optionally ``name=`` / ``kind=``); return them."""
        self.flush()

        def matches(span: ReceivedSpan) -> bool:
            return all(getattr(span, key) == value for key, value in filters.items())

        found = self.receiver.wait_for_spans(count, timeout, matches)
        assert len(found) >= count, f"expected {count} spans {filters}, got {self.receiver.spans}"
        return found

    @contextmanager
    def configured(self, **changes: object) -> Iterator[None]:
        """Run a block with some settings changed (e.g. ``capture_content=True``)."""
        agent_state.config = self.base_config.replace(**changes)
        try:
            yield
        finally:
            agent_state.config = self.base_config


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without agent or OpenTelemetry settings, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LLMTRACE_", "OTEL_")) and key != "PYTHONPATH"
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_traced(
    args: list[str],
    receiver: OTLPReceiver | None = None,
    env: Mapping[str, str] | None = None,
    launcher_options: list[str] | None = None,
    timeout: float = 60.0,
    cwd: str | Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``llmtrace-run [launcher_options] python *args`` and wait for it.

    With a ``receiver``, the process exports to it over OTLP/HTTP. Internal errors re-raise
    (``LLMTRACE_RAISE_INTERNAL_ERRORS``) unless ``env`` says otherwise.
    """
    settings = {"LLMTRACE_RAISE_INTERNAL_ERRORS": "true"}
    if receiver is not None:
        settings["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        settings["OTEL_BSP_SCHEDULE_DELAY"] = "100"
    settings.update(env or {})
    command = [
        sys.executable,
        "-m",
        "llmtrace_agent",
        *(launcher_options or []),
        "--",
        sys.executable,
        *args,
    ]
    return subprocess.run(
        command,
        env=clean_env(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def launcher(*options: str) -> list[str]:
    """The command line of the launcher under test: ``python -m llmtrace_agent *options``."""
    return [sys.executable, "-m", "llmtrace_agent", *options]


def run_launcher(
    args: list[str],
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    cwd: str | Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``llmtrace-run *args`` in a clean environment plus ``env``; nothing else added."""
    return subprocess.run(
        launcher(*args),
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def code(*sources: str) -> list[str]:
    """``["-c", program]``: the sources joined, each dedented (triple-quoted blocks)."""
    return ["-c", "".join(textwrap.dedent(source) for source in sources)]
