"""A tiny library for the example plugin to trace (stands in for a real SDK)."""

from __future__ import annotations


def greet(name: str) -> str:
    """Return a greeting; raises ValueError for an empty name."""
    if not name:
        raise ValueError("name must not be empty")
    return f"hello {name}"
