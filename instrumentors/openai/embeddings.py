"""``embeddings.create``: an ``embeddings`` span with the request's format and dimensions and the
input token count (embeddings carry no message content in the conventions)."""

from __future__ import annotations

from llmtrace_agent.instrumentors.openai._base import OpenAIOperation
from llmtrace_agent.toolkit import genai
from llmtrace_agent.toolkit.openai_shapes.embeddings import (
    embeddings_request_attributes,
    record_embeddings_response,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from llmtrace_agent.toolkit.genai import LLMCall


class EmbeddingsOperation(OpenAIOperation):
    operation_name = "embeddings"

    def request(
        self, instance: object, kwargs: Mapping[str, object], capture: bool
    ) -> genai.Request:
        attributes = embeddings_request_attributes(kwargs)
        return self.new_request(instance, kwargs.get("model"), attributes, False)

    def record(self, call: LLMCall, response: object) -> None:
        record_embeddings_response(call, response)
