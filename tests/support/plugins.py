"""Plugin distributions for tests: the example package installed by pip, and tiny hand-made ones."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.agent import REPO

EXAMPLE_PACKAGE = REPO / "examples" / "plugin_package"


def install_example_plugin(target: Path) -> Path:
    """``pip install`` examples/plugin_package into ``target``, a directory for PYTHONPATH.

    Built from a copy (setuptools writes build/ and *.egg-info next to the sources), without
    network: no build isolation, no dependencies (llmtrace-agent is already importable).
    """
    sources = target.parent / "plugin_package"
    ignore = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    shutil.copytree(EXAMPLE_PACKAGE, sources, ignore=ignore)
    subprocess.run(
        [
            sys.executable,
            *("-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"),
            *("--target", str(target), str(sources)),
        ],
        check=True,
        capture_output=True,
    )
    return target


def write_distribution(
    directory: Path,
    name: str,
    entry_points: dict[str, str],
    modules: dict[str, str],
    version: str = "1.0",
) -> Path:
    """An installed distribution as pip leaves it: modules plus ``<name>-<version>.dist-info``
    with METADATA and ``[llmtrace.instrumentors]`` entry points. Returns ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (directory / f"{module}.py").write_text(textwrap.dedent(source))
    dist_info = directory / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir()
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    (dist_info / "METADATA").write_text(metadata)
    lines = ["[llmtrace.instrumentors]", *(f"{k} = {v}" for k, v in entry_points.items())]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return directory
