"""The running agent's state, in a module light enough for every other module to import."""

from __future__ import annotations

from llmtrace_agent._runtime.config import Config

config: Config = Config({})
"""The active configuration; replaced once by ``llmtrace_agent.start``."""
started = False
