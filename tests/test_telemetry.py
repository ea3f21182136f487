"""Telemetry set-up in a traced process: resource, OTLP endpoints, headers and protocols,
sampling, export at exit, and a shutdown that a dead or hanging collector cannot hold."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmtrace_agent._version import __version__
from tests.support.agent import code, run_traced
from tests.support.http_server import refused_url
from tests.support.otlp_receiver import OTLPReceiver
from tests.support.silent_collector import SilentCollector

ONE_SPAN = """
    from opentelemetry import trace
    with trace.get_tracer("app").start_as_current_span("work"):
        pass
"""


@pytest.fixture
def silent_collector() -> Iterator[SilentCollector]:
    collector = SilentCollector()
    yield collector
    collector.close()


# --- resource -------------------------------------------------------------------------------------


def test_resource_names_the_agent(receiver: OTLPReceiver) -> None:
    run_traced(code(ONE_SPAN), receiver)
    resource = receiver.span("work").resource
    assert resource["telemetry.distro.name"] == "llmtrace-agent"
    assert resource["telemetry.distro.version"] == __version__


def test_otel_service_name_is_the_service_name(receiver: OTLPReceiver) -> None:
    run_traced(code(ONE_SPAN), receiver, env={"OTEL_SERVICE_NAME": "checkout"})
    assert receiver.span("work").resource["service.name"] == "checkout"


def test_otel_resource_attributes_are_in_the_resource(receiver: OTLPReceiver) -> None:
    env = {"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test,team=ml"}
    run_traced(code(ONE_SPAN), receiver, env=env)
    resource = receiver.span("work").resource
    assert (resource["deployment.environment.name"], resource["team"]) == ("test", "ml")


def test_service_name_option_is_the_service_name(receiver: OTLPReceiver) -> None:
    run_traced(code(ONE_SPAN), receiver, launcher_options=["--service-name", "from-option"])
    assert receiver.span("work").resource["service.name"] == "from-option"


# --- OTLP endpoints, headers, protocols ---------------------------------------------------------


def test_spans_go_to_the_traces_path_of_the_base_endpoint(receiver: OTLPReceiver) -> None:
    run_traced(code(ONE_SPAN), receiver)
    receiver.span("work")
    assert set(receiver.paths) == {"/v1/traces"}


def test_traces_endpoint_is_used_as_is(receiver: OTLPReceiver) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": refused_url(),
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint + "/collector/v1/traces",
    }
    result = run_traced(code(ONE_SPAN), receiver, env=env)
    assert result.returncode == 0, result.stderr
    receiver.span("work")
    assert receiver.paths == ["/collector/v1/traces"]


def test_endpoint_option_sets_the_collector(receiver: OTLPReceiver) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": refused_url()}
    run_traced(
        code(ONE_SPAN), receiver, env=env, launcher_options=["--endpoint", receiver.endpoint]
    )
    receiver.span("work")


def test_otlp_headers_reach_the_collector(receiver: OTLPReceiver) -> None:
    env = {"OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=secret-1,x-tenant=acme"}
    run_traced(code(ONE_SPAN), receiver, env=env)
    receiver.span("work")
    headers = receiver.received.headers[0]
    assert (headers["x-api-key"], headers["x-tenant"]) == ("secret-1", "acme")


def test_grpc_protocol_sends_spans_over_grpc(receiver: OTLPReceiver) -> None:
    endpoint = receiver.start_grpc()
    env = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=secret-2",
    }
    result = run_traced(code(ONE_SPAN), receiver, env=env)
    assert result.returncode == 0, result.stderr
    assert receiver.span("work").resource["telemetry.distro.name"] == "llmtrace-agent"
    assert receiver.paths == []  # nothing came over HTTP
    assert receiver.received.headers[0]["x-api-key"] == "secret-2"


# --- sampling -------------------------------------------------------------------------------------

RECORDING = """
    from opentelemetry import trace
    with trace.get_tracer("app").start_as_current_span("work") as span:
        print(span.is_recording())
"""


@pytest.mark.parametrize(
    "sampler",
    [
        {"OTEL_TRACES_SAMPLER": "always_off"},
        {"OTEL_TRACES_SAMPLER": "parentbased_always_off"},
        {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"},
    ],
    ids=lambda sampler: ",".join(sampler.values()),
)
def test_sampler_that_samples_nothing_exports_nothing(
    sampler: dict[str, str], receiver: OTLPReceiver
) -> None:
    result = run_traced(code(RECORDING), receiver, env=sampler)
    assert (result.returncode, result.stdout) == (0, "False\n")
    assert receiver.spans == []


def test_ratio_sampler_of_one_samples_everything(receiver: OTLPReceiver) -> None:
    env = {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1"}
    result = run_traced(code(RECORDING), receiver, env=env)
    assert result.stdout == "True\n"
    receiver.span("work")


# --- export at exit ---------------------------------------------------------------------------


def test_spans_are_exported_at_exit_before_the_batch_delay(receiver: OTLPReceiver) -> None:
    env = {"OTEL_BSP_SCHEDULE_DELAY": "60000"}
    started = time.monotonic()
    run_traced(code(ONE_SPAN), receiver, env=env)
    assert time.monotonic() - started < 10
    assert receiver.spans[0].name == "work"  # arrived before the process ended


@pytest.mark.parametrize(
    "ending",
    ["import sys; sys.exit(3)", "raise SystemExit('bye')", "raise RuntimeError('crash')"],
)
def test_spans_are_exported_when_the_program_fails(ending: str, receiver: OTLPReceiver) -> None:
    result = run_traced(["-c", textwrap.dedent(ONE_SPAN) + ending], receiver)
    assert result.returncode != 0
    assert [span.name for span in receiver.spans] == ["work"]


def test_many_spans_all_arrive(receiver: OTLPReceiver) -> None:
    app = """
        from opentelemetry import trace
        tracer = trace.get_tracer("app")
        for index in range(2000):
            with tracer.start_as_current_span("many"):
                pass
    """
    run_traced(code(app), receiver)
    assert len(receiver.spans) == 2000


def test_forked_child_never_writes_into_its_parents_collector_connection(
    receiver: OTLPReceiver,
) -> None:
    app = """
        import os, sys, llmtrace_agent
        from opentelemetry import trace
        tracer = trace.get_tracer("app")
        with tracer.start_as_current_span("parent-before-fork"):
            pass
        llmtrace_agent.flush()  # the parent now holds a keep-alive connection to the collector
        pid = os.fork()
        if pid == 0:
            with tracer.start_as_current_span("child"):
                pass
            llmtrace_agent.flush()
            sys.exit(0)
        os.waitpid(pid, 0)
    """
    result = run_traced(code(app), receiver)
    assert result.returncode == 0, result.stderr
    ports = {span.name: span.client_port for span in receiver.wait_for_spans(2)}
    assert ports["child"] != ports["parent-before-fork"]


# --- shutdown is bounded --------------------------------------------------------------------------

SHUTDOWN_TIMEOUT = 1.0
SLACK = 2.0  # interpreter start-up, imports and scheduling on a loaded machine


def test_hanging_collector_cannot_hold_the_exit(silent_collector: SilentCollector) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": silent_collector.endpoint,
        "LLMTRACE_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT),
        "OTEL_EXPORTER_OTLP_TIMEOUT": "30",
    }
    started = time.monotonic()
    result = run_traced(["-c", textwrap.dedent(ONE_SPAN) + "print('done')"], env=env)
    elapsed = time.monotonic() - started
    assert (result.returncode, result.stdout) == (0, "done\n")
    assert silent_collector.connections, "the exporter never tried to connect"
    assert elapsed < SHUTDOWN_TIMEOUT + SLACK


def test_unreachable_collector_cannot_hold_the_exit() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": refused_url(),
        "LLMTRACE_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT),
    }
    started = time.monotonic()
    result = run_traced(code(ONE_SPAN), env=env)
    assert result.returncode == 0
    assert time.monotonic() - started < SHUTDOWN_TIMEOUT + SLACK


def test_hanging_collector_cannot_hold_an_explicit_flush(
    silent_collector: SilentCollector,
) -> None:
    app = """
        import time, llmtrace_agent
        started = time.monotonic()
        flushed = llmtrace_agent.flush(0.5)
        print(flushed, time.monotonic() - started < 1.5)
    """
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": silent_collector.endpoint,
        "LLMTRACE_SHUTDOWN_TIMEOUT": "0.5",
    }
    result = run_traced(["-c", textwrap.dedent(ONE_SPAN) + textwrap.dedent(app)], env=env)
    assert result.stdout == "False True\n", result.stderr


# --- who owns the global TracerProvider ------------------------------------------------------


def test_tracer_provider_the_app_set_first_is_kept_and_gets_the_agents_spans(
    receiver: OTLPReceiver, example_plugin_dir: Path, tmp_path: Path
) -> None:
    user_dir = tmp_path / "user"
    user_dir.mkdir()
    (user_dir / "sitecustomize.py").write_text(
        textwrap.dedent(f"""
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider = TracerProvider(resource=Resource.create({{"service.name": "own-provider"}}))
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint="{receiver.endpoint}/v1/traces"))
        )
        trace.set_tracer_provider(provider)
        """)
    )
    app = """
        import example_target
        example_target.greet("app")
    """
    env = {"PYTHONPATH": f"{user_dir}:{example_plugin_dir}"}
    result = run_traced(code(app), receiver, env=env)
    assert result.returncode == 0, result.stderr
    assert "set its own TracerProvider first" in result.stderr
    greet = receiver.span("greet")
    assert greet.resource["service.name"] == "own-provider"
    assert "telemetry.distro.name" not in greet.resource
