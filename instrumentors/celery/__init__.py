"""celery: a CONSUMER span per task run and a PRODUCER span per task sent, joined by W3C context
carried in the message headers.

So the LLM calls a task makes sit under its run, and the run under the request (or the task)
that queued it. This module is imported at start-up: the work lives in ``_tasks``, loaded once
``celery.app.base`` (the ``Celery`` class) is imported.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


class CeleryInstrumentor(Instrumentor):
    """Traces Celery task runs and task sends (OpenTelemetry messaging conventions)."""

    name = "celery"
    targets = ("celery",)
    requires = "celery>=5.3,<6"

    def instrument(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.celery import _tasks

        self.when_imported("celery.app.base", lambda base: _tasks.install(self, base))

    def uninstrument(self, module: ModuleType) -> None:
        from llmtrace_agent.instrumentors.celery import _tasks

        _tasks.uninstall()
        super().uninstrument(module)


__all__ = ["CeleryInstrumentor"]
