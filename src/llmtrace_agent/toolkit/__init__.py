"""The public instrumentor toolkit: what every instrumentor, built-in or third-party, is made of.

Its modules are the public API (``__all__`` in each), covered by the compatibility promise in
``docs/toolkit.md``:

- ``instrumentor``: ``Instrumentor``, the plugin contract, with its wrapping and import hooks.
- ``guard``: ``internal_errors`` / ``guarded``, so the agent's bugs never reach the application.
- ``genai``: the GenAI call span (request and response attributes, usage, cost, streams,
  content capture, metrics), driven by an ``LLMOperation`` per SDK method; ``genai.agent_spans``
  (agent, tool, workflow, retrieval spans) and ``genai.delegation`` (one span per operation when
  a framework and a provider instrumentor both see it), for framework instrumentors.
- ``readers``: tolerant field readers; ``openai_shapes``: OpenAI's wire shapes, for every
  OpenAI-compatible SDK.
- ``http_server``: HTTP server spans (context in, route, status, exclusions), for middlewares.
- ``http_spans``: HTTP client spans, redaction and propagation; ``context_flags``: whether a
  model call or an HTTP request span is open; ``semconv``: attribute names.
- ``child_processes``: the environment a child process started with a scrubbed one needs to be
  traced too.

Nothing here is imported at start-up: instrumentors import it from ``instrument()`` on.
"""
