"""Installs the span handler on LlamaIndex's root dispatcher and wraps its model classes."""

from __future__ import annotations

from llmtrace_agent.toolkit.guard import internal_errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from llmtrace_agent.toolkit.instrumentor import Instrumentor

_installed: dict[str, object] = {}


def install(instrumentor: Instrumentor) -> None:
    """Add our span handler to the root dispatcher; wrap every LLM and embedding class's model
    methods, now and for each class defined later."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.base.llms.base import BaseLLM
    from llama_index.core.instrumentation import DispatcherSpanMixin, get_dispatcher

    from llmtrace_agent.instrumentors.llama_index._handler import make_handler
    from llmtrace_agent.instrumentors.llama_index._models import (
        EMBEDDING_METHODS,
        LLM_METHODS,
        wrap_class,
    )

    _check_workflows()
    instrumentor.active = True
    if "handler" not in _installed:
        handler = make_handler(instrumentor)
        get_dispatcher().add_span_handler(handler)
        _installed["handler"] = handler

    def wrap_models(cls: type) -> None:
        if issubclass(cls, BaseLLM):
            wrap_class(instrumentor, cls, LLM_METHODS)
        elif issubclass(cls, BaseEmbedding):
            wrap_class(instrumentor, cls, EMBEDDING_METHODS)

    for base in (BaseLLM, BaseEmbedding):
        for cls in _with_subclasses(base):
            wrap_models(cls)

    # Classes defined from now on (an integration imported later: llama_index.llms.openai).
    original = DispatcherSpanMixin.__dict__["__init_subclass__"]
    if "init_subclass" not in _installed:
        define = original.__func__

        def __init_subclass__(cls: type, **kwargs: object) -> None:
            define(cls, **kwargs)
            if instrumentor.active:
                with internal_errors:
                    wrap_models(cls)

        DispatcherSpanMixin.__init_subclass__ = classmethod(__init_subclass__)  # type: ignore[assignment]
        _installed["init_subclass"] = (DispatcherSpanMixin, original)


def uninstall() -> None:
    """Remove the span handler and the class hook (the instrumentor's wraps are undone by it)."""
    handler = _installed.pop("handler", None)
    if handler is not None:
        from llama_index.core.instrumentation import get_dispatcher

        root = get_dispatcher()
        root.span_handlers = [found for found in root.span_handlers if found is not handler]
    hook = _installed.pop("init_subclass", None)
    if hook is not None:
        mixin, original = hook  # type: ignore[misc]
        mixin.__init_subclass__ = original


OLDEST_WORKFLOWS = (2, 16)
"""llama-index-workflows 2.16 enters and leaves a run's dispatcher span inside the run's task;
before, ``Workflow.run`` was the span, left from a callback of the handler it returned, so its
span could not be made current for the steps without leaking into the caller's context."""


def _check_workflows() -> None:
    """Stay out (the agent warns once) with a llama-index-workflows older than 2.16."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("llama-index-workflows")
    except PackageNotFoundError:
        return
    parts = tuple(int(part) for part in installed.split(".")[:2] if part.isdigit())
    if parts < OLDEST_WORKFLOWS:
        raise RuntimeError(
            f"llama-index-workflows {installed} is older than 2.16, which LlamaIndex tracing "
            "needs; upgrade it (pip install -U llama-index-workflows) to trace LlamaIndex"
        )


def _with_subclasses(base: type) -> list[type]:
    found, pending = [], [base]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found
