"""The Responses API over a WebSocket (late openai 2.x, 3.x): ``client.responses.connect()``.

On a connection the app sends ``response.create`` events (``connection.response.create(...)``
or ``connection.send({...})``) and reads the server's events (``for event in connection``,
``recv()``, or ``on(...)`` handlers and ``dispatch_events()``) until the one that ends that
response. Each ``response.create`` sent is one model call: its ``chat {model}`` span starts at
the send, under the context the app sent from (never made current), is fed every event the
connection parses, and ends at ``response.completed`` / ``.failed`` / ``.incomplete`` (or
``response.done``), at an ``error`` event, when reading the socket fails, or when the
connection is closed (the app leaving the ``with`` block) with the response still in flight.

Hooks: ``send`` (every event the app sends), ``parse_event`` (every event read, whichever way),
``recv_bytes`` (a socket that fails) and ``close``. Responses are matched to their span by lane:
the server answers one ``response.create`` at a time per ``stream_id`` (None: the default lane),
so a lane's events belong to its oldest response in flight.

A ``response.steer`` may make the server start a response by itself (the steered response's
successor, inheriting its settings): that one gets a span too, opened at its ``response.created``,
under the steered response's parent, unless the server says the steering failed or waits for
the app (``response.steer.failed`` / ``.pending``).
"""

from __future__ import annotations

import functools
import sys
import weakref

from opentelemetry import context

from llmtrace_agent.instrumentors.openai._base import provider_of
from llmtrace_agent.instrumentors.openai.responses import ResponsesOperation
from llmtrace_agent.toolkit import genai, guard
from llmtrace_agent.toolkit.readers import as_int, as_str, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from llmtrace_agent.instrumentors.openai import OpenAIInstrumentor
    from llmtrace_agent.toolkit.genai import LLMCall, StreamState

# The connection's responses in flight, kept in its ``__dict__``: lane -> [_InFlight, ...].
# A lane is removed once empty: with nothing traced each received event costs one dict lookup.
_LANES = "_llmtrace_responses_in_flight"
_CLIENT = "_llmtrace_openai_client"
# The last responses ended on a connection (response id -> _InFlight), which a steer may target.
_ENDED = "_llmtrace_responses_ended"
_ENDED_LIMIT = 16
_STEER_SETTLED = frozenset({"response.steer.failed", "response.steer.pending"})
# And ``response.done``: what the WebSocket API sent as its final event before ``.completed``.
_ENDING = frozenset({"response.completed", "response.incomplete", "response.failed"})


class WebSocketResponsesOperation(ResponsesOperation):
    """A ``response.create`` event, sent on a connection (or queued on its manager before it
    opens): the request is the event's fields; the provider is the client's; the server is the
    socket's URL; no ``gen_ai.request.stream`` (a socket, not a streamed HTTP response)."""

    def provider(self, instance: object) -> str:
        return provider_of(_client_of(instance))

    def new_request(
        self, instance: object, model: object, attributes: dict[str, object], stream: bool
    ) -> genai.Request:
        socket = getattr(instance, "_connection", None)  # the websockets ClientConnection
        if socket is not None:
            url = getattr(getattr(socket, "protocol", None), "uri", None)
        else:  # the manager: the URL it will connect to
            url = instance._prepare_url()  # type: ignore[attr-defined]
        address = as_str(getattr(url, "host", None))
        port = as_int(getattr(url, "port", None))
        return genai.Request(model, attributes, False, address, port)


def _client_of(instance: object) -> object:
    """The client of a connection (kept by ``enter_wrapper``) or of its manager."""
    found = vars(instance)
    return (
        found.get(_CLIENT)
        or found.get("_ResponsesConnectionManager__client")
        or found.get("_AsyncResponsesConnectionManager__client")
    )


_operation = WebSocketResponsesOperation()


class _InFlight:
    """One response sent and not yet ended: its call and the accumulator of its events, with
    what a successor would inherit. A successor the server has yet to start has no call, only
    ``opens``, which starts it."""

    __slots__ = ("call", "fields", "lane", "opens", "parent", "response_id", "state")

    def __init__(
        self,
        call: LLMCall | None,
        fields: dict,
        lane: str | None,
        parent: context.Context,
        opens: Callable[[], LLMCall] | None = None,
    ) -> None:
        self.call = call
        self.state: StreamState | None = None if call is None else _operation.new_stream_state(call)
        self.fields = fields
        self.lane = lane
        self.parent = parent
        self.opens = opens
        self.response_id: str | None = None


# --- sending ------------------------------------------------------------------------------------


def send_wrapper(instrumentor: OpenAIInstrumentor) -> Callable[..., object]:
    """``ResponsesConnection.send`` (and the managers' ``send``, which queues an event until
    the connection opens): a ``response.create`` starts a span."""

    def wrapper(
        wrapped: Callable[..., object], instance: object, args: tuple, kwargs: dict
    ) -> object:
        started = _start(instrumentor, instance, args, kwargs)
        if started is None:
            return wrapped(*args, **kwargs)
        try:
            return wrapped(*args, **kwargs)
        except Exception as exc:
            _abandon(instance, started, exc)
            raise

    return wrapper


def async_send_wrapper(instrumentor: OpenAIInstrumentor) -> Callable[..., object]:
    """``AsyncResponsesConnection.send`` (a coroutine function)."""

    def wrapper(
        wrapped: Callable[..., Awaitable[object]], instance: object, args: tuple, kwargs: dict
    ) -> Awaitable[object]:
        started = _start(instrumentor, instance, args, kwargs)
        if started is None:
            return wrapped(*args, **kwargs)
        return _sending(wrapped(*args, **kwargs), instance, started)

    return wrapper


async def _sending(sent: Awaitable[object], connection: object, started: _InFlight) -> object:
    try:
        return await sent
    except Exception as exc:
        _abandon(connection, started, exc)
        raise


def _start(
    instrumentor: OpenAIInstrumentor, connection: object, args: tuple, kwargs: dict
) -> _InFlight | None:
    """The span of a ``response.create`` event about to be sent (None for any other event)."""
    event = args[0] if args else kwargs.get("event")
    kind = field(event, "type")
    if kind != "response.create":
        if kind == "response.steer":
            with guard.internal_errors:
                _expect_successor(instrumentor, connection, event)
        return None
    with guard.internal_errors:
        fields = event if isinstance(event, dict) else dict(event)  # type: ignore[call-overload]
        call = _open_call(instrumentor, *_describe(instrumentor, connection, fields))
        lane = as_str(fields.get("stream_id"))
        started = _InFlight(call, fields, lane, context.get_current())
        # Registered before the send: the answer may be read on another thread at once.
        _lanes_of(connection).setdefault(lane, []).append(started)
        return started
    return None


def _describe(
    instrumentor: OpenAIInstrumentor, connection: object, fields: dict
) -> tuple[str, genai.Request]:
    capture = instrumentor.config.capture_content
    return _operation.provider(connection), _operation.request(connection, fields, capture)


def _open_call(instrumentor: OpenAIInstrumentor, provider: str, request: genai.Request) -> LLMCall:
    return genai.LLMCall(instrumentor.tracer, _operation.operation_name, provider, request)


def _expect_successor(instrumentor: OpenAIInstrumentor, connection: object, event: object) -> None:
    """A ``response.steer`` sent: the server may start the steered response's successor."""
    target = as_str(field(event, "previous_response_id"))
    lanes = _lanes_of(connection)
    steered = next(
        (one for lane in lanes.values() for one in lane if one.response_id == target), None
    ) or vars(connection).get(_ENDED, {}).get(target)
    if steered is None:
        return
    waiting = lanes.setdefault(steered.lane, [])
    if any(one.call is None for one in waiting):
        return  # one successor takes all the input queued until it starts
    fields = {**steered.fields, "input": field(event, "input"), "previous_response_id": target}
    # Described now (the connection is not kept: the finalizer holds the lanes), opened later.
    opens = functools.partial(
        _open_call, instrumentor, *_describe(instrumentor, connection, fields)
    )
    waiting.append(_InFlight(None, fields, steered.lane, steered.parent, opens))


def _lanes_of(owner: object) -> dict[str | None, list[_InFlight]]:
    """The responses in flight on a connection (or queued on a manager), created at need."""
    lanes = vars(owner).get(_LANES)
    if lanes is None:
        lanes = vars(owner)[_LANES] = {}
        # Dropped unclosed (or never entered): its responses in flight end when it is collected.
        weakref.finalize(owner, _end_lanes, lanes, None, None)
    return lanes


def _abandon(connection: object, started: _InFlight, error: BaseException) -> None:
    """The send failed: that response never went out."""
    with guard.internal_errors:
        for in_flight in vars(connection).get(_LANES, {}).values():
            if started in in_flight:
                in_flight.remove(started)
        started.call.end(error)  # type: ignore[union-attr]


# --- opening -------------------------------------------------------------------------------------


def enter_wrapper(
    wrapped: Callable[..., object], instance: object, args: tuple, kwargs: dict
) -> object:
    """The managers' ``__enter__`` / ``enter``: the new connection learns its client and takes
    over the responses queued on the manager (sent as it opened)."""
    try:
        connection = wrapped(*args, **kwargs)
    except Exception as exc:
        end_all(instance, exc)
        raise
    _adopt(instance, connection)
    return connection


def async_enter_wrapper(
    wrapped: Callable[..., Awaitable[object]], instance: object, args: tuple, kwargs: dict
) -> Awaitable[object]:
    """The async managers' ``__aenter__`` / ``enter``."""
    return _entering(wrapped(*args, **kwargs), instance)


async def _entering(entered: Awaitable[object], manager: object) -> object:
    try:
        connection = await entered
    except Exception as exc:
        end_all(manager, exc)
        raise
    _adopt(manager, connection)
    return connection


def _adopt(manager: object, connection: object) -> None:
    with guard.internal_errors:
        vars(connection)[_CLIENT] = _client_of(manager)
        queued = vars(manager).get(_LANES)
        if queued:
            lanes = _lanes_of(connection)
            for lane, in_flight in queued.items():
                lanes.setdefault(lane, []).extend(in_flight)
            queued.clear()


# --- receiving ----------------------------------------------------------------------------------


def parse_event_wrapper(
    wrapped: Callable[..., object], instance: object, args: tuple, kwargs: dict
) -> object:
    """``parse_event``: every event read from the connection passes here (``recv()``,
    iteration and ``dispatch_events`` call it)."""
    # Hot path: every event received.
    event = wrapped(*args, **kwargs)
    lanes = instance.__dict__.get(_LANES)
    if lanes:
        with guard.internal_errors:
            _received(instance, lanes, event)
    return event


def _received(connection: object, lanes: dict[str | None, list[_InFlight]], event: object) -> None:
    kind = getattr(event, "type", None)
    if kind in _STEER_SETTLED:  # no successor will start by itself
        _forget_successors(lanes)
        return
    lane = getattr(event, "stream_id", None)
    in_flight = lanes.get(lane)
    if not in_flight:
        return
    if kind in _ENDING or kind == "response.done":
        found = _owner(in_flight, as_str(field(getattr(event, "response", None), "id")))
        if found is not None:
            _remove(lanes, lane, found)
            found.state.on_chunk(event)  # type: ignore[union-attr]
            if kind == "response.done":  # an older server's final event: same ``response``
                found.state.final = getattr(event, "response", None)  # type: ignore[union-attr]
            _finish(found)
            _remember(connection, found)
        return
    if kind == "error":
        found = _owner(in_flight, None)
        if found is not None:
            _remove(lanes, lane, found)
            _finish(found, error_type=_error_type(event))
        return
    current = in_flight[0]
    if kind == "response.created" and current.response_id is None:
        current.response_id = as_str(field(getattr(event, "response", None), "id"))
        if current.call is None:  # the successor of a steered response, started by the server
            _open_successor(current)
    call = current.call
    if call is not None:
        call.mark_first_chunk()
        current.state.on_chunk(event)  # type: ignore[union-attr]


def _owner(in_flight: list[_InFlight], response_id: str | None) -> _InFlight | None:
    """The response an event about ``response_id`` ends: the one with that id, else the oldest
    started (None: only a successor not started yet)."""
    if response_id is not None:
        for candidate in in_flight:
            if candidate.response_id == response_id and candidate.call is not None:
                return candidate
    return next((candidate for candidate in in_flight if candidate.call is not None), None)


def _remove(lanes: dict[str | None, list[_InFlight]], lane: str | None, ended: _InFlight) -> None:
    in_flight = lanes[lane]
    in_flight.remove(ended)
    if not in_flight:
        del lanes[lane]  # so an idle connection's events cost one lookup


def _open_successor(successor: _InFlight) -> None:
    token = context.attach(successor.parent)
    try:
        successor.call = successor.opens()  # type: ignore[misc]
    finally:
        context.detach(token)
    successor.state = _operation.new_stream_state(successor.call)
    successor.opens = None


def _forget_successors(lanes: dict[str | None, list[_InFlight]]) -> None:
    for lane, in_flight in list(lanes.items()):
        in_flight[:] = [one for one in in_flight if one.call is not None]
        if not in_flight:
            del lanes[lane]


def _remember(connection: object, ended: _InFlight) -> None:
    """Keep an ended response a little while: a steer may still target it (the server can
    start a successor after a completed response)."""
    if ended.response_id is None:
        return
    ended.call = ended.state = None  # only what a successor inherits is kept
    recent = vars(connection).setdefault(_ENDED, {})
    if len(recent) >= _ENDED_LIMIT:
        del recent[next(iter(recent))]
    recent[ended.response_id] = ended


def _error_type(event: object) -> str:
    """``error.type`` of an ``error`` event: its HTTP status, else its code or kind."""
    status = as_int(getattr(event, "status", None))
    if status is not None and status >= 400:
        return str(status)
    error = getattr(event, "error", None)
    return as_str(field(error, "code")) or as_str(field(error, "type")) or "error"


def _finish(
    in_flight: _InFlight, error: BaseException | None = None, error_type: str | None = None
) -> None:
    call = in_flight.call
    if call is None or call.ended:  # a successor never started: no model call
        return
    try:
        in_flight.state.finish(call)  # type: ignore[union-attr]
    finally:
        call.end(error, error_type)


def recv_bytes_wrapper(
    wrapped: Callable[..., object], instance: object, args: tuple, kwargs: dict
) -> object:
    """``recv_bytes`` (sync): a socket that fails ends the responses still in flight."""
    # Hot path: every event received.
    if not instance.__dict__.get(_LANES):
        return wrapped(*args, **kwargs)
    try:
        return wrapped(*args, **kwargs)
    except Exception as exc:  # not BaseException: an interrupted read may be retried
        end_all(instance, exc)
        raise


def async_recv_bytes_wrapper(
    wrapped: Callable[..., Awaitable[object]], instance: object, args: tuple, kwargs: dict
) -> Awaitable[object]:
    """``recv_bytes`` (async); a cancelled read (``CancelledError``) leaves the spans open."""
    # Hot path: every event received.
    if not instance.__dict__.get(_LANES):
        return wrapped(*args, **kwargs)
    return _receiving(wrapped(*args, **kwargs), instance)


async def _receiving(received: Awaitable[object], connection: object) -> object:
    try:
        return await received
    except Exception as exc:
        end_all(connection, exc)
        raise


# --- closing ------------------------------------------------------------------------------------


def close_wrapper(
    wrapped: Callable[..., object], instance: object, args: tuple, kwargs: dict
) -> object:
    """``close`` (sync, and async: the spans end as the close starts). Responses still in
    flight end with the exception the app is leaving with, if any (``with`` exits close the
    connection), else with finish reason ``error``."""
    if instance.__dict__.get(_LANES):
        end_all(instance, sys.exc_info()[1])
    return wrapped(*args, **kwargs)


def end_all(connection: object, error: BaseException | None) -> None:
    """End every response in flight on ``connection``."""
    with guard.internal_errors:
        lanes = vars(connection).get(_LANES)
        if not lanes:
            return
        _end_lanes(lanes, error, _socket_error_type(error))


def _end_lanes(
    lanes: dict[str | None, list[_InFlight]],
    error: BaseException | None,
    error_type: str | None,
) -> None:
    ending = [in_flight for lane in lanes.values() for in_flight in lane]
    lanes.clear()
    for in_flight in ending:
        with guard.internal_errors:
            _finish(in_flight, error, error_type)


def _socket_error_type(error: BaseException | None) -> str | None:
    """The class of a ``websockets`` exception (``ConnectionClosedError``…), named without
    reading its deprecated ``code`` (which warns), as the generic ``error.type`` would."""
    cls = type(error)
    if error is None or not cls.__module__.startswith("websockets."):
        return None
    return f"{cls.__module__}.{cls.__qualname__}"
