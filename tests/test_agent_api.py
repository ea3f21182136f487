"""start(), flush() and shutdown(): the agent driven from a program, without the launcher."""

from __future__ import annotations

import subprocess
import sys
import time

import llmtrace_agent
from llmtrace_agent._runtime import agent_state
from tests.support.agent import InProcessAgent, clean_env, code
from tests.support.http_server import RecordingHTTPServer
from tests.support.otlp_receiver import OTLPReceiver


def run_python(source: str, receiver: OTLPReceiver, **env: str) -> subprocess.CompletedProcess[str]:
    """Plain ``python -c source`` (no launcher, no bootstrap) exporting to ``receiver``."""
    return subprocess.run(
        [sys.executable, *code(source)],
        env=clean_env({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, **env}),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_start_again_does_nothing_and_keeps_the_first_configuration(
    agent: InProcessAgent,
) -> None:
    before = agent_state.config
    assert llmtrace_agent.start(capture_content=True) is False
    assert agent_state.config is before
    assert before.capture_content is False


def test_start_without_the_launcher_traces_the_program(
    receiver: OTLPReceiver, http_server: RecordingHTTPServer
) -> None:
    source = f"""
        import llmtrace_agent
        print(llmtrace_agent.start(), llmtrace_agent.start())
        import requests
        from llmtrace_agent import observe

        @observe
        def handler():
            requests.get("{http_server.url("/")}")

        handler()
    """
    result = run_python(source, receiver, OTEL_BSP_SCHEDULE_DELAY="100")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "True False\n"
    request, handler = receiver.span("GET"), receiver.span("handler")
    assert request.parent_span_id == handler.span_id


FLUSH_APP = """
    import sys
    import llmtrace_agent
    llmtrace_agent.start()
    from opentelemetry import trace

    with trace.get_tracer("app").start_as_current_span("unflushed"):
        pass
    print("span made", flush=True)
    sys.stdin.readline()
    assert llmtrace_agent.flush(5.0)
    print("flushed", flush=True)
    sys.stdin.readline()
"""


def test_flush_exports_finished_spans_at_once(receiver: OTLPReceiver) -> None:
    process = subprocess.Popen(
        [sys.executable, *code(FLUSH_APP)],
        env=clean_env(
            {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "60000"}
        ),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline() == "span made\n"  # type: ignore[union-attr]
        time.sleep(0.5)
        assert receiver.spans == []  # the batch would wait a minute
        process.stdin.write("\n")  # type: ignore[union-attr]
        process.stdin.flush()  # type: ignore[union-attr]
        assert process.stdout.readline() == "flushed\n"  # type: ignore[union-attr]
        assert [span.name for span in receiver.wait_for_spans(1, timeout=0.5)] == ["unflushed"]
    finally:
        process.communicate("\n", timeout=30)
    assert process.returncode == 0


def test_after_shutdown_nothing_more_is_exported(receiver: OTLPReceiver) -> None:
    source = """
        import llmtrace_agent
        llmtrace_agent.start()
        from opentelemetry import trace

        tracer = trace.get_tracer("app")
        with tracer.start_as_current_span("before-shutdown"):
            pass
        print(llmtrace_agent.shutdown(5.0), llmtrace_agent.shutdown(5.0))
        with tracer.start_as_current_span("after-shutdown"):
            pass
        print(llmtrace_agent.flush(5.0))
    """
    result = run_python(source, receiver)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "True True\nTrue\n"
    assert [span.name for span in receiver.wait_for_spans(2, timeout=1.0)] == ["before-shutdown"]


def test_flush_and_shutdown_before_start_do_nothing(receiver: OTLPReceiver) -> None:
    source = """
        import sys, llmtrace_agent
        print(llmtrace_agent.flush(), llmtrace_agent.shutdown(), llmtrace_agent.status())
        print("opentelemetry.sdk" in sys.modules)
    """
    result = run_python(source, receiver)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "True True agent not started\nFalse\n"
    assert receiver.spans == []
