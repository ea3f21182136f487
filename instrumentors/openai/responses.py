"""``responses.create`` / ``parse`` (and the ``stream()`` helper, which calls ``create``).

The Responses API has no finish reason; the span's ``gen_ai.response.finish_reasons`` holds
one, derived from the response's status: ``stop`` when completed (``tool_calls`` when the model
asked for function calls), the ``incomplete_details.reason`` when incomplete
(``max_output_tokens``, ``content_filter``), ``error`` when failed or cut short, else the status.
"""

from __future__ import annotations

import threading

from llmtrace_agent.instrumentors.openai._base import (
    OpenAIOperation,
    is_openai,
    response_metric_attributes,
    service_tier_attributes,
)
from llmtrace_agent.toolkit import genai, semconv
from llmtrace_agent.toolkit.openai_shapes import content
from llmtrace_agent.toolkit.openai_shapes.usage import usage_of
from llmtrace_agent.toolkit.readers import as_float, as_int, as_list, as_str, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from opentelemetry.trace import SpanContext

    from llmtrace_agent.toolkit.genai import LLMCall

_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
_EARLY_EVENTS = frozenset({"response.created", "response.in_progress", "response.queued"})
_TOOL_CALL_ITEMS = ("function_call", "custom_tool_call")


class ResponsesOperation(OpenAIOperation):
    operation_name = "chat"

    def request(
        self, instance: object, kwargs: Mapping[str, object], capture: bool
    ) -> genai.Request:
        get = kwargs.get
        openai = is_openai(self.provider(instance))
        attributes: dict[str, object] = {}
        if openai:
            attributes[semconv.OPENAI_API_TYPE] = "responses"
        for key, name in (
            ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
            ("top_p", semconv.GEN_AI_REQUEST_TOP_P),
        ):
            value = as_float(get(key))
            if value is not None:
                attributes[name] = value
        max_tokens = as_int(get("max_output_tokens"))
        if max_tokens is not None:
            attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
        effort = as_str(field(get("reasoning"), "effort"))
        if effort:
            attributes[semconv.GEN_AI_REQUEST_REASONING_LEVEL] = effort
        previous = as_str(get("previous_response_id"))
        if previous:
            attributes[semconv.GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID] = previous
        conversation = get("conversation")
        conversation_id = as_str(conversation) or as_str(field(conversation, "id"))
        if conversation_id:
            attributes[semconv.GEN_AI_CONVERSATION_ID] = conversation_id
        output_type = _output_type(get("text"), get("text_format"))
        if output_type:
            attributes[semconv.GEN_AI_OUTPUT_TYPE] = output_type
        service_tier_attributes(kwargs, attributes, openai)
        if capture:
            instructions, inputs = content.responses_input(get("instructions"), get("input"))
            if instructions:
                attributes[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = genai.to_json(instructions)
            if inputs:
                attributes[semconv.GEN_AI_INPUT_MESSAGES] = genai.to_json(inputs)
            tools = as_list(get("tools"))
            if tools:
                definitions = content.tool_definitions(tools)
                attributes[semconv.GEN_AI_TOOL_DEFINITIONS] = genai.to_json(definitions)
        return self.new_request(instance, get("model"), attributes, get("stream") is True)

    def record(self, call: LLMCall, response: object) -> None:
        record_response_object(call, response)

    def new_stream_state(self, call: LLMCall) -> genai.StreamState:
        return ResponsesStreamState(call.capture_content)


def record_response_object(call: LLMCall, response: object) -> None:
    """Record a complete ``Response`` (returned, or carried by the stream's final event)."""
    remember_background(call, response)
    items = as_list(field(response, "output")) or ()
    reason = finish_reason(response, items)
    outputs = None
    if call.capture_content:
        parts = [part for item in items for part in content.output_item_parts(item)]
        outputs = [genai.output_message("assistant", parts, reason)]
    conversation_id = as_str(field(field(response, "conversation"), "id"))
    call.set_response(
        response_id=field(response, "id"),
        model=field(response, "model"),
        finish_reasons=[reason],
        usage=usage_of(field(response, "usage"), responses_api=True),
        output_messages=outputs,
        attributes={semconv.GEN_AI_CONVERSATION_ID: conversation_id},
        metric_attributes=response_metric_attributes(call, response),
    )


def _output_type(text: object, text_format: object) -> str | None:
    if isinstance(text_format, type):  # responses.parse(text_format=SomeModel)
        return "json"
    kind = field(field(text, "format"), "type") if isinstance(text, dict) else None
    if kind in ("json_schema", "json_object"):
        return "json"
    return "text" if kind == "text" else None


def finish_reason(response: object, items: list | tuple) -> str:
    """The finish reason of a Responses API response (see the module docstring)."""
    status = field(response, "status")
    if status == "completed":
        if any(field(item, "type") in _TOOL_CALL_ITEMS for item in items):
            return "tool_calls"
        return "stop"
    if status == "incomplete":
        return as_str(field(field(response, "incomplete_details"), "reason")) or "incomplete"
    if status in ("failed", None) or not isinstance(status, str):
        return "error"
    return status


class ResponsesStreamState(genai.StreamState):
    """Follows the Responses event stream: the final ``response.completed`` (or incomplete /
    failed) event carries the whole response; until then, ``response.created`` gives the id
    and model, and with capture on the finished output items and text deltas are kept, so a
    stream cut short still records what arrived."""

    __slots__ = ("capture", "final", "items", "started", "text")

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.final: object = None
        self.started: object = None
        self.items: list[object] = []
        self.text: list[str] = []

    def on_chunk(self, event: object) -> None:
        # Hot path: once per event; text deltas are most of them.
        kind = getattr(event, "type", None)
        if kind == "response.output_text.delta":
            if self.capture:
                delta = getattr(event, "delta", None)
                if isinstance(delta, str):
                    self.text.append(delta)
        elif type(kind) is not str:  # an odd server's event: nothing to learn from it
            return
        elif kind in _FINAL_EVENTS:
            self.final = getattr(event, "response", None)
        elif kind in _EARLY_EVENTS:
            self.started = getattr(event, "response", None)
        elif kind == "response.output_item.done" and self.capture:
            self.items.append(getattr(event, "item", None))
            self.text.clear()  # that item's text is in the item now

    def finish(self, call: LLMCall) -> None:
        final = self.final
        if final is not None:
            record_response_object(call, final)
            return
        started = self.started  # the stream ended before its final event
        remember_background(call, started)
        outputs = None
        if self.capture:
            parts = [part for item in self.items for part in content.output_item_parts(item)]
            if self.text:
                parts.append(genai.text_part("".join(self.text)))
            outputs = [genai.output_message("assistant", parts, "error")]
        call.set_response(
            response_id=field(started, "id"),
            model=field(started, "model"),
            finish_reasons=["error"],
            output_messages=outputs,
            metric_attributes=response_metric_attributes(call, started),
        )


# --- background responses, resumed -------------------------------------------------------------

# A background response (``background=True``) runs on the server; its events can be read again
# later with ``responses.retrieve(id, stream=True, starting_after=n)`` (or ``responses.stream(
# response_id=...)``, which calls it). That resumed read gets a span of its own, linked to the
# call that started the response when this process made it: response id -> that call's span.
_BACKGROUND_CALLS: dict[str, SpanContext] = {}
_BACKGROUND_LIMIT = 1024  # the oldest are forgotten first
_background_lock = threading.Lock()


def remember_background(call: LLMCall, response: object) -> None:
    """Keep the span of a call that started a background response, for its resumptions."""
    if field(response, "background") is not True:
        return
    response_id = as_str(field(response, "id"))
    if response_id:
        context = call.span.get_span_context()
        with _background_lock:
            _BACKGROUND_CALLS.pop(response_id, None)  # the latest call with this id wins
            if len(_BACKGROUND_CALLS) >= _BACKGROUND_LIMIT:
                del _BACKGROUND_CALLS[next(iter(_BACKGROUND_CALLS))]
            _BACKGROUND_CALLS[response_id] = context


class ResumedResponseOperation(ResponsesOperation):
    """``responses.retrieve(response_id, stream=True, starting_after=...)``: the events of a
    background response, read again. The model is not known before the events tell it, so the
    span is named ``chat``; its response id is known at once; it links to the starting call."""

    def request(
        self, instance: object, kwargs: Mapping[str, object], capture: bool
    ) -> genai.Request:
        attributes: dict[str, object] = {}
        if is_openai(self.provider(instance)):
            attributes[semconv.OPENAI_API_TYPE] = "responses"
        response_id = as_str(kwargs.get("response_id"))
        started_by = None
        if response_id:
            attributes[semconv.GEN_AI_RESPONSE_ID] = response_id
            started_by = _BACKGROUND_CALLS.get(response_id)
        request = self.new_request(instance, None, attributes, True)
        if started_by is not None:
            request.links = [started_by]
        return request
