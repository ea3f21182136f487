"""OpenAI's embeddings shapes: the request's format and dimensions, the response's model and
usage (embeddings carry no message content in the conventions)."""

from __future__ import annotations

from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.openai_shapes.usage import usage_of
from llmtrace_agent.toolkit.readers import as_int, as_str, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from llmtrace_agent.toolkit.genai import LLMCall


def embeddings_request_attributes(
    kwargs: Mapping[str, object], dimensions_key: str = "dimensions"
) -> dict[str, object]:
    """``encoding_format`` and the dimension count (``dimensions``, or a provider's own name for
    it), where given."""
    attributes: dict[str, object] = {}
    encoding_format = as_str(kwargs.get("encoding_format"))
    if encoding_format:
        attributes[semconv.GEN_AI_REQUEST_ENCODING_FORMATS] = [encoding_format]
    dimensions = as_int(kwargs.get(dimensions_key))
    if dimensions is not None:
        attributes[semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions
    return attributes


def record_embeddings_response(call: LLMCall, response: object) -> None:
    """The response's model and its (input) token usage."""
    call.set_response(model=field(response, "model"), usage=usage_of(field(response, "usage")))
