"""OpenAI's chat-completion shapes: request parameters and a streamed choice's deltas."""

from __future__ import annotations

from llmtrace_agent.toolkit import genai, semconv
from llmtrace_agent.toolkit.openai_shapes import content
from llmtrace_agent.toolkit.openai_shapes.choices import ChoiceOutput
from llmtrace_agent.toolkit.readers import as_float, as_int, as_list, as_str, as_str_list, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

_SAMPLING = (
    ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", semconv.GEN_AI_REQUEST_TOP_P),
    ("frequency_penalty", semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", semconv.GEN_AI_REQUEST_PRESENCE_PENALTY),
)


def sampling_attributes(
    kwargs: Mapping[str, object],
    attributes: dict[str, object],
    floats: tuple[tuple[str, str], ...] = _SAMPLING,
    stop_key: str = "stop",
    choice_count_key: str | None = "n",
) -> None:
    """temperature, top_p, penalties, seed, stop sequences and choice count, where given.

    A provider naming them otherwise passes its own ``floats`` (argument, attribute) pairs, stop
    argument and choice-count argument (None: it has none)."""
    get = kwargs.get
    for key, name in floats:
        value = as_float(get(key))
        if value is not None:
            attributes[name] = value
    seed = as_int(get("seed"))
    if seed is not None:
        attributes[semconv.GEN_AI_REQUEST_SEED] = seed
    stop = get(stop_key)
    if stop is not None:
        sequences = as_str_list(stop)
        if sequences:
            attributes[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = sequences
    if choice_count_key is not None:
        choices = as_int(get(choice_count_key))
        if choices is not None and choices != 1:
            attributes[semconv.GEN_AI_REQUEST_CHOICE_COUNT] = choices


def chat_request_attributes(kwargs: Mapping[str, object], attributes: dict[str, object]) -> None:
    """The request attributes of a chat-completion call: sampling, max tokens, reasoning effort
    and output type."""
    get = kwargs.get
    sampling_attributes(kwargs, attributes)
    max_tokens = as_int(get("max_completion_tokens"))
    if max_tokens is None:
        max_tokens = as_int(get("max_tokens"))
    if max_tokens is not None:
        attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    effort = as_str(get("reasoning_effort"))
    if effort:
        attributes[semconv.GEN_AI_REQUEST_REASONING_LEVEL] = effort
    output_type = output_type_of(get("response_format"))
    if output_type:
        attributes[semconv.GEN_AI_OUTPUT_TYPE] = output_type


def chat_output_message(choice: object, finish_reason: object) -> dict[str, object]:
    """One choice of a chat completion as a GenAI output message."""
    return content.chat_output(field(choice, "message"), finish_reason)


class ChatChoiceOutput(ChoiceOutput):
    """One streamed choice's deltas, assembled into a chat message at the end."""

    __slots__ = ("content", "reasoning", "refusal", "role", "tools")

    def __init__(self) -> None:
        self.role: object = None
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.tools: dict[object, list] = {}  # tool index -> [id, name, argument pieces]

    def add(self, choice: object) -> None:
        # Per chunk, with content capture on. Most deltas carry text only: one read, one append.
        delta = getattr(choice, "delta", None)
        content = getattr(delta, "content", None)
        if type(content) is str:
            self.content.append(content)
        if self.role is None or content is None or getattr(delta, "tool_calls", None) is not None:
            self._add_rest(delta)

    def _add_rest(self, delta: object) -> None:
        """The less frequent parts of a delta: role, reasoning, refusal, tool-call pieces."""
        if delta is None:
            return
        role = getattr(delta, "role", None)
        if isinstance(role, str):
            self.role = role
        for name, pieces in (("reasoning_content", self.reasoning), ("refusal", self.refusal)):
            piece = getattr(delta, name, None)
            if isinstance(piece, str):
                pieces.append(piece)
        for call in as_list(getattr(delta, "tool_calls", None)) or ():
            index = getattr(call, "index", 0)
            key = index if isinstance(index, int) else 0
            tool = self.tools.get(key)
            if tool is None:
                tool = self.tools[key] = [None, None, []]
            call_id = getattr(call, "id", None)
            function = getattr(call, "function", None)
            name = getattr(function, "name", None)
            if isinstance(call_id, str):
                tool[0] = call_id
            if isinstance(name, str):
                tool[1] = name
            arguments = getattr(function, "arguments", None)
            if isinstance(arguments, str):
                tool[2].append(arguments)

    def message(self, finish_reason: object) -> dict[str, object]:
        parts: list[dict[str, object]] = []
        if self.reasoning:
            parts.append(genai.reasoning_part("".join(self.reasoning)))
        content = "".join(self.content)
        if content:
            parts.append(genai.text_part(content))
        if self.refusal:
            parts.append({"type": "refusal", "content": genai.clip("".join(self.refusal))})
        for index in sorted(self.tools):
            call_id, name, arguments = self.tools[index]
            parts.append(genai.tool_call_part(call_id, name, "".join(arguments)))
        return genai.output_message(self.role or "assistant", parts, finish_reason)


def output_type_of(response_format: object) -> str | None:
    """``gen_ai.output.type`` for a ``response_format``: json_schema / json_object → json;
    a Pydantic class (``parse``) → json; text → text."""
    if isinstance(response_format, type):
        return "json"
    kind = field(response_format, "type") if isinstance(response_format, dict) else None
    if kind in ("json_schema", "json_object"):
        return "json"
    return "text" if kind == "text" else None


def record_chat_input(
    attributes: dict[str, object],
    messages: object,
    tools: object,
    chat_input: Callable[[list | tuple], tuple[list, list]] = content.chat_input,
) -> None:
    """gen_ai.system_instructions, gen_ai.input.messages and gen_ai.tool.definitions.

    ``chat_input`` turns the ``messages`` into (instruction parts, input messages): OpenAI's
    reading by default; a provider whose messages hold parts of its own passes its own."""
    messages = as_list(messages)
    if messages:
        instructions, inputs = chat_input(messages)
        if instructions:
            attributes[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = genai.to_json(instructions)
        attributes[semconv.GEN_AI_INPUT_MESSAGES] = genai.to_json(inputs)
    tools = as_list(tools)
    if tools:
        attributes[semconv.GEN_AI_TOOL_DEFINITIONS] = genai.to_json(content.tool_definitions(tools))
