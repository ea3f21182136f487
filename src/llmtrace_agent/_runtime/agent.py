"""Starting and stopping the agent: config → plugins → lazy telemetry.

``start`` is what the bootstrap calls before the user's code, and what programs that cannot use
the launcher call themselves. It is cheap: no OpenTelemetry, wrapt or target library is imported
here; those load when the application first imports something the agent watches.
"""

from __future__ import annotations

import sys

from llmtrace_agent._runtime import agent_state, import_hooks, log
from llmtrace_agent._runtime.config import Config
from llmtrace_agent.toolkit import guard

TYPE_CHECKING = False
if TYPE_CHECKING:
    from llmtrace_agent._runtime.plugins import PluginRegistry

# Importing either means the app uses the OpenTelemetry API: give it the agent's providers.
_OTEL_API_MODULES = ("opentelemetry.trace", "opentelemetry.metrics")
registry: PluginRegistry | None = None


def start(**overrides: object) -> bool:
    """Start the agent in this process, once; later calls do nothing and return False.

    Keyword arguments override the environment, by ``Config`` field name
    (``start(capture_content=True, exporters=["console"])``); ``scrub`` takes a bool or a
    callable ``(key, value) -> str | None`` that masks what the built-in scrubbing does not.
    """
    if agent_state.started:
        return False
    agent_state.started = True
    if callable(overrides.get("scrub")):
        overrides["scrub_callback"] = overrides.pop("scrub")
    config = Config.from_env(**overrides)
    agent_state.config = config
    log.debug_enabled = config.debug
    guard.raise_errors = config.raise_internal_errors
    for warning in config.warnings:
        log.warning(warning)
    if not config.enabled:
        log.debug("disabled by LLMTRACE_ENABLED / OTEL_SDK_DISABLED; nothing is patched")
        return True
    if not config.scrub:
        log.warning(
            "scrubbing is off (LLMTRACE_SCRUB=false): credentials and personal data in spans "
            "are exported as recorded"
        )
    _activate_plugins(config)
    if config.config_file:
        from llmtrace_agent._app import declarative

        declarative.load(config.config_file)
    for module_name in _OTEL_API_MODULES:
        import_hooks.when_imported(module_name, _install_providers)
    return True


def _activate_plugins(config: Config) -> None:
    global registry
    from llmtrace_agent._runtime.plugins import PluginRegistry, discover

    registry = PluginRegistry(config)
    registry.activate(discover())
    if config.debug:
        log.debug("plugins:\n" + registry.describe())


_installing = False


def _install_providers(module: object) -> None:
    # Re-entered when telemetry's own import pulls in the other OpenTelemetry API module.
    # Or reached while a plugin's first patch imports telemetry (the plugin installs them next).
    global _installing
    telemetry_module = sys.modules.get("llmtrace_agent._pipeline.telemetry")
    if _installing or (
        telemetry_module is not None and not hasattr(telemetry_module, "install_global_providers")
    ):
        return
    _installing = True
    try:
        with guard.internal_errors:
            from llmtrace_agent._pipeline import telemetry

            telemetry.install_global_providers()
    finally:
        _installing = False


def flush(timeout: float | None = None) -> bool:
    """Export every finished span now (end of a serverless handler, a notebook cell…)."""
    if not agent_state.started:
        return True
    from llmtrace_agent._pipeline import telemetry

    return telemetry.flush(timeout)


def shutdown(timeout: float | None = None) -> bool:
    """Flush and stop exporting; bounded by ``timeout`` (default LLMTRACE_SHUTDOWN_TIMEOUT)."""
    if not agent_state.started:
        return True
    from llmtrace_agent._pipeline import telemetry

    return telemetry.shutdown(timeout)


def status() -> str:
    """What each instrumentor plugin did, one line each."""
    if registry is None:
        return "agent not started" if not agent_state.started else "agent disabled"
    return registry.describe()
