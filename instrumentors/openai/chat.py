"""``chat.completions.create`` / ``parse`` (and the ``stream()`` helper, which calls ``create``)."""

from __future__ import annotations

from llmtrace_agent.instrumentors.openai._base import (
    OpenAIOperation,
    is_openai,
    service_tier_attributes,
)
from llmtrace_agent.toolkit import genai, semconv
from llmtrace_agent.toolkit.openai_shapes.chat import (
    ChatChoiceOutput,
    chat_output_message,
    chat_request_attributes,
    record_chat_input,
)
from llmtrace_agent.toolkit.openai_shapes.choices import ChoicesOperation

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


class ChatOperation(OpenAIOperation, ChoicesOperation):
    operation_name = "chat"
    choice_output = ChatChoiceOutput

    def request(
        self, instance: object, kwargs: Mapping[str, object], capture: bool
    ) -> genai.Request:
        get = kwargs.get
        openai = is_openai(self.provider(instance))
        attributes: dict[str, object] = {}
        if openai:
            attributes[semconv.OPENAI_API_TYPE] = "chat_completions"
        chat_request_attributes(kwargs, attributes)
        service_tier_attributes(kwargs, attributes, openai)
        if capture:
            record_chat_input(attributes, get("messages"), get("tools"))
        return self.new_request(instance, get("model"), attributes, get("stream") is True)

    def output_message(self, choice: object, finish_reason: object) -> dict[str, object]:
        return chat_output_message(choice, finish_reason)
