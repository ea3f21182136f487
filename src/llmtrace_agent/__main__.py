"""``python -m llmtrace_agent`` is ``llmtrace-run``."""

from llmtrace_agent.cli import main

main()
