"""Switch Pydantic AI's instrumentation on for every agent, once ``pydantic_ai`` is imported.

``Agent.instrument_all(settings)`` sets the default of agents that do not choose their own
(``Agent(instrument=...)``): an app that calls ``instrument_all`` itself, or Logfire's
``instrument_pydantic_ai()``, replaces ours later, and that explicit choice wins.
"""

from __future__ import annotations

import functools
import re
import typing
import warnings

from opentelemetry import metrics, trace

from llmtrace_agent.instrumentors.pydantic_ai import _spans

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

    from llmtrace_agent.instrumentors.pydantic_ai import PydanticAIInstrumentor

# Instrumentation formats, newest first. 6: tool results in a message with role "tool", as the
# GenAI conventions pair them; 4: multimodal parts as the conventions' uri/blob parts; 3:
# ``invoke_agent`` / ``execute_tool`` span names and ``gen_ai.*`` attribute names (2 and older
# used "agent run" / "running tool").
_FORMATS = (6, 5, 4, 3)

_installed: list[object] = []
"""The settings this instrumentor installed, to take back on uninstrument."""


def install(instrumentor: PydanticAIInstrumentor) -> None:
    """Make our settings the default of every agent (unless the app set one already)."""
    from pydantic_ai import Agent

    if getattr(Agent, "_instrument_default", False) not in (False, None):
        return  # the app (or Logfire) switched it on first: its choice
    settings = _settings(instrumentor)
    Agent.instrument_all(settings)
    _installed.append(settings)
    instrumentor.when_imported("pydantic_ai._agent_graph", functools.partial(_relay, instrumentor))


def _relay(instrumentor: PydanticAIInstrumentor, module: ModuleType) -> None:
    """A streamed request runs in another task than its span: ``relay_offer_with_context``."""
    instrumentor.wrap(module, "capture_current_context", _spans.relay_offer_with_context)


def uninstall() -> None:
    """Turn Pydantic AI's instrumentation off again if it is still ours."""
    from pydantic_ai import Agent

    if _installed and getattr(Agent, "_instrument_default", None) is _installed[-1]:
        Agent.instrument_all(False)
    _installed.clear()


def _settings(instrumentor: PydanticAIInstrumentor) -> object:
    """``InstrumentationSettings`` with our providers, content setting and the newest format."""
    from pydantic_ai.models.instrumented import InstrumentationSettings

    config = instrumentor.config
    options = {
        "tracer_provider": _spans.TracerProvider(
            trace.get_tracer_provider(), lambda: instrumentor.config.content_max_length
        ),
        "meter_provider": _spans.MeterProvider(metrics.get_meter_provider()),
        "include_content": config.capture_content,
        "include_binary_content": False,  # media as its type only, never base64 in a span
    }
    version = _newest_format(InstrumentationSettings)
    if version is not None:
        options["version"] = version
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a format a release deprecates still works
        return InstrumentationSettings(**options)  # type: ignore[arg-type]


def _newest_format(settings_class: type) -> int | None:
    """The newest format of ``_FORMATS`` this release declares (``version: Literal[...]``);
    older releases accept any number without checking, so it is read from the annotation."""
    field = getattr(settings_class, "__dataclass_fields__", {}).get("version")
    declared = getattr(field, "type", None)
    known = (
        {int(number) for number in re.findall(r"\d+", declared)}
        if isinstance(declared, str)
        else set(typing.get_args(declared))
    )
    return next((version for version in _FORMATS if version in known), None)
