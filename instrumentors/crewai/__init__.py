"""crewai: crews, tasks, agents and tools as GenAI agent spans; model calls traced once.

A crew's ``kickoff`` is ``invoke_workflow {crew}``, each task ``crewai.task {task}``, each agent
executing a task ``invoke_agent {role}``, each tool ``execute_tool {tool}``; a Flow's kickoff
``invoke_workflow {flow}``, each of its steps ``{method}``. A streaming kickoff is traced as the
run the stream starts, so its spans end with that run. CrewAI calls its models through its
native provider clients (the openai, anthropic… SDKs) or LiteLLM; each model call is offered to
the provider instrumentor underneath, whose span is the one model span, with the agent's name
added. CrewAI's own anonymous telemetry (its own tracer provider, exported to
its vendor) stays CrewAI's: never current, so never a parent of ours, and its export is not
traced as application HTTP.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


class CrewAIInstrumentor(Instrumentor):
    """Traces CrewAI's crews, tasks, agents and tools (GenAI agent-span conventions)."""

    name = "crewai"
    targets = ("crewai",)
    requires = "crewai>=1.15,<2"

    def instrument(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.crewai._install import install

        install(self)


__all__ = ["CrewAIInstrumentor"]
