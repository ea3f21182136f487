"""What every OpenAI API family shares: the client's provider and server, raw responses, and
the ``openai.*`` attributes. Each family subclass implements ``record`` (a complete response)
and ``new_stream_state`` (its chunks)."""

from __future__ import annotations

from openai import AsyncStream, Stream
from openai._legacy_response import LegacyAPIResponse
from openai._response import APIResponse, AsyncAPIResponse
from openai.lib.azure import AsyncAzureOpenAI, AzureOpenAI

from llmtrace_agent.toolkit import genai, semconv
from llmtrace_agent.toolkit.genai.raw_response import RawResponses
from llmtrace_agent.toolkit.readers import as_str, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from llmtrace_agent.toolkit.genai import LLMCall, StreamState

OPENAI = "openai"
AZURE_OPENAI = "azure.ai.openai"
_AZURE_CLIENTS = (AzureOpenAI, AsyncAzureOpenAI)
# openai 3.x's ``OpenAI(provider=bedrock(...) | vertex(...))``: the same API served by a cloud.
_CLOUD_PROVIDERS = {"bedrock": "aws.bedrock", "vertex": "gcp.vertex_ai"}
_STREAMS = (Stream, AsyncStream)


class OpenAIOperation(genai.LLMOperation):
    """One openai resource method; subclasses describe a family (chat, responses…)."""

    provider_name = OPENAI
    # ``with_raw_response`` returns a LegacyAPIResponse (body already read unless streamed),
    # ``with_streaming_response`` an (Async)APIResponse whose body is still on the wire.
    raw_responses = RawResponses(LegacyAPIResponse, APIResponse, AsyncAPIResponse)

    def provider(self, instance: object) -> str:
        return provider_of(getattr(instance, "_client", None))

    def new_request(
        self, instance: object, model: object, attributes: dict[str, object], stream: bool
    ) -> genai.Request:
        """A ``Request`` with ``server.address`` / ``server.port`` from the client's base URL."""
        base_url = getattr(getattr(instance, "_client", None), "base_url", None)
        address, port = genai.server_of(base_url) if base_url is not None else (None, None)
        return genai.Request(model, attributes, stream, address, port)

    def stream_state(self, call: LLMCall, result: object) -> StreamState | None:
        if isinstance(result, _STREAMS):
            return self.new_stream_state(call)
        return None

    def record_response(self, call: LLMCall, response: object) -> None:
        self.record(call, response)

    def response_metric_attributes(self, call: LLMCall, response: object) -> dict | None:
        return response_metric_attributes(call, response)


def provider_of(client: object) -> str:
    """``gen_ai.provider.name`` of an openai client: Azure, a cloud runtime, or OpenAI."""
    if isinstance(client, _AZURE_CLIENTS):
        return AZURE_OPENAI
    runtime = getattr(client, "_provider_runtime", None)
    if runtime is not None:
        return _CLOUD_PROVIDERS.get(getattr(runtime, "name", None), OPENAI)  # type: ignore[arg-type]
    return OPENAI


def is_openai(call_or_provider: object) -> bool:
    """``openai.*`` attributes belong on ``gen_ai.provider.name=openai`` telemetry only (spec)."""
    provider = getattr(call_or_provider, "provider", call_or_provider)
    return provider == OPENAI


def service_tier_attributes(
    kwargs: Mapping[str, object], attributes: dict[str, object], openai: bool
) -> None:
    """``openai.request.service_tier``, when requested and not ``auto`` (spec)."""
    tier = as_str(kwargs.get("service_tier"))
    if openai and tier and tier != "auto":
        attributes[semconv.OPENAI_REQUEST_SERVICE_TIER] = tier


def response_metric_attributes(call: LLMCall, response: object) -> dict[str, object] | None:
    """``openai.response.service_tier`` and ``openai.response.system_fingerprint`` (span and
    metrics), for OpenAI itself only."""
    if not is_openai(call):
        return None
    return {
        semconv.OPENAI_RESPONSE_SERVICE_TIER: as_str(field(response, "service_tier")),
        semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: as_str(field(response, "system_fingerprint")),
    }
