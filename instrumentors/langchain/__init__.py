"""The built-in ``langchain`` instrumentor: LangChain and LangGraph runs as GenAI agent, tool,
workflow and retrieval spans, with each model call traced once (by the provider's instrumentor).

LangChain reports every step of a run to its callback handlers with the step's ``run_id`` and
``parent_run_id``; a handler added to every callback manager turns those runs into spans whose
parents come from that run tree, whatever thread or task LangChain and LangGraph run a step in.
Where LangChain starts the code of a run (a node, a tool) in a context of its own, that run's span
is made current there, so the provider's model span (openai, anthropic… via langchain-openai…)
and anything else traced inside lands under the right agent, node or tool span. Model calls and
retriever searches are offered to the instrumentor beneath (``toolkit.genai.delegation``); only
one that nobody took (a model provider we do not trace) gets a span from here.

This module is imported at start-up, so it imports nothing heavy: the patches live in
``_install``, loaded once ``langchain_core`` is imported.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


class LangChainInstrumentor(Instrumentor):
    """Traces LangChain chains, agents, tools and retrievers and LangGraph graphs."""

    name = "langchain"
    targets = ("langchain_core",)
    requires = "langchain-core>=0.3.0,<2"  # tested: 0.3.0 with LangGraph 0.2.40, and 1.x

    def instrument(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.langchain import _install

        _install.install(self)


__all__ = ["LangChainInstrumentor"]
