"""Where Celery is traced: ``Celery.send_task`` is wrapped, the rest are Celery's own signals.

- Sending (``delay``, ``apply_async``, ``send_task``, canvas primitives and ``retry``, which all
  go through ``Celery.send_task``): a PRODUCER span ``send {task name}`` around the call; the
  ``before_task_publish`` signal, sent from inside it with the message's headers, adds the
  destination and the task id to that span and injects the W3C context (``traceparent``,
  ``tracestate``, ``baggage``) into the headers.
- Running (``task_prerun`` / ``task_postrun``, sent around each run in the process that runs it,
  in every pool): a CONSUMER span ``{task name}``, child of the context the message carries and
  linked to it (the conventions' creation context), current for the run so that the task's LLM
  and HTTP spans are its children. ``task_postrun`` is sent from a ``finally`` with the run's
  state and, for a failure or a retry, the exception: it ends the span.
- ``worker_process_shutdown``: a prefork pool process leaves through ``os._exit`` right after
  this signal, skipping every exit handler, so the spans it recorded are flushed there.

Signal receivers run inside Celery's ``Signal.send``, which logs and swallows their exceptions;
they run under the agent's guard all the same.
"""

from __future__ import annotations

from contextvars import ContextVar
from threading import get_ident
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.guard import internal_errors
from llmtrace_agent.toolkit.http_spans import error_type

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from opentelemetry.trace import Span

    from llmtrace_agent.instrumentors.celery import CeleryInstrumentor

_ERROR = Status(StatusCode.ERROR)
_DISPATCH_UID = "llmtrace_agent.celery"

# messaging.system: the broker, by kombu transport. The conventions' well-known values MUST be used
# where one applies; other transports (redis, filesystem, sqlalchemy…) report their own name.
_WELL_KNOWN_SYSTEMS = {
    "amqp": "rabbitmq",
    "amqps": "rabbitmq",
    "pyamqp": "rabbitmq",
    "librabbitmq": "rabbitmq",
    "sqs": "aws_sqs",
    "gcpubsub": "gcp_pubsub",
    "azureservicebus": "servicebus",
    "confluentkafka": "kafka",
}

_instrumentor: CeleryInstrumentor | None = None
_runs: dict[tuple[str, int], tuple[Span, object]] = {}
"""(Task id, thread) -> (the run's span, the context token to detach), from prerun to postrun.
The thread too: a redelivered message can run again in another thread before the first run ends."""
_sending: ContextVar[Span | None] = ContextVar("llmtrace_celery_sending", default=None)
"""The PRODUCER span of the ``send_task`` call in progress, for ``before_task_publish``."""
_broker_attributes: dict[str, dict[str, object]] = {}
"""Broker URL -> its messaging.system and server.address/port (parsed once per URL)."""


def install(instrumentor: CeleryInstrumentor, base: ModuleType) -> None:
    """Wrap ``Celery.send_task`` and connect the signal receivers (once)."""
    global _instrumentor
    from celery import signals

    _instrumentor = instrumentor
    instrumentor.wrap(base, "Celery.send_task", _send_task)
    for signal, receiver in _receivers(signals):
        signal.connect(receiver, weak=False, dispatch_uid=_DISPATCH_UID)


def uninstall() -> None:
    """Disconnect the signal receivers (the ``send_task`` patch is undone by the instrumentor)."""
    import sys

    signals = sys.modules.get("celery.signals")
    if signals is not None:
        for signal, receiver in _receivers(signals):
            signal.disconnect(receiver, dispatch_uid=_DISPATCH_UID)


def _receivers(signals: ModuleType) -> tuple[tuple[object, Callable[..., None]], ...]:
    return (
        (signals.before_task_publish, _before_publish),
        (signals.task_prerun, _task_prerun),
        (signals.task_postrun, _task_postrun),
        (signals.worker_process_shutdown, _flush_before_exit),
    )


# --- sending -------------------------------------------------------------------------------------


def _send_task(
    wrapped: Callable[..., object], instance: object, args: tuple, kwargs: dict
) -> object:
    # Hot path: once per task sent.
    span = None
    with internal_errors:
        span = _start_send(instance, args[0] if args else kwargs.get("name"))
    if span is None:
        return wrapped(*args, **kwargs)
    sending = _sending.set(span)
    attached = otel_context.attach(trace.set_span_in_context(span))
    try:
        return wrapped(*args, **kwargs)
    except BaseException as exc:
        with internal_errors:
            _record_failure(span, exc)
        raise
    finally:
        with internal_errors:
            otel_context.detach(attached)
            _sending.reset(sending)
            span.end()


def _start_send(app: object, name: object) -> Span | None:
    instrumentor = _instrumentor
    if instrumentor is None or not instrumentor.active or not name:
        return None
    name = str(name)
    attributes = {
        semconv.MESSAGING_OPERATION_TYPE: "send",
        semconv.MESSAGING_OPERATION_NAME: "send",
        semconv.CELERY_TASK_NAME: name,
        **_broker(app),
    }
    return instrumentor.tracer.start_span(
        f"send {name}", kind=SpanKind.PRODUCER, attributes=attributes
    )


def _before_publish(
    body: object = None,
    routing_key: object = None,
    headers: dict[str, object] | None = None,
    **_: object,
) -> None:
    """Name the destination and the message on the PRODUCER span; put the context in the
    message. A message sent without ``Celery.send_task`` still carries the current context."""
    if headers is None or _instrumentor is None or not _instrumentor.active:
        return
    with internal_errors:
        span = _sending.get()
        if span is not None:
            if routing_key:
                span.set_attribute(semconv.MESSAGING_DESTINATION_NAME, str(routing_key))
            task_id = headers.get("id")  # protocol 2; protocol 1 has it in the body
            if task_id is None and isinstance(body, dict):
                task_id = body.get("id")
            if task_id is not None:
                span.set_attribute(semconv.MESSAGING_MESSAGE_ID, str(task_id))
        # The PRODUCER span is current here: its context is the message's creation context.
        # A retry's headers still hold the failed run's context: replaced, like any other.
        propagate.inject(headers)


# --- running -------------------------------------------------------------------------------------


class _RequestGetter(Getter[object]):
    """Reads propagation headers from a task's request: protocol 2 turns the message's custom
    headers into request attributes; some versions keep them in ``request.headers`` too."""

    def get(self, carrier: object, key: str) -> list[str] | None:
        value = getattr(carrier, key, None)
        if value is None:
            headers = getattr(carrier, "headers", None)
            if isinstance(headers, dict):
                value = headers.get(key)
        return [value] if isinstance(value, str) else None

    def keys(self, carrier: object) -> list[str]:
        return []


_REQUEST_GETTER = _RequestGetter()


def _task_prerun(task_id: str | None = None, task: object = None, **_: object) -> None:
    """Start the run's span, current until ``task_postrun``."""
    instrumentor = _instrumentor
    if instrumentor is None or not instrumentor.active or task_id is None or task is None:
        return
    with internal_errors:
        request = task.request  # type: ignore[attr-defined]
        name = str(task.name)  # type: ignore[attr-defined]
        current = otel_context.get_current()
        attributes: dict[str, object] = {
            semconv.CELERY_TASK_NAME: name,
            semconv.MESSAGING_MESSAGE_ID: str(task_id),
        }
        retries = getattr(request, "retries", 0)
        if retries:
            attributes[semconv.CELERY_TASK_RETRIES] = retries
        if getattr(request, "is_eager", False):
            # task.apply() or task_always_eager: a plain call in this process, no message.
            span = instrumentor.tracer.start_span(name, current, attributes=attributes)
            parent = current
        else:
            parent = propagate.extract(request, current, getter=_REQUEST_GETTER)
            creation = trace.get_current_span(parent).get_span_context()
            links = [Link(creation)] if creation.is_valid and creation.is_remote else None
            attributes[semconv.MESSAGING_OPERATION_TYPE] = "process"
            attributes[semconv.MESSAGING_OPERATION_NAME] = "process"
            attributes.update(_broker(task.app))  # type: ignore[attr-defined]
            delivery_info = getattr(request, "delivery_info", None)
            if isinstance(delivery_info, dict) and delivery_info.get("routing_key"):
                attributes[semconv.MESSAGING_DESTINATION_NAME] = str(delivery_info["routing_key"])
            hostname = getattr(request, "hostname", None)
            if hostname:
                attributes[semconv.MESSAGING_CLIENT_ID] = str(hostname)
            span = instrumentor.tracer.start_span(
                name, parent, kind=SpanKind.CONSUMER, attributes=attributes, links=links
            )
        attached = otel_context.attach(trace.set_span_in_context(span, parent))
        _runs[(task_id, get_ident())] = (span, attached)


def _task_postrun(
    task_id: str | None = None, retval: object = None, state: str | None = None, **_: object
) -> None:
    """End the run's span with how the run ended: a failure is an error, a retry is not (the
    task runs again), but its reason is recorded."""
    run = _runs.pop((task_id, get_ident()), None) if task_id is not None else None
    if run is None:
        return
    span, attached = run
    with internal_errors:
        try:
            if state:
                span.set_attribute(semconv.CELERY_TASK_STATE, state)
            if state == "FAILURE" and isinstance(retval, BaseException):
                _record_failure(span, retval)
            elif state == "RETRY":
                reason = getattr(retval, "exc", None)
                if isinstance(reason, BaseException):
                    span.record_exception(reason)
        finally:
            otel_context.detach(attached)
            span.end()


def _record_failure(span: Span, exc: BaseException) -> None:
    span.set_attribute(semconv.ERROR_TYPE, error_type(type(exc)))
    span.record_exception(exc)
    span.set_status(_ERROR)


def _flush_before_exit(**_: object) -> None:
    """A prefork pool process is about to ``os._exit``: export what it recorded first."""
    with internal_errors:
        import llmtrace_agent

        llmtrace_agent.flush()


# --- the broker ----------------------------------------------------------------------------------


def _broker(app: object) -> dict[str, object]:
    """messaging.system and server.address/port of ``app``'s broker (never its credentials)."""
    url = getattr(getattr(app, "conf", None), "broker_url", None)
    if isinstance(url, (list, tuple)):
        url = url[0] if url else None
    key = url if isinstance(url, str) else ""
    attributes = _broker_attributes.get(key)
    if attributes is None:
        attributes = _broker_attributes[key] = _parse_broker_url(key.split(";")[0])
    return attributes


def _parse_broker_url(url: str) -> dict[str, object]:
    parts = urlsplit(url.strip() or "amqp://")  # kombu's default transport is AMQP
    transport = parts.scheme.split("+")[0].lower() or "amqp"
    attributes: dict[str, object] = {
        semconv.MESSAGING_SYSTEM: _WELL_KNOWN_SYSTEMS.get(transport, transport)
    }
    if parts.hostname:
        attributes[semconv.SERVER_ADDRESS] = parts.hostname
        try:
            port = parts.port
        except ValueError:
            port = None
        if port:
            attributes[semconv.SERVER_PORT] = port
    return attributes
