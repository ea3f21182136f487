"""Starts llmtrace-agent in every Python process launched under ``llmtrace-run``.

Python imports ``sitecustomize`` at start-up; ``llmtrace-run`` puts this directory first on
PYTHONPATH so this one is found. It (1) runs the ``sitecustomize`` that would have run without
us, if any, so adding the agent never disables a project's or a distro's own; (2) starts the
agent, which must never stop the user's program.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _run_next_sitecustomize() -> None:
    """Find and run the next ``sitecustomize`` on sys.path, as Python would have."""
    import importlib.machinery

    # Skip every copy of this file already run (two installations' launchers nested).
    ours = sys._llmtrace_bootstrap_dirs  # type: ignore[attr-defined]
    others = [p for p in sys.path if os.path.abspath(p or os.curdir) not in ours]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", others)
    if spec is None or spec.loader is None:
        return
    import importlib.util  # only paid for when there is a sitecustomize to chain to

    module = importlib.util.module_from_spec(spec)
    this_module = sys.modules["sitecustomize"]
    sys.modules["sitecustomize"] = module
    try:
        # Errors here are the user's: let them reach site.py, which reports them as it always does.
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules["sitecustomize"] = this_module
        raise


def _start_agent() -> None:
    try:
        try:
            import llmtrace_agent._runtime.agent
        except ImportError:
            # An interpreter other than the launcher's, or a checkout: the package sits two
            # levels up. Appended, so the application's own packages still win.
            sys.path.append(os.path.dirname(os.path.dirname(_HERE)))
            import llmtrace_agent._runtime.agent

        llmtrace_agent._runtime.agent.start()
    except Exception as exc:  # the agent is optional; the user's program is not
        sys.stderr.write(f"llmtrace-agent: not started, your program runs untraced: {exc!r}\n")
        _log = sys.modules.get("llmtrace_agent._runtime.log")
        if _log is not None and getattr(_log, "debug_enabled", False):
            import traceback

            traceback.print_exc()


def _bootstrap() -> None:
    first = not hasattr(sys, "_llmtrace_bootstrap_dirs")
    if first:
        sys._llmtrace_bootstrap_dirs = []  # type: ignore[attr-defined]
    sys._llmtrace_bootstrap_dirs.append(_HERE)  # type: ignore[attr-defined]
    if not first:
        # Another copy of the agent chained to this one: it starts the agent; pass the chain on.
        _run_next_sitecustomize()
        return
    try:
        _run_next_sitecustomize()
    finally:
        _start_agent()


_bootstrap()
