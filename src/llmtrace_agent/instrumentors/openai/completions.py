"""The legacy ``completions.create``: a ``text_completion`` span, streamed or not."""

from __future__ import annotations

from llmtrace_agent import genai, semconv
from llmtrace_agent.instrumentors.openai._base import (
    OpenAIOperation,
    as_int,
    as_list,
    field,
    is_openai,
    response_metric_attributes,
    sampling_attributes,
    service_tier_attributes,
    usage_of,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from llmtrace_agent.genai import LLMCall


class CompletionsOperation(OpenAIOperation):
    operation_name = "text_completion"

    def request(
        self, instance: object, kwargs: Mapping[str, object], capture: bool
    ) -> genai.Request:
        get = kwargs.get
        attributes: dict[str, object] = {}
        sampling_attributes(kwargs, attributes)
        max_tokens = as_int(get("max_tokens"))
        if max_tokens is not None:
            attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
        service_tier_attributes(kwargs, attributes, is_openai(self.provider(instance)))
        if capture:
            prompt = get("prompt")
            prompts = [prompt] if isinstance(prompt, str) else as_list(prompt) or ()
            texts = [text for text in prompts if isinstance(text, str)]  # not token-id arrays
            if texts:
                inputs = [genai.message("user", [genai.text_part(text)]) for text in texts]
                attributes[semconv.GEN_AI_INPUT_MESSAGES] = genai.to_json(inputs)
        return self.new_request(instance, get("model"), attributes, get("stream") is True)

    def record(self, call: LLMCall, response: object) -> None:
        reasons = []
        outputs: list[dict[str, object]] | None = [] if call.capture_content else None
        for choice in as_list(field(response, "choices")) or ():
            reason = field(choice, "finish_reason")
            reasons.append(reason)
            if outputs is not None:
                parts = [genai.text_part(field(choice, "text"))]
                outputs.append(genai.output_message("assistant", parts, reason))
        call.set_response(
            response_id=field(response, "id"),
            model=field(response, "model"),
            finish_reasons=reasons,
            usage=usage_of(field(response, "usage")),
            output_messages=outputs,
            metric_attributes=response_metric_attributes(call, response),
        )

    def new_stream_state(self, call: LLMCall) -> genai.StreamState:
        return CompletionStreamState(call.capture_content)


class CompletionStreamState(genai.StreamState):
    """Accumulates streamed ``Completion`` chunks: finish reason and text per choice index."""

    __slots__ = ("capture", "first", "reasons", "texts", "usage")

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.first: object = None
        self.usage: object = None
        self.reasons: dict[int, object] = {}
        self.texts: dict[int, list[str]] = {}

    def on_chunk(self, chunk: object) -> None:
        # Hot path: once per chunk.
        if self.first is None:
            self.first = chunk
        choices = getattr(chunk, "choices", None)
        if type(choices) is list:
            reasons = self.reasons
            for choice in choices:
                index = getattr(choice, "index", 0)
                if not isinstance(index, int):
                    index = 0
                reason = getattr(choice, "finish_reason", None)
                if reason is not None or index not in reasons:
                    reasons[index] = reason
                if self.capture:
                    text = getattr(choice, "text", None)
                    if isinstance(text, str):
                        self.texts.setdefault(index, []).append(text)
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage

    def finish(self, call: LLMCall) -> None:
        indexes = sorted(self.reasons)
        outputs = None
        if self.capture:
            outputs = [
                genai.output_message(
                    "assistant",
                    [genai.text_part("".join(self.texts.get(i, ())))],
                    self.reasons[i],
                )
                for i in indexes
            ]
        call.set_response(
            response_id=field(self.first, "id"),
            model=field(self.first, "model"),
            finish_reasons=[self.reasons[i] for i in indexes],
            usage=usage_of(self.usage),
            output_messages=outputs,
            metric_attributes=response_metric_attributes(call, self.first),
        )
