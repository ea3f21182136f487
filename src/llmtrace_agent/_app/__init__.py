"""Private: what the application itself calls: ``observe``, ``attributes``, declarative wrapping.

The public names are re-exported by ``llmtrace_agent`` itself.
"""
