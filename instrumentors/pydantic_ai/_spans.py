"""The tracer and meter Pydantic AI is given: its spans in v1.41 shape, one model span per request.

Pydantic AI opens a ``chat {model}`` CLIENT span around each model request, and the provider
SDK it calls (the openai SDK for ``OpenAIChatModel``) is traced by our instrumentor too. The
provider span is the one kept: it is the real request (response id, finish reasons, usage as
the API reported it) and carries our cost, metrics and content conventions. So Pydantic AI's
model span is *deferred*: it records in memory while the request runs, offers the model call
(``delegation.offer``) with the agent's name, and when it ends it is dropped if a provider
instrumentor took the offer, or exported as it was recorded if none did (a provider we do not
instrument). While deferred it is the current span but carries its parent's span context, so
the provider span is a child of the agent run. Pydantic AI's token metrics are dropped likewise
for a request a provider instrumentor measured, so no backend counts those tokens twice.

Agent-run and tool spans are real spans, with small corrections toward the conventions:
``gen_ai.operation.name`` where an older release left it out, ``error.type`` on errors, no
empty ``gen_ai.conversation.id``, no deprecated ``gen_ai.system``, no Logfire display hints,
and content attributes clipped to the configured length.
"""

from __future__ import annotations

import contextlib
import json
import time
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

import wrapt
from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.genai.agent_spans import content_json
from llmtrace_agent.toolkit.genai.content import clip
from llmtrace_agent.toolkit.genai.delegation import MODEL_CALL, Offer, offer
from llmtrace_agent.toolkit.guard import internal_errors
from llmtrace_agent.toolkit.sdk_tracer import SelectiveTracer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from opentelemetry.util.types import AttributeValue

    from llmtrace_agent.toolkit.sdk_tracer import SpanRequest

# Pydantic AI's own attribute names (not conventions): the agent-run id it puts beside the
# conversation id, and Logfire's display hints.
_PYDANTIC_RUN_ID = "gen_ai.agent.call.id"
_LOGFIRE_PREFIX = "logfire."
_DEPRECATED_SYSTEM = "gen_ai.system"  # replaced by gen_ai.provider.name in the conventions
# Attributes only set when present: Pydantic AI writes "" when there is none.
_ONLY_WHEN_SET = (semconv.GEN_AI_CONVERSATION_ID, _PYDANTIC_RUN_ID)
# What only the framework knows, added to the provider's model span (through the offer).
_FORWARDED = (semconv.GEN_AI_AGENT_NAME, semconv.GEN_AI_CONVERSATION_ID)
# Content Pydantic AI records with include_content on: clipped like ours, JSON kept valid.
_CONTENT = frozenset(
    {
        semconv.GEN_AI_TOOL_CALL_ARGUMENTS,
        semconv.GEN_AI_TOOL_CALL_RESULT,
        semconv.GEN_AI_INPUT_MESSAGES,
        semconv.GEN_AI_OUTPUT_MESSAGES,
        semconv.GEN_AI_SYSTEM_INSTRUCTIONS,
        "final_result",
        "pydantic_ai.all_messages",
    }
)
_OPERATIONS = ("invoke_agent", "execute_tool")  # the span names' first word
_EXCEPTION_EVENT = "exception"
_EXCEPTION_TYPE = "exception.type"

_request_measured_below: ContextVar[bool] = ContextVar(
    "llmtrace_pydantic_ai_request_measured_below", default=False
)
"""Set when a deferred model span ends: whether a provider instrumentor traced (and measured)
the request, read by the token metrics Pydantic AI records just after."""


class TracerProvider(trace.TracerProvider):
    """Hands Pydantic AI tracers of the agent's provider, wrapped by ``Tracer``."""

    def __init__(self, provider: trace.TracerProvider, max_length: Callable[[], int]) -> None:
        self._provider = provider
        self._max_length = max_length

    def get_tracer(self, *args: object, **kwargs: object) -> trace.Tracer:
        return Tracer(self._provider.get_tracer(*args, **kwargs), self._max_length)  # type: ignore[arg-type]


class Tracer(SelectiveTracer):
    """Pydantic AI's tracer: model spans deferred, the others corrected (see the module)."""

    def __init__(self, tracer: trace.Tracer, max_length: Callable[[], int]) -> None:
        super().__init__(tracer)
        self._max_length = max_length

    def choose(self, request: SpanRequest) -> trace.Span:
        with internal_errors:
            attributes = request.attributes
            if _is_model_request(attributes):  # CLIENT from 1.4x on, INTERNAL before
                return DeferredModelSpan(
                    self._tracer,
                    request.name,
                    request.context,
                    attributes or {},  # type: ignore[arg-type]
                    request.links,
                    request.start_time,
                )
            found = _corrected(attributes, self._max_length())  # type: ignore[arg-type]
            operation = request.name.partition(" ")[0]
            if operation in _OPERATIONS and semconv.GEN_AI_OPERATION_NAME not in found:
                found[semconv.GEN_AI_OPERATION_NAME] = operation  # releases before 1.3x omit it
            request.attributes = found
            return ConventionalSpan(request.start(), self._max_length)
        return request.start()


class ConventionalSpan(wrapt.ObjectProxy):  # type: ignore[misc]
    """A real span of Pydantic AI's, corrected as it is written (the module's list)."""

    def __init__(self, span: trace.Span, max_length: Callable[[], int]) -> None:
        super().__init__(span)
        self._self_max_length = max_length

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        with internal_errors:
            value = _corrected_value(key, value, self._self_max_length())  # type: ignore[assignment]
        self.__wrapped__.set_attribute(key, value)

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        with internal_errors:
            attributes = _corrected(attributes, self._self_max_length())
        self.__wrapped__.set_attributes(attributes)

    def add_event(
        self,
        name: str,
        attributes: Mapping[str, AttributeValue] | None = None,
        timestamp: int | None = None,
    ) -> None:
        # Pydantic AI records an error as a bare "exception" event when content is off.
        if name == _EXCEPTION_EVENT and attributes and _EXCEPTION_TYPE in attributes:
            self.__wrapped__.set_attribute(semconv.ERROR_TYPE, attributes[_EXCEPTION_TYPE])
        self.__wrapped__.add_event(name, attributes, timestamp)

    def record_exception(
        self,
        exception: BaseException,
        attributes: Mapping[str, AttributeValue] | None = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        self.__wrapped__.set_attribute(semconv.ERROR_TYPE, _qualified_name(type(exception)))
        self.__wrapped__.record_exception(exception, attributes, timestamp, escaped)


class DeferredModelSpan(trace.Span):
    """Pydantic AI's ``chat`` span, kept in memory until the request ends; exported only when
    no provider instrumentor traced the request (the module's docstring)."""

    def __init__(
        self,
        tracer: trace.Tracer,
        name: str,
        context: context_api.Context | None,
        attributes: Mapping[str, AttributeValue],
        links: Sequence[trace.Link] | None,
        start_time: int | None,
    ) -> None:
        self._tracer = tracer
        self._name = name
        self._context = context if context is not None else context_api.get_current()
        parent = trace.get_current_span(self._context)
        self._parent = parent.get_span_context()
        self._attributes: dict[str, AttributeValue] = dict(attributes)
        self._links = links
        self._start_time = start_time or time.time_ns()
        self._events: list[tuple[str, Mapping[str, AttributeValue] | None, int]] = []
        self._exceptions: list[tuple[BaseException, Mapping[str, AttributeValue] | None, int]] = []
        self._status: Status | None = None
        self._ended = False
        self._relayed: list[Offer] = []
        forwarded = {key: attributes[key] for key in _FORWARDED if attributes.get(key)}
        if semconv.GEN_AI_AGENT_NAME not in forwarded:  # releases before 1.4x: from the run span
            run = getattr(parent, "attributes", None) or {}
            if run.get(semconv.GEN_AI_AGENT_NAME):
                forwarded[semconv.GEN_AI_AGENT_NAME] = run[semconv.GEN_AI_AGENT_NAME]
        # Opened here and closed in end(): Pydantic AI starts and ends this span in one frame.
        self._offering = offer(MODEL_CALL, forwarded)
        self.offer = self._offering.__enter__()

    @contextmanager
    def offered_here(self) -> Iterator[None]:
        """Offer this request again in another task (Pydantic AI streams a response in the
        consumer's task, re-attaching only the OpenTelemetry context it captured)."""
        offering = offer(MODEL_CALL, self.offer.attributes)
        self._relayed.append(offering.__enter__())
        try:
            yield
        finally:
            # Pydantic AI may finalize a stream in yet another context, where the offer is gone.
            with contextlib.suppress(ValueError):
                offering.__exit__(None, None, None)

    # --- the Span API, recorded ------------------------------------------------------------

    def get_span_context(self) -> trace.SpanContext:
        return self._parent

    def is_recording(self) -> bool:
        return not self._ended

    @property
    def attributes(self) -> Mapping[str, AttributeValue]:
        """Read back by Pydantic AI (``FallbackModel`` updates the model attributes)."""
        return MappingProxyType(self._attributes)

    @property
    def name(self) -> str:
        return self._name

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self._attributes[key] = value
        if key in _FORWARDED and value:  # before the request: the provider span gets it too
            self.offer.attributes[key] = value

    def add_event(
        self,
        name: str,
        attributes: Mapping[str, AttributeValue] | None = None,
        timestamp: int | None = None,
    ) -> None:
        self._events.append((name, attributes, timestamp or time.time_ns()))

    def add_link(self, context: trace.SpanContext, attributes: object = None) -> None:
        self._links = [*(self._links or ()), trace.Link(context, attributes)]  # type: ignore[arg-type]

    def update_name(self, name: str) -> None:
        self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        self._status = status if isinstance(status, Status) else Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: Mapping[str, AttributeValue] | None = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        self._exceptions.append((exception, attributes, timestamp or time.time_ns()))

    def end(self, end_time: int | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        # ValueError: ended in another context than it started in, where the offer is gone.
        with contextlib.suppress(ValueError):
            self._offering.__exit__(None, None, None)
        taken = self.offer.taken or any(relayed.taken for relayed in self._relayed)
        _request_measured_below.set(taken)
        if not taken:
            with internal_errors:
                self._export(end_time or time.time_ns())

    def _export(self, end_time: int) -> None:
        """The request was traced by no provider instrumentor: this span is its model span."""
        attributes = {
            key: value
            for key, value in self._attributes.items()
            if key != _DEPRECATED_SYSTEM and not key.startswith(_LOGFIRE_PREFIX)
        }
        if _DEPRECATED_SYSTEM in self._attributes:  # the only name before 1.4x
            attributes.setdefault(
                semconv.GEN_AI_PROVIDER_NAME, self._attributes[_DEPRECATED_SYSTEM]
            )
        span = self._tracer.start_span(
            self._name,
            self._context,
            SpanKind.CLIENT,
            attributes,
            self._links,
            self._start_time,
            record_exception=False,
            set_status_on_exception=False,
        )
        for name, event_attributes, timestamp in self._events:
            error_type = (event_attributes or {}).get(_EXCEPTION_TYPE)
            if name == _EXCEPTION_EVENT and error_type:
                span.set_attribute(semconv.ERROR_TYPE, error_type)
            span.add_event(name, event_attributes, timestamp)
        for exception, event_attributes, timestamp in self._exceptions:
            span.set_attribute(semconv.ERROR_TYPE, _qualified_name(type(exception)))
            span.record_exception(exception, event_attributes, timestamp)
        if self._status is not None:
            span.set_status(self._status)
        span.end(end_time)


def relay_offer_with_context(
    wrapped: Callable[..., Callable[[], object]], instance: object, args: tuple, kwargs: dict
) -> Callable[[], object]:
    """Wraps Pydantic AI's ``capture_current_context``: when the captured context's current
    span is a deferred model span, re-attaching it also offers that span's request there."""
    attach = wrapped(*args, **kwargs)
    span = trace.get_current_span()
    if not isinstance(span, DeferredModelSpan):
        return attach

    @contextmanager
    def attach_and_offer() -> Iterator[None]:
        with attach(), span.offered_here():  # type: ignore[attr-defined]
            yield

    return attach_and_offer


class MeterProvider:
    """Hands Pydantic AI meters whose histograms skip a request a provider span measured."""

    def __init__(self, provider: object) -> None:
        self._provider = provider

    def get_meter(self, *args: object, **kwargs: object) -> Meter:
        return Meter(self._provider.get_meter(*args, **kwargs))  # type: ignore[attr-defined]


class Meter(wrapt.ObjectProxy):  # type: ignore[misc]
    """Pydantic AI's meter: its histograms are ``GatedHistogram``s."""

    def create_histogram(self, *args: object, **kwargs: object) -> GatedHistogram:
        return GatedHistogram(self.__wrapped__.create_histogram(*args, **kwargs))


class GatedHistogram(wrapt.ObjectProxy):  # type: ignore[misc]
    """Records nothing for a model request the provider instrumentor already measured (token
    usage, time to first chunk: our metrics have them), so no backend sums them twice."""

    def record(self, amount: float, attributes: object = None, context: object = None) -> None:
        if _request_measured_below.get():
            return
        self.__wrapped__.record(amount, attributes, context)


def _is_model_request(attributes: Mapping[str, AttributeValue] | None) -> bool:
    return bool(attributes) and attributes.get(semconv.GEN_AI_OPERATION_NAME) == "chat"  # type: ignore[union-attr]


def _corrected(
    attributes: Mapping[str, AttributeValue] | None, max_length: int
) -> dict[str, AttributeValue]:
    """Pydantic AI's attributes without the empty, deprecated and display-only ones, content
    clipped."""
    found: dict[str, AttributeValue] = {}
    for key, value in (attributes or {}).items():
        if key.startswith(_LOGFIRE_PREFIX) or key == _DEPRECATED_SYSTEM:
            continue
        if key in _ONLY_WHEN_SET and not value:
            continue
        found[key] = _corrected_value(key, value, max_length)  # type: ignore[assignment]
    return found


def _corrected_value(key: str, value: object, max_length: int) -> object:
    """A content attribute longer than the limit, clipped; JSON stays JSON, every string in it
    clipped."""
    if key not in _CONTENT or not isinstance(value, str):
        return value
    if len(value) <= max_length:
        return value
    try:
        return content_json(json.loads(value))
    except ValueError:
        return clip(value)


def _qualified_name(error_class: type) -> str:
    """``error.type`` as Pydantic AI writes ``exception.type`` (builtins unqualified)."""
    if error_class.__module__ == "builtins":
        return error_class.__qualname__
    return f"{error_class.__module__}.{error_class.__qualname__}"
