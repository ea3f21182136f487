"""The project's shape: built-ins in instrumentors/, written on the public toolkit only, their
start-up table current, and a core free of library-specific code."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

from llmtrace_agent._runtime.builtin_table import BUILTINS

REPO = Path(__file__).resolve().parent.parent
CORE = REPO / "src" / "llmtrace_agent"
INSTRUMENTORS = REPO / "instrumentors"
ENTRY_POINTS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"][
    "llmtrace.instrumentors"
]
# Core modules that import an instrumented library for a reason other than instrumenting it.
NOT_INSTRUMENTATION = {
    CORE / "_pipeline" / "telemetry.py": {"requests"},  # the OTLP HTTP exporter's own session
    CORE / "_pipeline" / "retry.py": {"requests"},  # that session's class (retries, exit budget)
    CORE / "toolkit" / "genai" / "usage.py": {"httpx2"},  # genai_prices' import, see there
}


def imported_modules(path: Path) -> set[str]:
    """Every module a Python file imports, absolute, including ``from X import name`` forms."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def is_private_core_module(module: str) -> bool:
    """``llmtrace_agent._runtime…``, ``llmtrace_agent.toolkit._x``; not an instrumentor's own
    modules (``llmtrace_agent.instrumentors.openai._base``) nor dunders (``__version__``)."""
    parts = module.split(".")
    if parts[0] != "llmtrace_agent" or parts[1:2] == ["instrumentors"]:
        return False
    return any(part.startswith("_") and not part.endswith("__") for part in parts[1:])


def test_the_builtin_table_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "update-builtins"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_every_instrumentor_folder_is_registered_and_documented() -> None:
    folders = {path.name for path in INSTRUMENTORS.iterdir() if (path / "__init__.py").exists()}
    assert folders == set(ENTRY_POINTS)
    for name, value, _targets, _requires in BUILTINS:
        assert value.startswith(f"llmtrace_agent.instrumentors.{name}:"), value
        assert (INSTRUMENTORS / name / "README.md").is_file(), f"{name} has no README.md"


def test_instrumentors_and_examples_use_only_the_public_api() -> None:
    private = []
    for root in (INSTRUMENTORS, REPO / "examples"):
        for path in root.rglob("*.py"):
            for module in imported_modules(path):
                if is_private_core_module(module):
                    private.append(f"{path.relative_to(REPO)}: {module}")
    assert private == []


def test_the_core_holds_no_instrumentor() -> None:
    subclasses = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                getattr(base, "id", getattr(base, "attr", None)) == "Instrumentor"
                for base in node.bases
            ):
                subclasses.append(f"{path.relative_to(REPO)}: {node.name}")
    assert subclasses == []
    assert not (CORE / "instrumentors").exists()


def test_the_core_imports_no_instrumented_library() -> None:
    targets = {target for _name, _value, names, _requires in BUILTINS for target in names}
    found = []
    for path in CORE.rglob("*.py"):
        allowed = NOT_INSTRUMENTATION.get(path, set())
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in targets and top not in allowed:
                found.append(f"{path.relative_to(REPO)}: {module}")
    assert found == []
