"""llmtrace-agent: zero-code OpenTelemetry tracing for LLM applications.

Run ``llmtrace-run python app.py``, or call ``llmtrace_agent.start()`` first thing in a program.
Attributes load lazily so that importing the package (which the bootstrap does in every traced
process) costs next to nothing.
"""

from __future__ import annotations

from llmtrace_agent._version import __version__

__all__ = [
    "Instrumentor",
    "__version__",
    "attributes",
    "flush",
    "observe",
    "shutdown",
    "start",
    "status",
]

_LAZY = {
    "start": "llmtrace_agent._runtime.agent",
    "flush": "llmtrace_agent._runtime.agent",
    "shutdown": "llmtrace_agent._runtime.agent",
    "status": "llmtrace_agent._runtime.agent",
    "Instrumentor": "llmtrace_agent.toolkit.instrumentor",
    "observe": "llmtrace_agent._app.observation",
    "attributes": "llmtrace_agent._app.context_attributes",
}


def __getattr__(name: str) -> object:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'llmtrace_agent' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


TYPE_CHECKING = False
if TYPE_CHECKING:
    from llmtrace_agent._app.context_attributes import attributes
    from llmtrace_agent._app.observation import observe
    from llmtrace_agent._runtime.agent import flush, shutdown, start, status
    from llmtrace_agent.toolkit.instrumentor import Instrumentor
