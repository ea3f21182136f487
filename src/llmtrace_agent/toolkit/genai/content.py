"""Opt-in content capture in the shape of the GenAI spec's JSON schemas.

Messages are ``{"role", "parts": [...]}``; parts are ``{"type": "text", "content"}``,
``{"type": "tool_call", "id", "name", "arguments"}``, ``{"type": "tool_call_response", "id",
"response"}`` and ``{"type": "reasoning", "content"}``; output messages add ``finish_reason``
(v1.41 only). Every text is clipped to ``LLMTRACE_CONTENT_MAX_LENGTH`` before serialising, so
the JSON stays valid however large the payload.
"""

from __future__ import annotations

import json

from llmtrace_agent._runtime import agent_state

TRUNCATION_MARK = "…[truncated]"


def clip(text: object) -> object:
    """``text`` cut to the configured maximum length (non-strings pass unchanged)."""
    if isinstance(text, str):
        limit = agent_state.config.content_max_length
        if len(text) > limit:
            return text[:limit] + TRUNCATION_MARK
    return text


def clip_deep(value: object, depth: int = 0) -> object:
    """``value`` with every string in it clipped and bytes replaced by a placeholder, so a tool's
    arguments or a document list serialise to valid, bounded JSON. Other objects become their
    clipped ``str``."""
    if isinstance(value, str):
        return clip(value)
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if depth > 20:
        return "…"
    if isinstance(value, dict):
        return {str(k): clip_deep(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clip_deep(item, depth + 1) for item in value]
    if value is None or isinstance(value, (int, float)):
        return value
    return clip(_as_text(value))


def to_json(value: object) -> str:
    """Compact JSON for an attribute; objects it cannot encode become their ``str``.

    Never raises: a structure that contains itself, or an object whose ``str`` fails, is written
    as text instead (the user's own call fails on it or not; the span must not be lost either way).
    """
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_as_text)
    except (ValueError, RecursionError):  # "Circular reference detected", or absurdly deep
        return json.dumps(_as_text(value), ensure_ascii=False)


def _as_text(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__}>"


def text_part(text: object) -> dict[str, object]:
    return {"type": "text", "content": clip(text)}


def reasoning_part(text: object) -> dict[str, object]:
    return {"type": "reasoning", "content": clip(text)}


def blob_part(modality: str, mime_type: object = None, data: object = None) -> dict[str, object]:
    """Inline binary content (an image, audio, a document) as a ``blob`` part whose bytes are
    replaced by a placeholder naming their type and size, such as ``<image/png, 5123 bytes>``:
    media would inflate every span it appears in, and is no text to debug a prompt with."""
    mime = mime_type if isinstance(mime_type, str) and mime_type else None
    if isinstance(data, (bytes, bytearray)):
        size = f"{len(data)} bytes"
    elif isinstance(data, str):  # base64: 4 characters carry 3 bytes
        size = f"{len(data.rstrip('=')) * 3 // 4} bytes"
    else:
        size = "data"
    part: dict[str, object] = {"type": "blob", "modality": modality}
    if mime:
        part["mime_type"] = mime
    part["content"] = f"<{mime or modality}, {size}>"
    return part


def tool_call_part(call_id: object, name: object, arguments: object) -> dict[str, object]:
    """A tool call; JSON-string arguments (as OpenAI sends them) become an object if they parse."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            arguments = clip(arguments)
    return {"type": "tool_call", "id": call_id, "name": name, "arguments": arguments}


def tool_call_response_part(call_id: object, response: object) -> dict[str, object]:
    return {"type": "tool_call_response", "id": call_id, "response": clip(response)}


def message(role: object, parts: list[dict[str, object]], name: object = None) -> dict[str, object]:
    result: dict[str, object] = {"role": role, "parts": parts}
    if name:
        result["name"] = name
    return result


def output_message(
    role: object, parts: list[dict[str, object]], finish_reason: object
) -> dict[str, object]:
    """An output message; its ``finish_reason`` is v1.41's (the newest conventions keep finish
    reasons in ``gen_ai.response.finish_reasons`` only)."""
    if agent_state.config.genai_latest:
        return {"role": role, "parts": parts}
    return {"role": role, "parts": parts, "finish_reason": finish_reason or "error"}
