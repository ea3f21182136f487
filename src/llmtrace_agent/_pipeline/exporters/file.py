"""``file`` exporter: one OTLP/JSON ``ExportTraceServiceRequest`` per line.

The format the OpenTelemetry Collector's file exporter writes and its ``otlpjsonfile``
receiver reads: camelCase field names, enums as integers, trace and span ids as hex.
"""

from __future__ import annotations

import base64
import json
import threading

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from llmtrace_agent._runtime import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from opentelemetry.sdk.trace import ReadableSpan

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


class OTLPJsonFileExporter(SpanExporter):
    """Appends each batch as one JSON line to ``path``."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._warned = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        request = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
        for resource_spans in request.get("resourceSpans", ()):
            for scope_spans in resource_spans.get("scopeSpans", ()):
                for span in scope_spans.get("spans", ()):
                    _ids_to_hex(span)
                    for link in span.get("links", ()):
                        _ids_to_hex(link)
        line = json.dumps(request, separators=(",", ":")) + "\n"
        try:
            with self._lock, open(self._path, "a", encoding="utf-8") as file:
                file.write(line)
        except OSError as exc:
            if not self._warned:  # once: the same error would repeat for every batch
                self._warned = True
                log.warning(f"cannot write spans to {self._path} (LLMTRACE_FILE): {exc}")
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS


def _ids_to_hex(obj: dict[str, object]) -> None:
    """protobuf's JSON mapping writes bytes as base64; OTLP/JSON wants hex ids."""
    for field in _ID_FIELDS:
        value = obj.get(field)
        if isinstance(value, str):
            obj[field] = base64.b64decode(value).hex()
