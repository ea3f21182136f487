"""The agent's own exporters, as a traced program produces them: the OTLP/JSON lines file
and the console tree on stderr."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.agent import code, run_traced
from tests.support.fake_openai import FakeOpenAI
from tests.support.otlp_receiver import OTLPReceiver

NESTED_TRACE = """
    import time
    from opentelemetry import trace
    from opentelemetry.trace import Link, Status, StatusCode
    tracer = trace.get_tracer("app")
    with tracer.start_as_current_span("outer", attributes={"answer": 42}) as outer:
        with tracer.start_as_current_span("first"):
            time.sleep(0.02)
        with tracer.start_as_current_span("second", links=[Link(outer.get_span_context())]):
            with tracer.start_as_current_span("grandchild") as grandchild:
                grandchild.add_event("checkpoint", {"step": 1})
        try:
            with tracer.start_as_current_span("failing"):
                raise ValueError("boom")
        except ValueError:
            pass
"""
SPAN_NAMES = ["failing", "first", "grandchild", "outer", "second"]


# --- file ---------------------------------------------------------------------------------------


def export_to_file(path: Path, source: str = NESTED_TRACE) -> list[dict[str, Any]]:
    result = run_traced(code(source), env={"LLMTRACE_EXPORTER": "file", "LLMTRACE_FILE": str(path)})
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in path.read_text().splitlines()]


def spans_in(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        span
        for request in requests
        for resource_spans in request["resourceSpans"]
        for scope_spans in resource_spans["scopeSpans"]
        for span in scope_spans["spans"]
    ]


def keys_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(keys_of(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_of(item) for item in value))
    return set()


def test_file_has_one_export_request_per_line(tmp_path: Path) -> None:
    requests = export_to_file(tmp_path / "traces.jsonl")
    assert requests
    assert all(set(request) == {"resourceSpans"} for request in requests)
    assert sorted(span["name"] for span in spans_in(requests)) == SPAN_NAMES


def test_file_ids_are_lower_case_hex(tmp_path: Path) -> None:
    spans = spans_in(export_to_file(tmp_path / "traces.jsonl"))
    for span in spans:
        assert re.fullmatch(r"[0-9a-f]{32}", span["traceId"])
        assert re.fullmatch(r"[0-9a-f]{16}", span["spanId"])
        for link in span.get("links", []):
            assert re.fullmatch(r"[0-9a-f]{16}", link["spanId"])
    by_name = {span["name"]: span for span in spans}
    assert by_name["first"]["parentSpanId"] == by_name["outer"]["spanId"]
    assert by_name["second"]["links"][0]["spanId"] == by_name["outer"]["spanId"]


def test_file_field_names_are_camel_case_and_enums_integers(tmp_path: Path) -> None:
    requests = export_to_file(tmp_path / "traces.jsonl")
    assert not [key for key in keys_of(requests) if "_" in key]
    failing = next(span for span in spans_in(requests) if span["name"] == "failing")
    assert failing["kind"] == 1  # SPAN_KIND_INTERNAL
    assert failing["status"]["code"] == 2  # STATUS_CODE_ERROR


def test_file_lines_parse_back_into_export_requests(tmp_path: Path) -> None:
    requests = export_to_file(tmp_path / "traces.jsonl")
    for request in requests:
        for span in spans_in([request]):  # OTLP/JSON hex ids -> protobuf JSON mapping's base64
            for holder in [span, *span.get("links", [])]:
                for field in ("traceId", "spanId", "parentSpanId"):
                    if field in holder:
                        holder[field] = base64.b64encode(bytes.fromhex(holder[field])).decode()
        message = json_format.ParseDict(request, ExportTraceServiceRequest())
        for resource_spans in message.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    assert len(span.trace_id) == 16 and len(span.span_id) == 8
    outer = next(span for span in spans_in(requests) if span["name"] == "outer")
    assert outer["attributes"] == [{"key": "answer", "value": {"intValue": "42"}}]


def test_file_is_appended_to_by_each_run(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    first_run = len(export_to_file(path))
    assert len(export_to_file(path)) > first_run


def test_unwritable_file_warns_once_and_the_program_runs(tmp_path: Path) -> None:
    app = """
        from opentelemetry import trace
        for index in range(3):
            with trace.get_tracer("app").start_as_current_span("lost"):
                pass
            import llmtrace_agent; llmtrace_agent.flush()
        print("program ran")
    """
    env = {"LLMTRACE_EXPORTER": "file", "LLMTRACE_FILE": str(tmp_path)}  # a directory
    result = run_traced(code(app), env=env)
    assert (result.returncode, result.stdout) == (0, "program ran\n")
    assert result.stderr.count(f"cannot write spans to {tmp_path} (LLMTRACE_FILE)") == 1


# --- console ------------------------------------------------------------------------------------

DURATION = r"\d+\.\d ms"


def console_output(source: str = NESTED_TRACE, **env: str) -> str:
    result = run_traced(code(source), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    return result.stderr


def test_console_is_the_default_exporter() -> None:
    assert "── trace " in console_output()


def test_console_prints_each_trace_as_a_tree_indented_by_parent() -> None:
    lines = console_output().splitlines()
    assert re.fullmatch(r"── trace [0-9a-f]{32} \(5 spans\)", lines[0])
    shape = [re.sub(rf"  {DURATION}.*", "", line) for line in lines[1:]]
    assert shape == [
        "└─ outer",
        "   ├─ first",
        "   ├─ second",
        "   │  └─ grandchild",
        "   └─ failing",
    ]


def test_console_shows_each_spans_duration() -> None:
    lines = console_output().splitlines()[1:]
    assert all(re.search(rf"  {DURATION}", line) for line in lines)
    first = next(line for line in lines if "first" in line)
    assert float(re.search(r"(\d+\.\d) ms", first)[1]) >= 20  # type: ignore[index]


def test_console_marks_failed_spans() -> None:
    failing = next(line for line in console_output().splitlines() if "failing" in line)
    assert failing.endswith("ERROR ValueError: boom")


def test_console_shows_model_tokens_and_cost_of_llm_spans() -> None:
    app = """
        from opentelemetry import trace
        from llmtrace_agent.toolkit import semconv
        attributes = {
            semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
            semconv.GEN_AI_USAGE_INPUT_TOKENS: 12,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
            semconv.GEN_AI_USAGE_COST: 0.0000123,
        }
        tracer = trace.get_tracer("app")
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes=attributes):
            pass
    """
    line = console_output(app).splitlines()[1]
    assert re.fullmatch(
        rf"└─ chat gpt-4o-mini  {DURATION}  model=gpt-4o-mini  tokens=12→5  cost=\$0\.000012",
        line,
    )


def test_console_shows_method_target_and_status_of_http_spans() -> None:
    app = """
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind
        from llmtrace_agent.toolkit import semconv
        tracer = trace.get_tracer("app")
        server = {semconv.URL_PATH: "/ask/rain", semconv.HTTP_ROUTE: "/ask/{topic}",
                  semconv.HTTP_RESPONSE_STATUS_CODE: 200}
        unrouted = {semconv.URL_PATH: "/static/app.js", semconv.HTTP_RESPONSE_STATUS_CODE: 404}
        client = {semconv.URL_FULL: "https://api.weather.test/forecast?key=REDACTED&q=x",
                  semconv.HTTP_RESPONSE_STATUS_CODE: 200}
        with tracer.start_as_current_span("POST /ask/{topic}", kind=SpanKind.SERVER,
                                          attributes=server):
            with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT, attributes=client):
                pass
        with tracer.start_as_current_span("GET", kind=SpanKind.SERVER, attributes=unrouted):
            pass
    """
    lines = console_output(app).splitlines()
    assert re.fullmatch(rf"└─ POST /ask/{{topic}}  {DURATION}  200", lines[1])
    assert re.fullmatch(rf"   └─ GET api\.weather\.test/forecast  {DURATION}  200", lines[2])
    assert re.fullmatch(rf"└─ GET /static/app\.js  {DURATION}  404", lines[4])


def test_console_prints_separate_trees_for_separate_traces() -> None:
    app = """
        from opentelemetry import trace
        tracer = trace.get_tracer("app")
        for name in ("one", "two"):
            with tracer.start_as_current_span(name):
                pass
    """
    output = console_output(app)
    assert output.count("── trace ") == 2
    assert re.search(r"\(1 span\)\n└─ one", output)
    assert re.search(r"\(1 span\)\n└─ two", output)


def test_console_prints_the_first_model_span_inside_its_trace(fake_openai: FakeOpenAI) -> None:
    """The first model call's span ends once the price table is loaded, in the loader thread,
    possibly after its parent ended: it still belongs to its trace's one tree."""
    app = f"""
        import sys, time
        import openai
        from opentelemetry import trace

        class SlowPriceTable:  # as on a loaded machine: the table arrives after the call
            def find_spec(self, name, path=None, target=None):
                if name == "genai_prices":
                    time.sleep(0.5)

        sys.meta_path.insert(0, SlowPriceTable())
        client = openai.OpenAI(base_url="{fake_openai.base_url}", api_key="k", max_retries=0)
        with trace.get_tracer("app").start_as_current_span("outer"):
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{{"role": "user", "content": "hi"}}]
            )
    """
    output = console_output(app)
    assert output.count("── trace ") == 1, output
    lines = output.splitlines()
    assert lines[1].startswith("└─ outer")
    assert any(line.startswith("   └─ chat gpt-4o-mini") for line in lines), output


def test_console_and_otlp_export_together(receiver: OTLPReceiver) -> None:
    result = run_traced(code(NESTED_TRACE), receiver, env={"LLMTRACE_EXPORTER": "console,otlp"})
    assert "└─ outer" in result.stderr
    assert len(receiver.wait_for_spans(5)) == 5


def test_none_exporter_exports_nothing(receiver: OTLPReceiver) -> None:
    result = run_traced(code(NESTED_TRACE), receiver, env={"LLMTRACE_EXPORTER": "none"})
    assert (result.returncode, result.stderr) == (0, "")
    assert receiver.spans == []
