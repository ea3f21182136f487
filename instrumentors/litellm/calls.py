"""LiteLLM's calls in the GenAI conventions: requests and responses are OpenAI-shaped whatever the
provider, so they are read with ``llmtrace_agent.toolkit.openai_shapes``; the provider, the model
as the provider knows it and the server come from LiteLLM's own routing (``get_llm_provider``).
"""

from __future__ import annotations

import sys

from llmtrace_agent.toolkit import genai
from llmtrace_agent.toolkit.context_flags import inside_llm_call
from llmtrace_agent.toolkit.openai_shapes.chat import (
    ChatChoiceOutput,
    chat_output_message,
    chat_request_attributes,
    record_chat_input,
)
from llmtrace_agent.toolkit.openai_shapes.choices import ChoicesOperation, ChoicesStreamState
from llmtrace_agent.toolkit.openai_shapes.embeddings import (
    embeddings_request_attributes,
    record_embeddings_response,
)
from llmtrace_agent.toolkit.readers import as_int, as_str, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping
    from types import ModuleType

    from llmtrace_agent.instrumentors.litellm import LiteLLMInstrumentor
    from llmtrace_agent.toolkit.genai import LLMCall
    from llmtrace_agent.toolkit.instrumentor import Wrapper

# LiteLLM's provider names -> gen_ai.provider.name (the GenAI registry's values); others are
# recorded as LiteLLM names them (e.g. ``ollama``, ``openrouter``).
PROVIDERS = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "azure": "azure.ai.openai",
    "azure_text": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "anthropic": "anthropic",
    "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "vertex_ai_beta": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "mistral": "mistral_ai",
    "codestral": "mistral_ai",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "perplexity": "perplexity",
    "watsonx": "ibm.watsonx.ai",
    "ollama_chat": "ollama",
}
UNKNOWN_PROVIDER = "litellm"


class Route:
    """Where LiteLLM sends a call: provider, the model as the provider knows it, server."""

    __slots__ = ("address", "model", "port", "provider")

    def __init__(self, module: ModuleType, kwargs: Mapping[str, object]) -> None:
        model = kwargs.get("model")
        api_base = as_str(kwargs.get("api_base")) or as_str(kwargs.get("base_url"))
        provider = as_str(kwargs.get("custom_llm_provider"))
        try:
            model, provider, _key, api_base = module.get_llm_provider(
                model=model, custom_llm_provider=provider, api_base=api_base
            )
        except Exception:  # an unroutable model: LiteLLM itself raises for it, right after
            if isinstance(model, str) and "/" in model and provider is None:
                provider, model = model.split("/", 1)
        self.model = model
        self.provider = PROVIDERS.get(provider, provider) if provider else UNKNOWN_PROVIDER
        self.address, self.port = (
            genai.server_of(api_base) if isinstance(api_base, str) else (None, None)
        )

    def request(self, attributes: dict[str, object], stream: bool) -> genai.Request:
        return genai.Request(
            self.model, attributes, stream, self.address, self.port, provider=self.provider
        )


class LiteLLMStreamState(ChoicesStreamState):
    """OpenAI's chunk accumulator (LiteLLM's chunks are OpenAI-shaped whatever the provider)."""

    __slots__ = ()

    def finish(self, call: LLMCall) -> None:
        ChoicesStreamState.finish(self, call)
        with_cache_writes(call, self.usage)


class CompletionOperation(ChoicesOperation):
    """``completion`` / ``acompletion``: a ``ModelResponse`` or a ``CustomStreamWrapper``."""

    operation_name = "chat"
    provider_name = UNKNOWN_PROVIDER
    choice_output = ChatChoiceOutput
    stream_state_class = LiteLLMStreamState

    def __init__(self, module: ModuleType, stream_type: type) -> None:
        self.module = module
        self.stream_types = stream_type

    def request(
        self, instance: object, kwargs: Mapping[str, object], capture: bool
    ) -> genai.Request:
        attributes: dict[str, object] = {}
        chat_request_attributes(kwargs, attributes)
        if capture:
            record_chat_input(attributes, kwargs.get("messages"), kwargs.get("tools"))
        return Route(self.module, kwargs).request(attributes, kwargs.get("stream") is True)

    def output_message(self, choice: object, finish_reason: object) -> dict[str, object]:
        return chat_output_message(choice, finish_reason)

    def record(self, call: LLMCall, response: object) -> None:
        super().record(call, response)
        with_cache_writes(call, field(response, "usage"))


def with_cache_writes(call: LLMCall, usage: object) -> None:
    """LiteLLM reports prompt-cache writes (Anthropic, Bedrock) in
    ``cache_creation_input_tokens``, beside OpenAI's fields."""
    written = as_int(field(usage, "cache_creation_input_tokens"))
    if written and call.usage is not None:
        call.usage.cache_write = written


class EmbeddingOperation(genai.LLMOperation):
    """``embedding`` / ``aembedding``: an ``EmbeddingResponse`` with the input token count."""

    operation_name = "embeddings"
    provider_name = UNKNOWN_PROVIDER

    def __init__(self, module: ModuleType) -> None:
        self.module = module

    def request(
        self, instance: object, kwargs: Mapping[str, object], capture: bool
    ) -> genai.Request:
        attributes = embeddings_request_attributes(kwargs)
        return Route(self.module, kwargs).request(attributes, False)

    def record_response(self, call: LLMCall, response: object) -> None:
        record_embeddings_response(call, response)


# --- LiteLLM's own OpenTelemetry -----------------------------------------------------------------

_CALLBACK_LISTS = ("callbacks", "success_callback", "_async_success_callback")


def traces_itself(module: ModuleType) -> bool:
    """Whether the application turned on LiteLLM's OpenTelemetry callback (``"otel"``, or an
    instance of its ``OpenTelemetry`` logger or a subclass, e.g. Arize's)."""
    # Hot path: every call; the lists are short and usually empty.
    for name in _CALLBACK_LISTS:
        for callback in getattr(module, name, None) or ():
            if callback == "otel" or any(
                klass.__name__ == "OpenTelemetry" for klass in type(callback).__mro__
            ):
                return True
    return False


# --- patching ------------------------------------------------------------------------------------

# Modules whose names are the entry points: the package, its implementation, and (newer
# releases) the dispatch modules the package re-exports and calls through.
_MODULES = ("litellm", "litellm.main", "litellm.chat_completions.dispatch")
_EMBEDDING_MODULES = ("litellm", "litellm.main", "litellm.embeddings.dispatch")


def install(instrumentor: LiteLLMInstrumentor, module: ModuleType) -> None:
    """Wrap every module-level entry point LiteLLM has (present modules only: no new imports)."""
    from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper

    chat = CompletionOperation(module, CustomStreamWrapper)
    embeddings = EmbeddingOperation(module)
    entries = (
        ("completion", chat, False, ("model", "messages"), _MODULES),
        ("acompletion", chat, True, ("model", "messages"), _MODULES),
        ("embedding", embeddings, False, ("model", "input"), _EMBEDDING_MODULES),
        ("aembedding", embeddings, True, ("model", "input"), _EMBEDDING_MODULES),
    )
    for function, operation, is_async, names, modules in entries:
        make = genai.async_llm_wrapper if is_async else genai.llm_wrapper
        traced = genai.with_keywords(names, make(instrumentor, operation))
        wrapper = (async_entry if is_async else sync_entry)(module, traced)
        for name in modules:
            owner = sys.modules.get(name)
            if owner is not None and callable(getattr(owner, function, None)):
                instrumentor.wrap(owner, function, wrapper)


def sync_entry(module: ModuleType, traced: Wrapper) -> Wrapper:
    """``completion`` / ``embedding``: our span, or none when LiteLLM traces itself."""

    def wrapper(
        wrapped: Callable[..., object], instance: object, args: tuple, kwargs: dict
    ) -> object:
        # Hot path: every call.
        if kwargs.get("acompletion") is True or kwargs.get("aembedding") is True:
            return wrapped(
                *args, **kwargs
            )  # a coroutine: the async entry point it awaits traces it
        if not inside_llm_call.get() and traces_itself(module):
            token = inside_llm_call.set(True)
            try:
                return wrapped(*args, **kwargs)
            finally:
                inside_llm_call.reset(token)
        return traced(wrapped, instance, args, kwargs)

    return wrapper


def async_entry(module: ModuleType, traced: Wrapper) -> Wrapper:
    """``acompletion`` / ``aembedding``: the same for coroutines."""

    def wrapper(
        wrapped: Callable[..., Awaitable[object]], instance: object, args: tuple, kwargs: dict
    ) -> Awaitable[object]:
        if not inside_llm_call.get() and traces_itself(module):
            return _untraced(wrapped(*args, **kwargs))
        return traced(wrapped, instance, args, kwargs)  # type: ignore[return-value]

    return wrapper


async def _untraced(call: Awaitable[object]) -> object:
    token = inside_llm_call.set(True)
    try:
        return await call
    finally:
        inside_llm_call.reset(token)
