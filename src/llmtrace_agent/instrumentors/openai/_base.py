"""What every OpenAI API family shares: the client's provider and server, raw responses, and
tolerant reads of request and response fields.

OpenAI-compatible servers send anything: every read here accepts a missing field, a null, or a
value of the wrong type, and answers None (the attribute is then skipped).
"""

from __future__ import annotations

from llmtrace_agent import genai, semconv
from llmtrace_agent.instrumentors.openai._raw import (
    AsyncRawResponseProxy,
    LegacyRawResponseProxy,
    RawResponseProxy,
)
from openai import AsyncStream, Stream
from openai._legacy_response import LegacyAPIResponse
from openai._response import APIResponse, AsyncAPIResponse
from openai.lib.azure import AsyncAzureOpenAI, AzureOpenAI

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from llmtrace_agent.genai import LLMCall, StreamState

OPENAI = "openai"
AZURE_OPENAI = "azure.ai.openai"
_AZURE_CLIENTS = (AzureOpenAI, AsyncAzureOpenAI)
_STREAMS = (Stream, AsyncStream)


class OpenAIOperation(genai.LLMOperation):
    """One openai resource method; subclasses describe a family (chat, responses…)."""

    provider_name = OPENAI

    def provider(self, instance: object) -> str:
        client = getattr(instance, "_client", None)
        return AZURE_OPENAI if isinstance(client, _AZURE_CLIENTS) else OPENAI

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

    def new_stream_state(self, call: LLMCall) -> StreamState:
        """The accumulator for this family's streamed chunks."""
        raise NotImplementedError

    def result_proxy(self, call: LLMCall, result: object) -> object | None:
        # ``with_raw_response`` returns a LegacyAPIResponse (body already read unless streamed),
        # ``with_streaming_response`` an (Async)APIResponse whose body is still on the wire.
        if isinstance(result, LegacyAPIResponse):
            if getattr(result.http_response, "is_closed", False):
                return None  # complete: record_response parses it now
            return LegacyRawResponseProxy(result, call, self)
        if isinstance(result, APIResponse):
            return RawResponseProxy(result, call, self)
        if isinstance(result, AsyncAPIResponse):
            return AsyncRawResponseProxy(result, call, self)
        return None

    def record_response(self, call: LLMCall, response: object) -> None:
        if isinstance(response, LegacyAPIResponse):
            response = parsed_now(response)
            if response is None:
                return
        self.record(call, response)

    def record(self, call: LLMCall, response: object) -> None:
        """Record a complete response of this family on ``call``."""
        raise NotImplementedError


def parsed_now(response: LegacyAPIResponse) -> object | None:
    """The parsed body of a read raw response (cached by the SDK, so the user's own ``parse()``
    returns this very object), or None when the SDK cannot parse it."""
    try:
        return response.parse()
    except Exception:  # the SDK's parse error (bad body, LengthFinishReasonError…): the user
        return None  # meets it on their own parse(); we just record no response details


def is_openai(call_or_provider: object) -> bool:
    """``openai.*`` attributes belong on ``gen_ai.provider.name=openai`` telemetry only (spec)."""
    provider = getattr(call_or_provider, "provider", call_or_provider)
    return provider == OPENAI


# --- tolerant reads ------------------------------------------------------------------------------


def field(obj: object, key: str) -> object:
    """``obj[key]`` for a mapping (the user's request params), ``obj.key`` for an SDK model."""
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def as_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def as_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_float(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def as_list(value: object) -> list | tuple | None:
    """Lists and tuples only: other iterables (a generator of messages) must not be consumed."""
    return value if isinstance(value, (list, tuple)) else None


def stop_sequences(value: object) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


_SAMPLING = (
    ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", semconv.GEN_AI_REQUEST_TOP_P),
    ("frequency_penalty", semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", semconv.GEN_AI_REQUEST_PRESENCE_PENALTY),
)


def sampling_attributes(kwargs: Mapping[str, object], attributes: dict[str, object]) -> None:
    """temperature, top_p, penalties, seed, stop sequences and choice count, where given."""
    get = kwargs.get
    for key, name in _SAMPLING:
        value = as_float(get(key))
        if value is not None:
            attributes[name] = value
    seed = as_int(get("seed"))
    if seed is not None:
        attributes[semconv.GEN_AI_REQUEST_SEED] = seed
    stop = get("stop")
    if stop is not None:
        sequences = stop_sequences(stop)
        if sequences:
            attributes[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = sequences
    choices = as_int(get("n"))
    if choices is not None and choices != 1:
        attributes[semconv.GEN_AI_REQUEST_CHOICE_COUNT] = choices


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


def usage_of(usage: object, responses_api: bool = False) -> genai.Usage | None:
    """Token counts from a chat/completions/embeddings ``usage`` (prompt_tokens…) or a
    Responses API one (input_tokens…). Cached and reasoning tokens are part of the totals."""
    if usage is None:
        return None
    if responses_api:
        return genai.Usage(
            input=field(usage, "input_tokens"),
            output=field(usage, "output_tokens"),
            cache_read=field(field(usage, "input_tokens_details"), "cached_tokens"),
            reasoning=field(field(usage, "output_tokens_details"), "reasoning_tokens"),
        )
    return genai.Usage(
        input=field(usage, "prompt_tokens"),
        output=field(usage, "completion_tokens"),
        cache_read=field(field(usage, "prompt_tokens_details"), "cached_tokens"),
        reasoning=field(field(usage, "completion_tokens_details"), "reasoning_tokens"),
    )
