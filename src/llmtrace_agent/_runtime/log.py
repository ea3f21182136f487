"""The agent's own messages: one line each on stderr, prefixed so users know who speaks.

Deliberately not ``logging``: the agent must not touch the application's logging setup, and
must not pay for importing it at start-up.
"""

from __future__ import annotations

import sys

PREFIX = "llmtrace-agent: "
debug_enabled = False  # set once by the agent from Config.debug


def warning(message: str) -> None:
    """Tell the user something they should act on (bad config, a plugin that was skipped)."""
    _write(message)


def debug(message: str) -> None:
    """Explain what the agent did; shown only with LLMTRACE_DEBUG=true.

    Callers on hot paths check ``log.debug_enabled`` first so the message is never formatted.
    """
    if debug_enabled:
        _write(message)


def _write(message: str) -> None:
    try:
        sys.stderr.write(PREFIX + message + "\n")
        sys.stderr.flush()
    except Exception:  # a closed or broken stderr must not take the app down
        pass
