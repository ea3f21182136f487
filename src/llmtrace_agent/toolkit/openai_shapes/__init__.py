"""Readers of OpenAI's wire shapes, which many providers speak (Groq, LiteLLM, Mistral, vLLM,
OpenAI-compatible servers): chat and completion ``choices``, their streamed chunks, ``usage``,
sampling parameters, and the message / content-part / tool forms converted to the GenAI
conventions' JSON message schemas.

- ``chat``: request attributes and ``ChatChoiceOutput`` (a streamed choice's deltas).
- ``embeddings``: an embeddings call's request attributes and response.
- ``usage``: ``usage_of``, token counts of chat, completions, embeddings and Responses calls.
- ``choices``: ``ChoicesOperation``, an ``LLMOperation`` for responses carrying ``choices``.
- ``content``: opt-in content (messages, parts, tool calls and definitions) in the GenAI schemas.
"""
