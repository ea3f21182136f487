"""``console`` exporter: each finished trace as a readable tree on stderr.

The first thing a new user sees, so it favours the facts they look for: what ran inside what,
how long it took, and for LLM calls the model, tokens and cost.
"""

from __future__ import annotations

import sys
import threading
from urllib.parse import urlsplit

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from llmtrace_agent.toolkit import semconv

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import TextIO

    from opentelemetry.sdk.trace import ReadableSpan


class ConsoleTreeExporter(SpanExporter):
    """Buffers spans per trace and prints the tree when the trace's local root ends."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out
        self._lock = threading.Lock()
        self._pending: dict[int, list[ReadableSpan]] = {}

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if any(span.parent is None or span.parent.is_remote for span in spans):
            # The first model spans end once the price table is loaded (``usage.with_prices``),
            # in its loader thread, maybe after their trace's root: let them land first. Looked
            # up, not imported: a process that made no LLM call never loads that module.
            usage = sys.modules.get("llmtrace_agent.toolkit.genai.usage")
            if usage is not None:
                usage.wait_for_prices()
        finished: list[list[ReadableSpan]] = []
        with self._lock:
            for span in spans:
                trace_id = span.context.trace_id
                self._pending.setdefault(trace_id, []).append(span)
                if span.parent is None or span.parent.is_remote:
                    finished.append(self._pending.pop(trace_id))
        for trace_spans in finished:
            self._write(render_trace(trace_spans))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Print traces whose root never ended (a crash, an exit inside a span)."""
        with self._lock:
            leftovers, self._pending = list(self._pending.values()), {}
        for trace_spans in leftovers:
            self._write(render_trace(trace_spans))

    def _write(self, text: str) -> None:
        out = self._out or sys.stderr
        try:
            out.write(text)
            out.flush()
        except (OSError, ValueError):
            pass


def render_trace(spans: Sequence[ReadableSpan]) -> str:
    """The tree for one trace: children under parents, in start order."""
    by_id = {span.context.span_id: span for span in spans}
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        parent_id = span.parent.span_id if span.parent is not None else None
        children.setdefault(parent_id if parent_id in by_id else None, []).append(span)
    for siblings in children.values():
        siblings.sort(key=lambda span: span.start_time or 0)
    trace_id = format(spans[0].context.trace_id, "032x")
    lines = [f"── trace {trace_id} ({len(spans)} span{'s' if len(spans) != 1 else ''})"]
    _render_level(children, None, "", lines)
    return "\n".join(lines) + "\n"


def _render_level(
    children: dict[int | None, list[ReadableSpan]],
    parent: int | None,
    indent: str,
    lines: list[str],
) -> None:
    siblings = children.get(parent, [])
    for index, span in enumerate(siblings):
        last = index == len(siblings) - 1
        lines.append(f"{indent}{'└─' if last else '├─'} {describe_span(span)}")
        _render_level(children, span.context.span_id, indent + ("   " if last else "│  "), lines)


def describe_span(span: ReadableSpan) -> str:
    """One line: name, duration, then the attributes worth reading at a glance."""
    attributes = span.attributes or {}
    parts = [_http_name(span.name, attributes), _duration(span)]
    model = attributes.get(semconv.GEN_AI_RESPONSE_MODEL) or attributes.get(
        semconv.GEN_AI_REQUEST_MODEL
    )
    if model is not None:
        parts.append(f"model={model}")
    input_tokens = attributes.get(semconv.GEN_AI_USAGE_INPUT_TOKENS)
    output_tokens = attributes.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
    if input_tokens is not None or output_tokens is not None:
        parts.append(
            f"tokens={input_tokens if input_tokens is not None else '?'}→"
            f"{output_tokens if output_tokens is not None else '?'}"
        )
    cost = attributes.get(semconv.GEN_AI_USAGE_COST)
    if isinstance(cost, (int, float)):
        parts.append(f"cost=${cost:.6f}")
    status_code = attributes.get(semconv.HTTP_RESPONSE_STATUS_CODE)
    if status_code is not None:
        parts.append(str(status_code))
    if span.status.status_code is StatusCode.ERROR:
        error = attributes.get(semconv.ERROR_TYPE) or span.status.description or "error"
        parts.append(f"ERROR {error}")
    return "  ".join(parts)


def _http_name(name: str, attributes: Mapping[str, object]) -> str:
    """An HTTP span's name with what it reached: ``GET api.weather.test/forecast`` for a client
    span (host and path, never the query), the path for a server span the framework gave no route
    (``GET /static/app.js``). Other spans keep their name."""
    url = attributes.get(semconv.URL_FULL)
    if isinstance(url, str):
        parts = urlsplit(url)
        return f"{name} {parts.hostname or ''}{parts.path or '/'}"
    path = attributes.get(semconv.URL_PATH)
    if isinstance(path, str) and semconv.HTTP_ROUTE not in attributes and " " not in name:
        return f"{name} {path}"
    return name


def _duration(span: ReadableSpan) -> str:
    if span.start_time is None or span.end_time is None:
        return "(not ended)"
    millis = (span.end_time - span.start_time) / 1e6
    return f"{millis:.1f} ms" if millis < 10_000 else f"{millis / 1000:.2f} s"
