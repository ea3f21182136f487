"""The plugin contract: subclass ``Instrumentor`` and register it in the entry-point group
``llmtrace.instrumentors``.

A third-party plugin's module is imported at start-up to read ``name`` and ``targets``, so keep
its top-level imports light (the standard library and this module): import the target library,
OpenTelemetry and ``llmtrace_agent.toolkit.genai`` inside ``instrument()`` or the wrappers it
installs. (Built-ins are read from a generated table instead and load only with their target.)
"""

from __future__ import annotations

from llmtrace_agent._runtime import agent_state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from opentelemetry.metrics import Meter
    from opentelemetry.trace import Tracer

    from llmtrace_agent._runtime.config import Config

    Wrapper = Callable[
        [Callable[..., object], object, tuple[object, ...], dict[str, object]], object
    ]


__all__ = ["Instrumentor"]  # and, for type checkers only, ``Wrapper``


class Instrumentor:
    """Patches one library when it is imported.

    Subclasses set ``name`` and ``targets`` and implement ``instrument``. Patches made through
    ``self.wrap`` are undone by the default ``uninstrument``.
    """

    name: str = ""
    """Short, unique, lower-case name used by LLMTRACE_INSTRUMENTORS and in status reports."""
    targets: tuple[str, ...] = ()
    """Top-level modules whose import triggers ``instrument`` (called once per module)."""
    requires: str | None = None
    """Optional PEP 508 requirement on the target distribution, e.g. ``"openai>=1,<4"``.
    A mismatch skips the instrumentor with a warning instead of patching an unknown API."""

    def __init__(self) -> None:
        self._patches: list[tuple[object, str, object]] = []
        self._tracer: Tracer | None = None
        self._meter: Meter | None = None
        self.active = False
        """Whether this instrumentor is patching: set by ``instrument`` (through the agent or
        ``when_imported``), cleared by ``uninstrument``. Hooks do nothing while it is not."""

    def instrument(self, module: ModuleType) -> None:
        """Patch ``module`` (one of ``targets``), which has just been imported."""
        raise NotImplementedError

    def uninstrument(self, module: ModuleType) -> None:
        """Undo what ``instrument`` did; the default reverts every ``self.wrap`` patch and stops
        the ``when_imported`` hooks."""
        self.active = False
        while self._patches:
            owner, attribute, original = self._patches.pop()
            setattr(owner, attribute, original)

    @property
    def config(self) -> Config:
        """The agent's active configuration (read at call time, so tests may swap it)."""
        return agent_state.config

    @property
    def tracer(self) -> Tracer:
        """This instrumentor's tracer, from the global provider the agent installed."""
        if self._tracer is None:
            from opentelemetry import trace

            from llmtrace_agent._version import __version__

            self._tracer = trace.get_tracer(f"llmtrace_agent.{self.name}", __version__)
        return self._tracer

    @property
    def meter(self) -> Meter:
        """This instrumentor's meter, for the GenAI client metrics."""
        if self._meter is None:
            from opentelemetry import metrics

            from llmtrace_agent._version import __version__

            self._meter = metrics.get_meter(f"llmtrace_agent.{self.name}", __version__)
        return self._meter

    def when_imported(self, module_name: str, hook: Callable[[ModuleType], object]) -> None:
        """Call ``hook(module)`` when ``module_name`` is imported, or now if it already is.

        For the submodules a library loads lazily (``openai.resources.embeddings``,
        ``langchain_core.callbacks``): call it from ``instrument``. The hook runs under the
        module's import lock, so it should only patch; its exceptions are logged, never raised
        into the application's import, and it does nothing once the instrumentor is inactive.
        """
        from llmtrace_agent._runtime import import_hooks
        from llmtrace_agent.toolkit.guard import internal_errors

        self.active = True  # called from instrument(): patching (again, after an uninstrument)

        def on_import(module: ModuleType) -> None:
            if self.active:
                with internal_errors:
                    hook(module)

        import_hooks.when_imported(module_name, on_import)

    def wrap(self, owner: object, path: str, wrapper: Wrapper) -> bool:
        """Wrap ``owner.<path>`` (dotted, e.g. ``"Completions.create"``) with a wrapt wrapper.

        Idempotent: a target this instrumentor already wrapped is left alone. Returns whether
        the target existed (libraries move things between versions; a missing one is skipped).
        """
        import wrapt

        try:
            parent, attribute, original = wrapt.resolve_path(owner, path)
        except (AttributeError, ImportError):
            return False
        if getattr(original, "_self_llmtrace_instrumentor", None) is self:
            return True
        wrapped = wrapt.FunctionWrapper(original, wrapper)
        wrapped._self_llmtrace_instrumentor = self
        setattr(parent, attribute, wrapped)
        self._patches.append((parent, attribute, original))
        return True
