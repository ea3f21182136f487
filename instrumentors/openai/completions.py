"""The legacy ``completions.create``: a ``text_completion`` span, streamed or not."""

from __future__ import annotations

from llmtrace_agent.instrumentors.openai._base import (
    OpenAIOperation,
    is_openai,
    service_tier_attributes,
)
from llmtrace_agent.toolkit import genai, semconv
from llmtrace_agent.toolkit.openai_shapes.chat import sampling_attributes
from llmtrace_agent.toolkit.openai_shapes.choices import ChoiceOutput, ChoicesOperation
from llmtrace_agent.toolkit.readers import as_int, as_list, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


class CompletionChoiceOutput(ChoiceOutput):
    """One streamed choice's text pieces, assembled into an assistant message at the end."""

    __slots__ = ("texts",)

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, choice: object) -> None:
        text = getattr(choice, "text", None)
        if isinstance(text, str):
            self.texts.append(text)

    def message(self, finish_reason: object) -> dict[str, object]:
        parts = [genai.text_part("".join(self.texts))]
        return genai.output_message("assistant", parts, finish_reason)


class CompletionsOperation(OpenAIOperation, ChoicesOperation):
    operation_name = "text_completion"
    choice_output = CompletionChoiceOutput

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

    def output_message(self, choice: object, finish_reason: object) -> dict[str, object]:
        return genai.output_message(
            "assistant", [genai.text_part(field(choice, "text"))], finish_reason
        )
