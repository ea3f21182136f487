"""Instrumentor plugins: discovery through entry points, lazy patching, and a status registry.

Built-in instrumentors are registered from a generated table (``builtin_table``): start-up reads
plain data, and a built-in's code loads only when the application imports its library, so
start-up does not grow with their number. That also finds them when the agent runs from a
checkout, where no installed metadata lists them.

Third-party plugins are found through entry points. Discovery reads ``entry_points.txt`` files
directly instead of importing ``importlib.metadata`` (about 40 ms, most of the start-up budget);
the same rules apply: ``sys.path`` order, and the first distribution of a given name wins (the
built-ins come first). A plugin's class is loaded at start-up (to read its ``targets``); the
targets themselves are patched only when the application imports them.
"""

from __future__ import annotations

import os
import sys

from llmtrace_agent._runtime import import_hooks, log
from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from types import ModuleType

    from packaging.specifiers import SpecifierSet

    from llmtrace_agent._runtime.config import Config

GROUP = "llmtrace.instrumentors"
DISTRIBUTION = "llmtrace_agent"  # whose entry points are the built-ins, read from the table


class EntryPoint:
    """``name = module:attribute`` from one distribution's ``[llmtrace.instrumentors]``."""

    __slots__ = ("distribution", "name", "value")

    def __init__(self, name: str, value: str, distribution: str) -> None:
        self.name = name
        self.value = value
        self.distribution = distribution

    def load(self) -> object:
        import importlib

        module_name, _, attribute = self.value.partition(":")
        obj: object = importlib.import_module(module_name.strip())
        for part in attribute.strip().split("."):
            if part:
                obj = getattr(obj, part)
        return obj


def discover(paths: Iterable[str] | None = None, group: str = GROUP) -> list[EntryPoint]:
    """Every entry point in ``group`` of the distributions installed on ``paths`` (sys.path)."""
    found: list[EntryPoint] = []
    seen: set[str] = set()
    for directory in sys.path if paths is None else paths:
        for dist_name, entry_points_file in _distributions(directory or "."):
            if dist_name in seen:
                continue
            seen.add(dist_name)
            found.extend(_read_group(entry_points_file, group, dist_name))
    return found


def _distributions(directory: str) -> Iterator[tuple[str, str]]:
    try:
        entries = os.scandir(directory)
    except OSError:  # missing directory, zip file, permission…
        return
    with entries:
        for entry in entries:
            name = entry.name
            if name.endswith((".dist-info", ".egg-info")):
                dist = name.rsplit(".", 1)[0].split("-", 1)[0]
                normalized = dist.lower().replace("-", "_").replace(".", "_")
                yield normalized, os.path.join(entry.path, "entry_points.txt")


def _read_group(path: str, group: str, distribution: str) -> list[EntryPoint]:
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError:
        return []
    header = f"[{group}]"
    if header not in text:
        return []
    found = []
    in_group = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            in_group = line == header
        elif in_group and "=" in line and not line.startswith(("#", ";")):
            name, _, value = line.partition("=")
            found.append(EntryPoint(name.strip(), value.strip(), distribution))
    return found


class PluginStatus:
    """What became of one plugin: ``waiting`` (a built-in whose library is not imported yet),
    ``loaded``, ``patched``, ``disabled``, ``skipped`` or ``failed``."""

    __slots__ = (
        "builtin",
        "detail",
        "instrumentor",
        "name",
        "patched_modules",
        "requires",
        "state",
        "targets",
    )

    def __init__(self, name: str, state: str, detail: str = "") -> None:
        self.name = name
        self.state = state
        self.detail = detail
        self.instrumentor: Instrumentor | None = None
        self.builtin: str | None = None  # a built-in's ``module:Class``, loaded on first use
        self.targets: tuple[str, ...] = ()
        self.requires: str | None = None
        self.patched_modules: list[str] = []

    def __repr__(self) -> str:
        return f"PluginStatus({self.name!r}, {self.state!r}, {self.detail!r})"


class PluginRegistry:
    """Loads plugins, registers their import hooks and records what happened to each."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.statuses: dict[str, PluginStatus] = {}

    def activate(self, entry_points: Iterable[EntryPoint]) -> None:
        """Register the built-ins and each allowed plugin, so that their targets are patched
        on import."""
        from llmtrace_agent._runtime.builtin_table import BUILTINS

        for name, value, targets, requires in BUILTINS:
            status = self._admit(name, DISTRIBUTION, "waiting")
            if status is not None:
                status.builtin, status.targets, status.requires = value, targets, requires
                self._watch(status)
        for entry_point in entry_points:
            if entry_point.distribution == DISTRIBUTION:
                continue  # a built-in: registered from the table above
            status = self._admit(entry_point.name.lower(), entry_point.distribution, "loaded")
            if status is None:
                continue
            try:
                instrumentor = self._load(entry_point)
            except Exception as exc:
                self._fail(status, f"could not be loaded: {type(exc).__name__}: {exc}")
                continue
            status.instrumentor = instrumentor
            status.targets, status.requires = instrumentor.targets, instrumentor.requires
            self._watch(status)

    def _admit(self, name: str, distribution: str, state: str) -> PluginStatus | None:
        """A new status for plugin ``name``, or None if it is shadowed or disabled."""
        if name in self.statuses:
            log.debug(f"plugin {name!r} from {distribution} shadowed; ignored")
            return None
        if not self.config.instrumentor_enabled(name):
            self.statuses[name] = PluginStatus(name, "disabled", "by configuration")
            return None
        self.statuses[name] = status = PluginStatus(name, state)
        return status

    def _watch(self, status: PluginStatus) -> None:
        for target in status.targets:
            import_hooks.when_imported(target, self._hook(status))

    def _load(self, entry_point: EntryPoint) -> Instrumentor:
        cls = entry_point.load()
        if not (isinstance(cls, type) and issubclass(cls, Instrumentor)):
            raise TypeError(f"{entry_point.value} is not an llmtrace_agent.Instrumentor subclass")
        instrumentor = cls()
        if not instrumentor.targets:
            raise TypeError(f"{entry_point.value} declares no targets")
        return instrumentor

    def _hook(self, status: PluginStatus) -> import_hooks.Hook:
        def on_import(module: ModuleType) -> None:
            # Runs under the target's import lock: patch only, no I/O, never raise.
            try:
                self._instrument(status, module)
            except Exception as exc:
                self._fail(
                    status, f"failed to instrument {module.__name__}: {type(exc).__name__}: {exc}"
                )

        return on_import

    def _instrument(self, status: PluginStatus, module: ModuleType) -> None:
        if status.state in ("failed", "skipped") or module.__name__ in status.patched_modules:
            return
        if status.requires and not _requirement_met(status.requires, status):
            return
        if status.instrumentor is None and status.builtin is not None:
            status.instrumentor = _load_builtin(status.builtin)  # loads with its library
        instrumentor = status.instrumentor
        if instrumentor is None:
            return
        from llmtrace_agent._pipeline import telemetry

        telemetry.install_global_providers()
        instrumentor.active = True
        instrumentor.instrument(module)
        status.patched_modules.append(module.__name__)
        status.state = "patched"
        log.debug(f"instrumented {module.__name__} with plugin {status.name!r}")

    def _fail(self, status: PluginStatus, detail: str) -> None:
        status.state, status.detail = "failed", detail
        log.warning(f"instrumentor {status.name!r} {detail}; skipped, the others are unaffected")
        if self.config.raise_internal_errors:
            raise RuntimeError(f"instrumentor {status.name!r} {detail}")

    def uninstrument_all(self) -> None:
        """Undo every patch (used by ``shutdown`` with ``uninstrument=True`` and by tests)."""
        for status in self.statuses.values():
            if status.instrumentor is None or status.state != "patched":
                continue
            for module_name in status.patched_modules:
                module = sys.modules.get(module_name)
                if module is not None:
                    status.instrumentor.uninstrument(module)
            status.instrumentor.active = False
            status.patched_modules.clear()
            status.state = "loaded"

    def describe(self) -> str:
        """One line per plugin, for ``llmtrace-run --info`` and debug output."""
        lines = []
        for status in self.statuses.values():
            detail = f" ({status.detail})" if status.detail else ""
            targets = ",".join(status.targets) or "?"
            lines.append(f"{status.name:<16} {status.state:<9} targets={targets}{detail}")
        return "\n".join(lines) or "no instrumentor plugins installed"


def _load_builtin(value: str) -> Instrumentor:
    """Import a built-in instrumentor (``module:Class``) and make one."""
    import importlib

    _make_builtins_importable()
    module_name, _, class_name = value.partition(":")
    cls: type[Instrumentor] = getattr(importlib.import_module(module_name), class_name)
    return cls()


def _make_builtins_importable() -> None:
    """From a checkout (``scripts/llmtrace-run``, ``src`` on the path, nothing installed),
    ``llmtrace_agent.instrumentors`` is the top-level ``instrumentors/`` folder: load it as
    the installed wheel would have placed it."""
    import importlib.util

    name = "llmtrace_agent.instrumentors"
    if name in sys.modules or importlib.util.find_spec(name) is not None:
        return
    here = os.path.dirname(__file__)
    folder = os.path.normpath(os.path.join(here, "..", "..", "..", "instrumentors"))
    init = os.path.join(folder, "__init__.py")
    if not os.path.exists(init):
        return  # an installation without its built-ins: loading one fails and is reported
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]


def _requirement_met(requirement: str, status: PluginStatus) -> bool:
    """Check the installed distribution against ``requires`` without importing it again."""
    from importlib.metadata import PackageNotFoundError, version

    name, specifier = _parse_requirement(requirement)
    try:
        installed = version(name)
    except PackageNotFoundError:
        installed = None
    if installed is not None and specifier.contains(installed, prereleases=True):
        return True
    status.state = "skipped"
    status.detail = f"needs {requirement}, found {installed or 'no distribution'}"
    if installed is None:
        # The module imported is not the library (an app's own ``agents`` package, say): nothing
        # of the user's is left untraced, so no warning.
        log.debug(f"instrumentor {status.name!r} skipped: {status.detail}")
    else:
        log.warning(f"instrumentor {status.name!r} skipped: {status.detail}")
    return False


# name, optional [extras], specifiers; no environment marker (;) or URL (@)
_SIMPLE_REQUIREMENT = r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;@]*)"


def _parse_requirement(requirement: str) -> tuple[str, SpecifierSet]:
    """Distribution name and version specifier of ``requires``. The usual ``name>=1,<2`` form is
    read with ``packaging.specifiers`` alone: ``packaging.requirements`` (markers, platform tags)
    would add ~15 ms to the first import of every instrumented library."""
    import re  # not at module level: this module is imported at every start-up

    from packaging.specifiers import SpecifierSet

    simple = re.fullmatch(_SIMPLE_REQUIREMENT, requirement)
    if simple is not None:
        return simple[1], SpecifierSet(simple[2].strip())
    from packaging.requirements import Requirement

    parsed = Requirement(requirement)
    return parsed.name, parsed.specifier
