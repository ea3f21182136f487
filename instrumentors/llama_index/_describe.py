"""What a LlamaIndex model class tells about its provider and model."""

from __future__ import annotations

from llmtrace_agent.toolkit.readers import as_str

CORE_PROVIDER = "llama_index"


def provider_of(model: object) -> str:
    """``gen_ai.provider.name`` of an LLM or embedding class: its integration's package
    (``llama_index.llms.ollama`` -> ``ollama``), ``llama_index`` for the core's own (``MockLLM``,
    ``MockEmbedding``)."""
    parts = type(model).__module__.split(".")
    if len(parts) >= 3 and parts[0] == "llama_index" and parts[1] in ("llms", "embeddings"):
        return parts[2]
    return CORE_PROVIDER


def model_of(model: object) -> str | None:
    """The model an LLM or embedding class calls (its ``model`` / ``model_name`` field)."""
    return as_str(getattr(model, "model", None)) or as_str(getattr(model, "model_name", None))


def agent_model_attributes(agent: object) -> dict[str, object]:
    """``gen_ai.provider.name`` and ``gen_ai.request.model`` of an agent, from its LLM."""
    from llmtrace_agent.toolkit import semconv

    llm = getattr(agent, "llm", None)
    if llm is None:
        return {}
    found: dict[str, object] = {semconv.GEN_AI_PROVIDER_NAME: provider_of(llm)}
    model = model_of(llm)
    if model:
        found[semconv.GEN_AI_REQUEST_MODEL] = model
    return found
