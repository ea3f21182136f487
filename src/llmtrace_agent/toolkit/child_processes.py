"""What a child process started with a scrubbed environment needs to be traced too.

``llmtrace-run`` traces every Python process the program starts through the environment they
inherit. Some libraries start theirs with a restricted one instead (the MCP SDK's stdio client
passes only ``HOME``, ``PATH``, ``USER``…): their instrumentors add ``traced_child_environment()``
under the variables the library chose, so such a child is traced and joins the trace.
"""

from __future__ import annotations

from llmtrace_agent._runtime.config import traced_child_environment

__all__ = ["traced_child_environment"]
