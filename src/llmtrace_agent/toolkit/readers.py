"""Tolerant reads of request and response fields, shared by every instrumentor.

Providers, proxies and OpenAI-compatible servers send anything: every read here accepts a
missing field, a null or a value of the wrong type and answers None (the attribute is then
skipped), so a surprising payload never costs the call its span.
"""

from __future__ import annotations

__all__ = ["as_count", "as_float", "as_int", "as_list", "as_str", "as_str_list", "field"]


def field(obj: object, key: str) -> object:
    """``obj[key]`` for a mapping (the user's request params), ``obj.key`` for an SDK model."""
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def as_str(value: object) -> str | None:
    """A non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def as_int(value: object) -> int | None:
    """An int (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_count(value: object) -> int | None:
    """A non-negative int (a token count), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def as_float(value: object) -> float | None:
    """An int or float (not a bool) as a float, else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def as_list(value: object) -> list | tuple | None:
    """Lists and tuples only: other iterables (a generator of messages) must not be consumed."""
    return value if isinstance(value, (list, tuple)) else None


def as_str_list(value: object) -> list[str] | None:
    """A string or a non-empty list of strings (stop sequences, encoding formats) as a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None
