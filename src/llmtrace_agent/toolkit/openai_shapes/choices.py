"""Responses and streamed chunks that carry ``choices`` (chat and legacy completions, in OpenAI's
shape, whichever provider sends them).

A family says how one choice becomes an output message (``output_message``) and how a streamed
choice's pieces are assembled (its ``ChoiceOutput``); reading ids, models, finish reasons per
choice index and usage is written once, here. An SDK's operation combines ``ChoicesOperation``
with its own client handling (provider, server address, which results are streams).
"""

from __future__ import annotations

from llmtrace_agent.toolkit import genai
from llmtrace_agent.toolkit.openai_shapes.usage import usage_of
from llmtrace_agent.toolkit.readers import as_list, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from llmtrace_agent.toolkit.genai import LLMCall


class ChoiceOutput:
    """One streamed choice's pieces (content capture only), assembled into a message at the end."""

    __slots__ = ()

    def add(self, choice: object) -> None:
        raise NotImplementedError

    def message(self, finish_reason: object) -> dict[str, object]:
        raise NotImplementedError


class ChoicesStreamState(genai.StreamState):
    """Accumulates chunks: id and model of the first, the finish reason per choice index, the
    usage of the final chunk (``stream_options.include_usage``) and, with capture on, each
    choice's output."""

    __slots__ = ("first", "metric_attributes", "output_class", "outputs", "reasons", "usage")

    def __init__(
        self,
        output_class: type[ChoiceOutput] | None,
        metric_attributes: Callable[[LLMCall, object], dict | None],
    ) -> None:
        self.output_class = output_class  # None: content capture is off
        self.metric_attributes = metric_attributes
        self.first: object = None
        self.usage: object = None
        self.reasons: dict[int, object] = {}
        self.outputs: dict[int, ChoiceOutput] = {}

    def on_chunk(self, chunk: object) -> None:
        # Hot path: once per chunk. Plain attribute reads first (the SDKs' pydantic chunks have
        # them all); getattr with a default only for other shapes.
        if self.first is None:
            self.first = chunk
        try:
            choices = chunk.choices  # type: ignore[attr-defined]
            usage = chunk.usage  # type: ignore[attr-defined]
        except AttributeError:
            choices = getattr(chunk, "choices", None)
            usage = getattr(chunk, "usage", None)
        if type(choices) is list:
            reasons = self.reasons
            output_class = self.output_class
            for choice in choices:
                try:
                    index = choice.index
                    reason = choice.finish_reason
                except AttributeError:
                    index = getattr(choice, "index", 0)
                    reason = getattr(choice, "finish_reason", None)
                if type(index) is not int and not isinstance(index, int):
                    index = 0
                if reason is not None or index not in reasons:
                    reasons[index] = reason
                if output_class is not None:
                    self._output(index).add(choice)
        if usage is not None:
            self.usage = usage

    def _output(self, index: int) -> ChoiceOutput:
        output = self.outputs.get(index)
        if output is None:
            output = self.outputs[index] = self.output_class()  # type: ignore[misc]
        return output

    def finish(self, call: LLMCall) -> None:
        first = self.first
        indexes = sorted(self.reasons)
        outputs = None
        if self.output_class is not None:
            outputs = [self._output(i).message(self.reasons[i]) for i in indexes]
        call.set_response(
            response_id=field(first, "id"),
            model=field(first, "model"),
            finish_reasons=[self.reasons[i] for i in indexes],
            usage=usage_of(self.usage),
            output_messages=outputs,
            metric_attributes=self.metric_attributes(call, first),
        )


class ChoicesOperation(genai.LLMOperation):
    """An endpoint whose responses carry ``choices``."""

    choice_output: type[ChoiceOutput]  # how this family's streamed choices are assembled
    stream_state_class: type[ChoicesStreamState] = ChoicesStreamState  # accumulates its chunks
    stream_types: type | tuple[type, ...] = ()  # results that are streams (none by default)

    def output_message(self, choice: object, finish_reason: object) -> dict[str, object]:
        raise NotImplementedError

    def response_metric_attributes(self, call: LLMCall, response: object) -> dict | None:
        """Provider-specific attributes read from a response (or the first chunk) that go on
        the span and the metrics; none by default."""
        return None

    def record_response(self, call: LLMCall, response: object) -> None:
        self.record(call, response)

    def record(self, call: LLMCall, response: object) -> None:
        reasons = []
        outputs: list[dict[str, object]] | None = [] if call.capture_content else None
        for choice in as_list(field(response, "choices")) or ():
            reason = field(choice, "finish_reason")
            reasons.append(reason)
            if outputs is not None:
                outputs.append(self.output_message(choice, reason))
        call.set_response(
            response_id=field(response, "id"),
            model=field(response, "model"),
            finish_reasons=reasons,
            usage=usage_of(field(response, "usage")),
            output_messages=outputs,
            metric_attributes=self.response_metric_attributes(call, response),
        )

    def stream_state(self, call: LLMCall, result: object) -> genai.StreamState | None:
        # Hot path: every call.
        if isinstance(result, self.stream_types):
            output_class = self.choice_output if call.capture_content else None
            return self.stream_state_class(output_class, self.response_metric_attributes)
        return None

    def new_stream_state(self, call: LLMCall) -> genai.StreamState:
        """The accumulator for this family's streamed chunks."""
        output_class = self.choice_output if call.capture_content else None
        return self.stream_state_class(output_class, self.response_metric_attributes)
