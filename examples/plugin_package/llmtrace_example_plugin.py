"""An llmtrace-agent instrumentor plugin: one span per ``example_target.greet`` call.

Imported at every start-up to read ``name`` and ``targets``: keep top-level imports light,
import the target library and OpenTelemetry inside ``instrument``.
"""

from __future__ import annotations

from llmtrace_agent import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType


class ExampleInstrumentor(Instrumentor):
    """Traces ``example_target.greet``."""

    name = "example"
    targets = ("example_target",)
    requires = "llmtrace-example-plugin>=1"  # the distribution that ships the target

    def instrument(self, module: ModuleType) -> None:
        from opentelemetry import trace

        from llmtrace_agent.toolkit.guard import internal_errors

        def traced_greet(
            wrapped: Callable[..., str],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> str:
            # Hot path: once per call.
            span = None
            with internal_errors:  # our bug never breaks the user's call
                name = args[0] if args else kwargs.get("name")
                span = self.tracer.start_span("greet", attributes={"example.name": str(name)})
            if span is None:
                return wrapped(*args, **kwargs)
            with trace.use_span(span, end_on_exit=True):  # records the user's exception
                return wrapped(*args, **kwargs)

        self.wrap(module, "greet", traced_greet)
