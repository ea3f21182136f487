"""Opt-in content: OpenAI's message, content-part, tool and output-item forms converted to the
GenAI JSON schemas (gen-ai-input-messages.json, gen-ai-output-messages.json,
gen-ai-system-instructions.json, gen-ai-tool-definitions.json).

Only called when content capture is on. Requests may hold dicts (the usual form) or SDK models
(a previous response's message passed back), so every read goes through ``field``.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.genai import (
    blob_part,
    clip,
    message,
    output_message,
    reasoning_part,
    text_part,
    tool_call_part,
    tool_call_response_part,
)
from llmtrace_agent.toolkit.readers import as_list, as_str, field

Part = dict[str, object]
Message = dict[str, object]

# System and developer messages are instructions: recorded in gen_ai.system_instructions.
INSTRUCTION_ROLES = ("system", "developer")
_TEXT_PARTS = ("text", "input_text", "output_text")


# --- parts ---------------------------------------------------------------------------------------


def content_parts(content: object) -> list[Part]:
    """Parts of a message ``content``: a string, or a list of typed content parts."""
    if isinstance(content, str):
        return [text_part(content)]
    parts: list[Part] = []
    for item in as_list(content) or ():
        part = _part(item)
        if part is not None:
            parts.append(part)
    return parts


def _part(item: object) -> Part | None:
    kind = field(item, "type")
    if kind in _TEXT_PARTS:
        return text_part(field(item, "text"))
    if kind == "refusal":
        return {"type": "refusal", "content": clip(field(item, "refusal"))}
    if kind == "image_url":  # chat: {"image_url": {"url": "https://…" | "data:image/png;base64,…"}}
        return media_part(field(field(item, "image_url"), "url"), "image")
    if kind == "input_image":  # responses: {"image_url": "…"} or {"file_id": "…"}
        return media_part(field(item, "image_url"), "image") or _file(
            field(item, "file_id"), "image"
        )
    if kind == "input_audio":  # chat: {"input_audio": {"data": base64, "format": "wav"}}
        audio = field(item, "input_audio")
        audio_format = as_str(field(audio, "format"))
        return _blob(
            field(audio, "data"), "audio", f"audio/{audio_format}" if audio_format else None
        )
    if kind == "file":  # chat: {"file": {"file_id"} | {"file_data", "filename"}}
        file = field(item, "file")
        return _file(field(file, "file_id"), "document") or media_part(
            field(file, "file_data"), "document"
        )
    if kind == "input_file":  # responses: file_id, file_url or file_data
        return (
            _file(field(item, "file_id"), "document")
            or media_part(field(item, "file_url"), "document")
            or media_part(field(item, "file_data"), "document")
        )
    if isinstance(kind, str):
        return {"type": kind}  # unknown part: its type, not its (possibly binary) payload
    return None


def media_part(url: object, modality: str) -> Part | None:
    """A URL as a ``uri`` part, or a ``data:`` URL as a ``blob`` part (its bytes replaced by a
    placeholder)."""
    url = as_str(url)
    if url is None:
        return None
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        mime_type = header[5:].split(";", 1)[0] or None
        return _blob(data, modality, mime_type)
    return {"type": "uri", "modality": modality, "uri": clip(url)}


def _blob(data: object, modality: str, mime_type: str | None) -> Part | None:
    return blob_part(modality, mime_type, data) if isinstance(data, str) else None


def _file(file_id: object, modality: str) -> Part | None:
    file_id = as_str(file_id)
    return {"type": "file", "modality": modality, "file_id": file_id} if file_id else None


def tool_result(content: object) -> object:
    """A tool message's content: its text (parts joined), or the value itself."""
    if isinstance(content, (list, tuple)):
        texts = [field(part, "text") for part in content]
        if texts and all(isinstance(text, str) for text in texts):
            return "".join(texts)  # type: ignore[arg-type]
    return content


# --- chat completions ----------------------------------------------------------------------------


def chat_input(messages: list | tuple) -> tuple[list[Part], list[Message]]:
    """(system instruction parts, input messages) of a chat ``messages`` list."""
    instructions: list[Part] = []
    inputs: list[Message] = []
    for item in messages:
        role = field(item, "role")
        content = field(item, "content")
        if role in INSTRUCTION_ROLES:
            instructions.extend(content_parts(content))
        elif role == "tool":
            part = tool_call_response_part(field(item, "tool_call_id"), tool_result(content))
            inputs.append(message("tool", [part]))
        elif role == "function":  # deprecated function-calling form
            part = tool_call_response_part(None, tool_result(content))
            inputs.append(message("tool", [part], field(item, "name")))
        else:
            parts = content_parts(content)
            parts.extend(chat_tool_calls(item))
            inputs.append(message(role, parts, field(item, "name")))
    return instructions, inputs


def chat_tool_calls(chat_message: object) -> list[Part]:
    """An assistant message's tool calls (``tool_calls``, or the deprecated ``function_call``)."""
    parts = []
    for call in as_list(field(chat_message, "tool_calls")) or ():
        function = field(call, "function")
        if function is not None:
            parts.append(
                tool_call_part(
                    field(call, "id"), field(function, "name"), field(function, "arguments")
                )
            )
            continue
        custom = field(call, "custom")
        if custom is not None:
            parts.append(
                tool_call_part(field(call, "id"), field(custom, "name"), field(custom, "input"))
            )
    function_call = field(chat_message, "function_call")
    if function_call is not None:
        parts.append(
            tool_call_part(None, field(function_call, "name"), field(function_call, "arguments"))
        )
    return parts


def chat_output(chat_message: object, finish_reason: object) -> Message:
    """One choice of a chat completion as an output message."""
    parts: list[Part] = []
    reasoning = field(chat_message, "reasoning_content")  # OpenAI-compatible reasoning servers
    if isinstance(reasoning, str) and reasoning:
        parts.append(reasoning_part(reasoning))
    parts.extend(content_parts(field(chat_message, "content")))
    refusal = field(chat_message, "refusal")
    if isinstance(refusal, str):
        parts.append({"type": "refusal", "content": clip(refusal)})
    parts.extend(chat_tool_calls(chat_message))
    return output_message(as_str(field(chat_message, "role")) or "assistant", parts, finish_reason)


def tool_definitions(tools: list | tuple) -> list[Part]:
    """Tool definitions with the schema's required properties: type, name, description.

    Parameters are left out, as the spec recommends for this (possibly large) attribute.
    Chat nests functions (``{"type": "function", "function": {...}}``); the Responses API does
    not; built-in tools (``web_search``…) are recorded under their own type.
    """
    definitions = []
    for tool in tools:
        kind = as_str(field(tool, "type"))
        if kind is None:
            continue
        nested = field(tool, kind) if kind in ("function", "custom") else None
        spec = nested if nested is not None else tool
        definition: Part = {"type": kind, "name": as_str(field(spec, "name")) or kind}
        description = field(spec, "description")
        if isinstance(description, str):
            definition["description"] = clip(description)
        definitions.append(definition)
    return definitions


# --- responses -----------------------------------------------------------------------------------


def responses_input(instructions: object, items: object) -> tuple[list[Part], list[Message]]:
    """(system instruction parts, input messages) of a Responses API request."""
    system: list[Part] = [text_part(instructions)] if isinstance(instructions, str) else []
    if isinstance(items, str):
        return system, [message("user", [text_part(items)])]
    inputs: list[Message] = []
    for item in as_list(items) or ():
        kind = field(item, "type")
        role = field(item, "role")
        if kind in (None, "message") and isinstance(role, str):
            parts = content_parts(field(item, "content"))
            if role in INSTRUCTION_ROLES:
                system.extend(parts)
            else:
                inputs.append(message(role, parts))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            result = tool_result(field(item, "output"))
            inputs.append(
                message("tool", [tool_call_response_part(field(item, "call_id"), result)])
            )
        else:
            parts = output_item_parts(item)
            if parts:
                inputs.append(message("assistant", parts))
    return system, inputs


def output_item_parts(item: object) -> list[Part]:
    """The parts of one Responses API output item (also accepted back as input)."""
    kind = field(item, "type")
    if kind == "message":
        return content_parts(field(item, "content"))
    if kind == "function_call":
        return [
            tool_call_part(field(item, "call_id"), field(item, "name"), field(item, "arguments"))
        ]
    if kind == "custom_tool_call":
        return [tool_call_part(field(item, "call_id"), field(item, "name"), field(item, "input"))]
    if kind == "reasoning":
        summaries = as_list(field(item, "summary")) or ()
        return [reasoning_part(field(s, "text")) for s in summaries if field(s, "text")]
    if isinstance(kind, str):  # a tool the provider ran (web_search_call, code_interpreter_call…)
        return [
            {
                "type": "server_tool_call",
                "id": as_str(field(item, "id")),
                "name": kind,
                "server_tool_call": {"type": kind},
            }
        ]
    return []
