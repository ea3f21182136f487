"""The built-in instrumentors, one package per library, installed as
``llmtrace_agent.instrumentors``.

Each is written only against the public toolkit (``llmtrace_agent.toolkit``), exactly as a
third-party plugin would be. See ``instrumentors/README.md`` for how to add one.
"""
