"""The Ollama API (``/api/chat``, ``/api/generate``, ``/api/embed``) in the GenAI conventions.

Ollama has no registered ``gen_ai.provider.name``: the spec says to use a custom value then, and
``ollama`` is the one every peer uses. ``generate`` takes a prompt, not messages: the spec's
``text_completion`` operation. Ollama sends no response id; its ``done_reason`` is the finish
reason and ``prompt_eval_count`` / ``eval_count`` the input and output tokens (on the final,
``done`` line of a stream). Sampling parameters come from ``options`` (a dict or ``Options``).
Images are never recorded, even with content capture: a placeholder part stands in for each.
"""

from __future__ import annotations

import types

from llmtrace_agent.toolkit import genai, semconv
from llmtrace_agent.toolkit.genai import (
    blob_part,
    message,
    output_message,
    reasoning_part,
    text_part,
    to_json,
    tool_call_part,
    tool_call_response_part,
)
from llmtrace_agent.toolkit.readers import as_float, as_int, as_list, as_str, as_str_list, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import ModuleType

    from llmtrace_agent.instrumentors.ollama import OllamaInstrumentor
    from llmtrace_agent.toolkit.genai import LLMCall

OLLAMA = "ollama"
_STREAMS = (types.GeneratorType, types.AsyncGeneratorType)
_OPTIONS = (
    ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE, as_float),
    ("top_p", semconv.GEN_AI_REQUEST_TOP_P, as_float),
    ("top_k", semconv.GEN_AI_REQUEST_TOP_K, as_float),
    ("frequency_penalty", semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY, as_float),
    ("presence_penalty", semconv.GEN_AI_REQUEST_PRESENCE_PENALTY, as_float),
    ("num_predict", semconv.GEN_AI_REQUEST_MAX_TOKENS, as_int),
    ("seed", semconv.GEN_AI_REQUEST_SEED, as_int),
)

Part = dict[str, object]


# --- request -------------------------------------------------------------------------------------


class OllamaOperation(genai.LLMOperation):
    """What chat, generate and embed share: provider, server, sampling options."""

    provider_name = OLLAMA

    def new_request(
        self, instance: object, kwargs: Mapping[str, object], attributes: dict[str, object]
    ) -> genai.Request:
        options = kwargs.get("options")
        if options is not None:
            for key, name, read in _OPTIONS:
                value = read(field(options, key))
                if value is not None and value != -1:  # num_predict -1: no limit
                    attributes[name] = value
            stop = as_str_list(field(options, "stop"))
            if stop:
                attributes[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = stop
        base_url = getattr(getattr(instance, "_client", None), "base_url", None)
        address, port = genai.server_of(base_url) if base_url is not None else (None, None)
        stream = kwargs.get("stream") is True
        return genai.Request(kwargs.get("model"), attributes, stream, address, port)

    def stream_state(self, call: LLMCall, result: object) -> genai.StreamState | None:
        return (
            OllamaStreamState(self, call.capture_content) if isinstance(result, _STREAMS) else None
        )

    def record_response(self, call: LLMCall, response: object) -> None:
        self.record(call, response, None)

    def record(self, call: LLMCall, response: object, streamed: list[Part] | None) -> None:
        """Record the response (or a stream's final line, with its assembled output parts)."""
        reason = field(response, "done_reason")
        outputs = None
        if call.capture_content:
            parts = streamed if streamed is not None else self.output_parts(response)
            outputs = [output_message("assistant", parts, reason)]
        call.set_response(
            model=field(response, "model"),
            finish_reasons=[reason] if reason is not None else None,
            usage=usage_of(response),
            output_messages=outputs,
        )

    def output_parts(self, response: object) -> list[Part]:
        return []

    def output_pieces(self, chunk: object) -> tuple[object, object, object]:
        """(text, thinking, tool calls) of one streamed line."""
        return None, None, None


def usage_of(response: object) -> genai.Usage | None:
    prompt, output = field(response, "prompt_eval_count"), field(response, "eval_count")
    if prompt is None and output is None:
        return None
    return genai.Usage(input=prompt, output=output)


def _reasoning_level(think: object) -> str | None:
    return think if isinstance(think, str) and think else None


def _output_type(format: object) -> str | None:
    return "json" if format == "json" or isinstance(format, dict) else None


class ChatOperation(OllamaOperation):
    operation_name = "chat"

    def request(
        self, instance: object, kwargs: Mapping[str, object], capture: bool
    ) -> genai.Request:
        attributes: dict[str, object] = {}
        _common_attributes(kwargs, attributes)
        if capture:
            instructions, inputs = chat_input(as_list(kwargs.get("messages")) or ())
            if instructions:
                attributes[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = to_json(instructions)
            attributes[semconv.GEN_AI_INPUT_MESSAGES] = to_json(inputs)
            tools = as_list(kwargs.get("tools"))
            if tools:
                attributes[semconv.GEN_AI_TOOL_DEFINITIONS] = to_json(tool_definitions(tools))
        return self.new_request(instance, kwargs, attributes)

    def output_parts(self, response: object) -> list[Part]:
        chat_message = field(response, "message")
        parts: list[Part] = []
        _add_output(
            parts,
            field(chat_message, "content"),
            field(chat_message, "thinking"),
            field(chat_message, "tool_calls"),
        )
        return parts

    def output_pieces(self, chunk: object) -> tuple[object, object, object]:
        chat_message = getattr(chunk, "message", None)
        return (
            getattr(chat_message, "content", None),
            getattr(chat_message, "thinking", None),
            getattr(chat_message, "tool_calls", None),
        )


class GenerateOperation(OllamaOperation):
    operation_name = "text_completion"

    def request(
        self, instance: object, kwargs: Mapping[str, object], capture: bool
    ) -> genai.Request:
        attributes: dict[str, object] = {}
        _common_attributes(kwargs, attributes)
        if capture:
            system = kwargs.get("system")
            if isinstance(system, str) and system:
                attributes[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = to_json([text_part(system)])
            parts: list[Part] = []
            prompt = kwargs.get("prompt")
            if isinstance(prompt, str):
                parts.append(text_part(prompt))
            parts.extend(_image(image) for image in as_list(kwargs.get("images")) or ())
            if parts:
                attributes[semconv.GEN_AI_INPUT_MESSAGES] = to_json([message("user", parts)])
        return self.new_request(instance, kwargs, attributes)

    def output_parts(self, response: object) -> list[Part]:
        parts: list[Part] = []
        _add_output(parts, field(response, "response"), field(response, "thinking"), None)
        return parts

    def output_pieces(self, chunk: object) -> tuple[object, object, object]:
        return getattr(chunk, "response", None), getattr(chunk, "thinking", None), None


class EmbedOperation(OllamaOperation):
    """``embed`` and the older ``embeddings`` (which reports no token count)."""

    operation_name = "embeddings"

    def request(
        self, instance: object, kwargs: Mapping[str, object], capture: bool
    ) -> genai.Request:
        attributes: dict[str, object] = {}
        dimensions = as_int(kwargs.get("dimensions"))
        if dimensions is not None:
            attributes[semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions
        return self.new_request(instance, kwargs, attributes)

    def record_response(self, call: LLMCall, response: object) -> None:
        call.set_response(model=field(response, "model"), usage=usage_of(response))


def _common_attributes(kwargs: Mapping[str, object], attributes: dict[str, object]) -> None:
    level = _reasoning_level(kwargs.get("think"))
    if level:
        attributes[semconv.GEN_AI_REQUEST_REASONING_LEVEL] = level
    output_type = _output_type(kwargs.get("format"))
    if output_type:
        attributes[semconv.GEN_AI_OUTPUT_TYPE] = output_type


# --- content -------------------------------------------------------------------------------------


def chat_input(messages: list | tuple) -> tuple[list[Part], list[dict[str, object]]]:
    """(system instruction parts, input messages) of Ollama chat ``messages``."""
    instructions: list[Part] = []
    inputs: list[dict[str, object]] = []
    for item in messages:
        role = field(item, "role")
        content = field(item, "content")
        if role == "system":
            if isinstance(content, str):
                instructions.append(text_part(content))
        elif role == "tool":
            part = tool_call_response_part(None, content)
            inputs.append(message("tool", [part], field(item, "tool_name")))
        else:
            parts: list[Part] = []
            _add_output(parts, content, field(item, "thinking"), field(item, "tool_calls"))
            parts.extend(_image(image) for image in as_list(field(item, "images")) or ())
            inputs.append(message(role, parts))
    return instructions, inputs


def _add_output(parts: list[Part], text: object, thinking: object, tool_calls: object) -> None:
    if isinstance(thinking, str) and thinking:
        parts.append(reasoning_part(thinking))
    if isinstance(text, str) and text:
        parts.append(text_part(text))
    for tool_call in as_list(tool_calls) or ():
        function = field(tool_call, "function")
        arguments = field(function, "arguments")
        if arguments is not None and not isinstance(arguments, (dict, str)):
            arguments = dict(arguments)  # type: ignore[call-overload]
        parts.append(tool_call_part(None, field(function, "name"), arguments))


def tool_definitions(tools: list | tuple) -> list[Part]:
    """Type, name and description of each tool: a dict or ``Tool`` in OpenAI's function shape,
    or a Python function (which the SDK turns into a tool from its signature and docstring)."""
    definitions: list[Part] = []
    for tool in tools:
        if callable(tool) and not isinstance(tool, dict):
            name = getattr(tool, "__name__", None)
            doc = (getattr(tool, "__doc__", None) or "").strip().split("\n", 1)[0]
            definition: Part = {"type": "function", "name": name}
            if doc:
                definition["description"] = genai.clip(doc)
        else:
            function = field(tool, "function")
            definition = {
                "type": as_str(field(tool, "type")) or "function",
                "name": as_str(field(function, "name")),
            }
            description = as_str(field(function, "description"))
            if description:
                definition["description"] = genai.clip(description)
        definitions.append(definition)
    return definitions


# --- streams -------------------------------------------------------------------------------------


class OllamaStreamState(genai.StreamState):
    """The model of the first line and the last (``done``) line, which has the finish reason and
    the counts; with capture on, the text, thinking and tool calls of every line."""

    __slots__ = ("capture", "first", "last", "operation", "text", "thinking", "tool_calls")

    def __init__(self, operation: OllamaOperation, capture: bool) -> None:
        self.operation = operation
        self.capture = capture
        self.first: object = None
        self.last: object = None
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.tool_calls: list[object] = []

    def on_chunk(self, chunk: object) -> None:
        # Hot path: once per streamed line.
        if self.first is None:
            self.first = chunk
        if getattr(chunk, "done", None) is True:
            self.last = chunk
        if self.capture:
            text, thinking, tool_calls = self.operation.output_pieces(chunk)
            if type(text) is str:
                self.text.append(text)
            if type(thinking) is str:
                self.thinking.append(thinking)
            if tool_calls:
                self.tool_calls.extend(as_list(tool_calls) or ())

    def finish(self, call: LLMCall) -> None:
        parts: list[Part] | None = None
        if self.capture:
            parts = []
            _add_output(parts, "".join(self.text), "".join(self.thinking), self.tool_calls)
        last = self.last
        if last is not None:
            self.operation.record(call, last, parts)
            return
        # The stream ended before its ``done`` line (closed early, dropped).
        outputs = [output_message("assistant", parts, "error")] if parts is not None else None
        call.set_response(
            model=field(self.first, "model"), finish_reasons=["error"], output_messages=outputs
        )


# --- patching ------------------------------------------------------------------------------------

# method -> (its leading positional parameters, operation)
_CHAT, _GENERATE, _EMBED = ChatOperation(), GenerateOperation(), EmbedOperation()
METHODS: dict[str, tuple[tuple[str, ...], OllamaOperation]] = {
    "chat": (("model", "messages"), _CHAT),
    "generate": (("model", "prompt", "suffix"), _GENERATE),
    "embed": (("model", "input", "truncate", "options", "keep_alive", "dimensions"), _EMBED),
    "embeddings": (("model", "prompt", "options", "keep_alive"), _EMBED),
}


def install(instrumentor: OllamaInstrumentor, module: ModuleType) -> None:
    """Wrap the client classes' methods and the module-level functions."""
    for method, (names, operation) in METHODS.items():
        sync_wrapper = genai.with_keywords(names, genai.llm_wrapper(instrumentor, operation))
        async_wrapper = genai.with_keywords(names, genai.async_llm_wrapper(instrumentor, operation))
        instrumentor.wrap(module, f"Client.{method}", sync_wrapper)
        instrumentor.wrap(module, f"AsyncClient.{method}", async_wrapper)
        if callable(getattr(module, method, None)):
            instrumentor.wrap(module, method, sync_wrapper)  # bound to ollama's default client


def _image(image: object) -> Part:
    """An image (bytes, base64 or a file path) as a placeholder ``blob`` part, never its data."""
    return blob_part("image", None, image if isinstance(image, bytes) else None)
