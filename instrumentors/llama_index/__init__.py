"""llama_index: agent, workflow, tool, retrieval, query- and chat-engine spans for LlamaIndex, with
each model call traced once.

LlamaIndex reports every component call (an agent run, a workflow step, a tool, a retriever, a
query engine, an LLM or embedding call) to its instrumentation dispatcher as a span. A span
handler on the root dispatcher (every dispatcher propagates to it) turns the runs that matter into
OpenTelemetry spans, made current while LlamaIndex runs them: ``invoke_agent {name}`` for a
``FunctionAgent``/``ReActAgent`` run and for each agent's turn in an ``AgentWorkflow``,
``invoke_workflow {name}`` for other workflows, ``execute_tool {tool}``, ``retrieval {index}``,
``query {engine}`` and ``chat_engine {engine}`` (one chat-engine turn).

Model and embedding calls are offered (``toolkit.genai.delegation``) to the provider instrumentor
underneath (openai through llama-index-llms-openai…), whose span is the one; only a call no
provider instrumentor saw (``MockLLM``, an LLM we do not instrument) gets a framework span here.
Streams re-open the offer and the caller's context around each step, so the provider span made on
the first iteration is a child of the right span, and our spans end when a stream ends, is
closed or is dropped.

This module is imported at start-up: the patches live in ``_install``.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


class LlamaIndexInstrumentor(Instrumentor):
    """Traces llama-index-core through its instrumentation dispatcher."""

    name = "llama_index"
    targets = ("llama_index.core",)
    requires = "llama-index-core>=0.14.5,<0.15"  # 0.14.5: llama-index-llms-openai 0.8

    def instrument(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.llama_index import _install

        _install.install(self)

    def uninstrument(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.llama_index import _install

        super().uninstrument(module)
        _install.uninstall()


__all__ = ["LlamaIndexInstrumentor"]
