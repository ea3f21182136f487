"""The agent in this process records OpenTelemetry API spans and exports them over OTLP/HTTP."""

from opentelemetry import trace

from tests.support.agent import REPO, InProcessAgent, run_traced
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


def test_the_demo_app_is_traced_end_to_end(receiver: OTLPReceiver) -> None:
    """examples/app.py (what scripts/demo runs): its requests, chat and streamed chat calls."""
    result = run_traced([str(REPO / "examples" / "app.py")], receiver)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Lisbon: sun, tiles and pastéis de nata."
    root = receiver.span("plan_trip")
    spans = receiver.wait_for_spans(5, where=lambda span: span.trace_id == root.trace_id)
    chats = [span for span in spans if span.name == "chat gpt-4o-mini"]
    assert len(chats) == 2 and all(chat.parent_span_id == root.span_id for chat in chats)
    for chat in chats:
        assert chat.attributes["gen_ai.usage.input_tokens"] == 42
        assert chat.attributes["gen_ai.usage.output_tokens"] == 8
        assert chat.attributes["gen_ai.response.finish_reasons"] == ("stop",)
        # One successful request each: no HTTP span under it (LLMTRACE_HTTP_UNDER_LLM=retries).
        assert [span for span in spans if span.parent_span_id == chat.span_id] == []
    gets = [span for span in spans if span.name == "GET"]
    assert len(gets) == 2 and all(get.parent_span_id == root.span_id for get in gets)
