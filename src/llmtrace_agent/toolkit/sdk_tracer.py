"""A tracer to hand an SDK that traces itself, keeping what it adds and dropping what we trace.

Some SDKs make OpenTelemetry spans of their own (the Anthropic SDK's tool runner, Pydantic AI).
Given a ``SelectiveTracer`` instead of the provider's tracer, every span they start (with
``start_span`` or ``start_as_current_span``) is a ``SpanRequest`` handed to ``choose``, the one
method a subclass overrides: it returns ``request.start()`` (the real tracer's span, after
changing the request's name or attributes if it likes), another span (a replacement, a deferred
one), or ``INVALID_SPAN`` (dropped: nothing recorded, and ``start_as_current_span`` leaves the
current span as it was, so what the SDK does inside stays under our span). Everything else is
the real tracer's.
"""

from __future__ import annotations

from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import SpanKind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from opentelemetry.context import Context
    from opentelemetry.util.types import Attributes

__all__ = ["SelectiveTracer", "SpanRequest"]


class SpanRequest:
    """The arguments of one ``start_span`` call, for ``choose`` to read, change, and start."""

    __slots__ = (
        "_tracer",
        "attributes",
        "context",
        "kind",
        "links",
        "name",
        "record_exception",
        "set_status_on_exception",
        "start_time",
    )

    def __init__(
        self,
        tracer: trace.Tracer,
        name: str,
        context: Context | None,
        kind: SpanKind,
        attributes: Attributes,
        links: Sequence[trace.Link] | None,
        start_time: int | None,
        record_exception: bool,
        set_status_on_exception: bool,
    ) -> None:
        self._tracer = tracer
        self.name = name
        self.context = context
        self.kind = kind
        self.attributes = attributes
        self.links = links
        self.start_time = start_time
        self.record_exception = record_exception
        self.set_status_on_exception = set_status_on_exception

    def start(self) -> trace.Span:
        """The real tracer's span, as requested now."""
        return self._tracer.start_span(
            self.name,
            self.context,
            self.kind,
            self.attributes,
            self.links,
            self.start_time,
            self.record_exception,
            self.set_status_on_exception,
        )


class SelectiveTracer(trace.Tracer):
    """Wraps ``tracer``; subclasses choose per span in ``choose`` (default: keep it)."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def choose(self, request: SpanRequest) -> trace.Span:
        """The span to give the SDK for ``request``."""
        return request.start()

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        return self.choose(
            SpanRequest(
                self._tracer,
                name,
                context,
                kind,
                attributes,
                links,
                start_time,
                record_exception,
                set_status_on_exception,
            )
        )

    @contextmanager  # type: ignore[arg-type]
    def start_as_current_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace.Span]:
        span = self.start_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )
        if span is trace.INVALID_SPAN:  # dropped: the current span stays current
            yield span
            return
        with trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current

    def __getattr__(self, name: str) -> object:
        return getattr(self._tracer, name)
