"""LlamaIndex's model and embedding calls: offered to the provider instrumentor underneath, with a
framework span only when none took them.

Every LLM and embedding class (``OpenAI``, ``MockLLM``, ``OpenAIEmbedding``…) has its own
``chat``/``complete``/``stream_chat``… methods, so each class's own methods are wrapped: those of
the classes already defined at install, and of each class defined later (LlamaIndex's
``DispatcherSpanMixin.__init_subclass__``, which every component class goes through). The wrapper
is the function boundary the offer needs: it is open while the method runs and, for a stream,
around each step of the generator it returned (``_streams``), where the provider's request is
actually made. A call inside another (``chat`` built on ``complete``) belongs to the outer one.
"""

from __future__ import annotations

import inspect
from functools import partial

from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind

from llmtrace_agent.instrumentors.llama_index._describe import model_of, provider_of
from llmtrace_agent.instrumentors.llama_index._handler import agent_name
from llmtrace_agent.instrumentors.llama_index._streams import follow, in_model_call
from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.genai import agent_spans
from llmtrace_agent.toolkit.genai.content import message, output_message, text_part, to_json
from llmtrace_agent.toolkit.genai.delegation import MODEL_CALL, Offer, reoffer
from llmtrace_agent.toolkit.guard import internal_errors
from llmtrace_agent.toolkit.readers import as_int, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry import trace

    from llmtrace_agent.toolkit.instrumentor import Instrumentor, Wrapper

LLM_METHODS = {
    "chat": "chat",
    "achat": "chat",
    "stream_chat": "chat",
    "astream_chat": "chat",
    "complete": "text_completion",
    "acomplete": "text_completion",
    "stream_complete": "text_completion",
    "astream_complete": "text_completion",
}
EMBEDDING_METHODS = {
    name: "embeddings"
    for name in (
        "get_query_embedding",
        "aget_query_embedding",
        "get_text_embedding",
        "aget_text_embedding",
        "get_text_embedding_batch",
        "aget_text_embedding_batch",
    )
}


class ModelCall:
    """One model or embedding call a LlamaIndex class makes: its offer and its caller's context."""

    __slots__ = ("capture", "context", "instance", "offer", "operation", "request")

    def __init__(
        self, instance: object, operation: str, args: tuple[object, ...], capture: bool
    ) -> None:
        attributes: dict[str, object] = {}
        name = agent_name()
        if name:
            attributes[semconv.GEN_AI_AGENT_NAME] = name
        self.instance = instance
        self.operation = operation
        self.offer = Offer(MODEL_CALL, attributes)
        self.context = otel_context.get_current()
        # The messages or prompt, kept only for a framework span's content (capture on).
        self.capture = capture and operation != "embeddings"  # vectors are no content
        self.request = args[0] if args and self.capture else None

    def finish(self, tracer: trace.Tracer, error: BaseException | None, response: object) -> None:
        """The framework's own model span, only when no provider instrumentor took the call."""
        if self.offer.taken:
            return
        instance = self.instance
        model = model_of(instance)
        attributes: dict[str, object] = {
            semconv.GEN_AI_OPERATION_NAME: self.operation,
            semconv.GEN_AI_PROVIDER_NAME: provider_of(instance),
            **self.offer.attributes,
        }
        if model:
            attributes[semconv.GEN_AI_REQUEST_MODEL] = model
        attributes.update(_usage(response))
        if self.capture:
            attributes.update(_content(self.request, response))
        name = f"{self.operation} {model}" if model else self.operation
        span = tracer.start_span(
            name, self.context, SpanKind.CLIENT, attributes, start_time=self.offer.started_ns
        )
        agent_spans.end_span(span, error)


def wrap_class(instrumentor: Instrumentor, cls: type, methods: dict[str, str]) -> None:
    """Wrap the model methods ``cls`` defines itself (inherited ones are wrapped on their own
    class)."""
    own = cls.__dict__
    for name, operation in methods.items():
        function = own.get(name)
        if function is None or not callable(function):
            continue
        if inspect.iscoroutinefunction(function):
            wrapper = async_wrapper(instrumentor, operation)
        else:
            wrapper = sync_wrapper(instrumentor, operation)
        instrumentor.wrap(cls, name, wrapper)


def sync_wrapper(instrumentor: Instrumentor, operation: str) -> Wrapper:
    """For ``chat``, ``complete``, ``stream_chat``… and the embedding methods."""
    tracer = instrumentor.tracer

    def wrapper(
        wrapped: Callable[..., object],
        instance: object,
        args: tuple[object, ...],
        kwargs: dict[str, object],
    ) -> object:
        # Hot path: every model call.
        if in_model_call.get() or not instrumentor.active:
            return wrapped(*args, **kwargs)
        call = None
        with internal_errors:
            call = ModelCall(instance, operation, args, instrumentor.config.capture_content)
        if call is None:
            return wrapped(*args, **kwargs)
        flag = in_model_call.set(True)
        try:
            with reoffer(call.offer):
                result = wrapped(*args, **kwargs)
        except BaseException as exc:
            with internal_errors:
                call.finish(tracer, exc, None)
            raise
        finally:
            in_model_call.reset(flag)
        return _finish(tracer, call, result)

    return wrapper


def async_wrapper(instrumentor: Instrumentor, operation: str) -> Wrapper:
    """For ``achat``, ``astream_chat``… and the async embedding methods."""
    tracer = instrumentor.tracer

    def wrapper(
        wrapped: Callable[..., object],
        instance: object,
        args: tuple[object, ...],
        kwargs: dict[str, object],
    ) -> object:
        # Hot path: every model call.
        if in_model_call.get() or not instrumentor.active:
            return wrapped(*args, **kwargs)
        capture = instrumentor.config.capture_content
        return _call_async(tracer, operation, capture, wrapped, instance, args, kwargs)

    return wrapper


async def _call_async(
    tracer: trace.Tracer,
    operation: str,
    capture: bool,
    wrapped: Callable[..., object],
    instance: object,
    args: tuple[object, ...],
    kwargs: dict[str, object],
) -> object:
    call = None
    with internal_errors:
        call = ModelCall(instance, operation, args, capture)
    if call is None:
        return await wrapped(*args, **kwargs)  # type: ignore[misc]
    flag = in_model_call.set(True)
    try:
        with reoffer(call.offer):
            result = await wrapped(*args, **kwargs)  # type: ignore[misc]
    except BaseException as exc:
        with internal_errors:
            call.finish(tracer, exc, None)
        raise
    finally:
        in_model_call.reset(flag)
    return _finish(tracer, call, result)


def _finish(tracer: trace.Tracer, call: ModelCall, result: object) -> object:
    """``result`` itself, or for a stream the proxy that finishes the call at its end."""
    with internal_errors:
        proxy = follow(result, call.context, partial(_finish_stream, tracer, call), call.offer)
        if proxy is not None:
            return proxy
        call.finish(tracer, None, result)
    return result


def _finish_stream(
    tracer: trace.Tracer, call: ModelCall, error: BaseException | None, last: object
) -> None:
    call.finish(tracer, error, last)


def _content(request: object, response: object) -> dict[str, object]:
    """``gen_ai.input.messages`` / ``gen_ai.output.messages`` of a framework model span: the
    ChatMessages (or the prompt) it was given, the text LlamaIndex answered (clipped)."""
    found: dict[str, object] = {}
    if isinstance(request, str):
        found[semconv.GEN_AI_INPUT_MESSAGES] = to_json([message("user", [text_part(request)])])
    elif isinstance(request, (list, tuple)):
        messages = [
            message(_role(getattr(item, "role", None)), [text_part(getattr(item, "content", ""))])
            for item in request
        ]
        found[semconv.GEN_AI_INPUT_MESSAGES] = to_json(messages)
    answer = getattr(getattr(response, "message", None), "content", None)
    if answer is None:
        answer = getattr(response, "text", None)
    if isinstance(answer, str):
        output = output_message("assistant", [text_part(answer)], "stop")
        found[semconv.GEN_AI_OUTPUT_MESSAGES] = to_json([output])
    return found


def _role(role: object) -> str:
    value = getattr(role, "value", role)
    return value if isinstance(value, str) else "user"


def _usage(response: object) -> dict[str, object]:
    """Token counts a response reports (its raw provider response, or LlamaIndex's
    ``additional_kwargs``)."""
    if response is None:
        return {}
    usage = field(getattr(response, "raw", None), "usage")
    if usage is None:
        usage = getattr(response, "additional_kwargs", None)
    found: dict[str, object] = {}
    input_tokens = as_int(field(usage, "prompt_tokens")) if usage is not None else None
    output_tokens = as_int(field(usage, "completion_tokens")) if usage is not None else None
    if input_tokens is not None:
        found[semconv.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
    if output_tokens is not None:
        found[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
    return found
