"""``embeddings.create``: an ``embeddings`` span with the request's format and dimensions and the
input token count (embeddings carry no message content in the conventions)."""

from __future__ import annotations

from llmtrace_agent.instrumentors.openai._base import OpenAIOperation
from llmtrace_agent.toolkit import genai, semconv
from llmtrace_agent.toolkit.openai_shapes.usage import usage_of
from llmtrace_agent.toolkit.readers import as_int, as_str, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from llmtrace_agent.toolkit.genai import LLMCall


class EmbeddingsOperation(OpenAIOperation):
    operation_name = "embeddings"

    def request(
        self, instance: object, kwargs: Mapping[str, object], capture: bool
    ) -> genai.Request:
        get = kwargs.get
        attributes: dict[str, object] = {}
        encoding_format = as_str(get("encoding_format"))
        if encoding_format:
            attributes[semconv.GEN_AI_REQUEST_ENCODING_FORMATS] = [encoding_format]
        dimensions = as_int(get("dimensions"))
        if dimensions is not None:
            attributes[semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions
        return self.new_request(instance, get("model"), attributes, False)

    def record(self, call: LLMCall, response: object) -> None:
        call.set_response(model=field(response, "model"), usage=usage_of(field(response, "usage")))
