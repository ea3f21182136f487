"""The agent in this process records OpenTelemetry API spans and exports them over OTLP/HTTP."""

from opentelemetry import trace

from tests.support.agent import InProcessAgent, run_traced
from tests.support.otlp_receiver import OTLPReceiver


def test_api_spans_reach_the_receiver(agent: InProcessAgent) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("outer"), tracer.start_as_current_span("inner"):
        pass
    outer, inner = (agent.receiver.span(name) for name in ("outer", "inner"))
    agent.flush()
    assert inner.parent_span_id == outer.span_id
    assert outer.resource["telemetry.distro.name"] == "llmtrace-agent"


def test_launcher_exports_spans_of_the_app(receiver: OTLPReceiver) -> None:
    code = (
        "from opentelemetry import trace\n"
        "with trace.get_tracer('t').start_as_current_span('app'): pass"
    )
    result = run_traced(["-c", code], receiver)
    assert result.returncode == 0, result.stderr
    assert receiver.span("app").resource["service.name"].startswith("unknown_service")
