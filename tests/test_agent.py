"""llmtrace_agent.start / flush / status from inside a program, without the launcher."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.agent import clean_env
from tests.support.otlp_receiver import OTLPReceiver


def run_python(source: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Plain ``python -c source``: no launcher, so no agent unless the program starts it."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_start_traces_a_program_run_without_the_launcher(receiver: OTLPReceiver) -> None:
    result = run_python(f"""
        import llmtrace_agent
        print(llmtrace_agent.start(exporters=["otlp"], otlp_endpoint="{receiver.endpoint}"))
        print(llmtrace_agent.start())
        from opentelemetry import trace
        with trace.get_tracer("app").start_as_current_span("work"):
            pass
    """)
    assert result.stdout == "True\nFalse\n", result.stderr
    assert receiver.span("work").resource["telemetry.distro.name"] == "llmtrace-agent"


def test_start_patches_a_library_imported_before_it(
    receiver: OTLPReceiver, example_plugin_dir: Path
) -> None:
    result = run_python(
        f"""
        import example_target
        import llmtrace_agent
        llmtrace_agent.start(exporters="otlp", otlp_endpoint="{receiver.endpoint}")
        example_target.greet("late")
        """,
        env={"PYTHONPATH": str(example_plugin_dir)},
    )
    assert result.returncode == 0, result.stderr
    assert receiver.span("greet").attributes == {"example.name": "late"}


def test_program_without_start_is_not_traced() -> None:
    result = run_python("""
        import llmtrace_agent
        from opentelemetry import trace
        print(llmtrace_agent.status(), type(trace.get_tracer_provider()).__name__)
    """)
    assert result.stdout == "agent not started ProxyTracerProvider\n"


def test_flush_exports_the_spans_recorded_so_far(receiver: OTLPReceiver) -> None:
    program = f"""
        import sys, llmtrace_agent
        llmtrace_agent.start(
            exporters=["otlp"], otlp_endpoint="{receiver.endpoint}", bsp_schedule_delay_ms=60000
        )
        from opentelemetry import trace
        with trace.get_tracer("app").start_as_current_span("before-flush"):
            pass
        print(llmtrace_agent.flush(), flush=True)
        sys.stdin.read()  # stay alive until the test has looked at the receiver
    """
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(program)],
        env=clean_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        assert process.stdout.readline() == "True\n"
        assert [span.name for span in receiver.spans] == ["before-flush"]
    finally:
        process.stdin.close()
        process.wait(timeout=30)
