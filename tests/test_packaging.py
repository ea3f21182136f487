"""Every way of installing the agent installs every built-in instrumentor, registered.

A wheel built from the checkout, ``pip install .`` and an editable install, each into a fresh
venv. The project's dependencies come from the test venv (a ``.pth`` file points at its
site-packages) so that nothing is downloaded; the agent itself is installed for real.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from llmtrace_agent._runtime.builtin_table import BUILTINS

REPO = Path(__file__).resolve().parent.parent
PROGRAM = "import requests, llmtrace_agent; print(llmtrace_agent.status())"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the committed and working files, as a fresh clone would have them."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    copy = tmp_path_factory.mktemp("checkout")
    for name in files:
        source = REPO / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    return copy


def fresh_venv(where: Path) -> Path:
    """A venv without pip whose dependencies resolve from the test venv's site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "zz-test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return python


def pip_install(python: Path, *arguments: str) -> None:
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    options = ["--no-deps", "--no-build-isolation", "--disable-pip-version-check"]
    subprocess.run([*pip, *options, *arguments], check=True, capture_output=True)


def assert_every_builtin_is_installed(python: Path, cwd: Path) -> None:
    launcher = str(python.parent / "llmtrace-run")
    info = subprocess.run([launcher, "--info"], capture_output=True, text=True, cwd=cwd)
    assert info.returncode == 0, info.stderr
    for name, *_ in BUILTINS:
        assert f"\n{name} " in "\n" + info.stdout, f"{name} missing from --info:\n{info.stdout}"
    traced = subprocess.run(
        [launcher, "--exporter", "none", str(python), "-c", PROGRAM],
        capture_output=True,
        text=True,
        cwd=cwd,
    )
    assert traced.returncode == 0, traced.stderr
    assert "requests         patched" in traced.stdout, traced.stdout + traced.stderr
    located = subprocess.run(
        [str(python), "-c", "import llmtrace_agent.instrumentors as m; print(m.__file__)"],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=True,
    )
    assert not located.stdout.startswith(str(REPO)), "imported the repository, not the install"


def test_wheel_built_from_the_checkout(checkout: Path, tmp_path: Path) -> None:
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
    options = ["--no-build-isolation", "-w", str(tmp_path / "dist"), str(checkout)]
    subprocess.run([*pip_wheel, *options], check=True, capture_output=True)
    [wheel] = (tmp_path / "dist").glob("*.whl")
    python = fresh_venv(tmp_path / "venv")
    pip_install(python, str(wheel))
    assert_every_builtin_is_installed(python, tmp_path)


def test_pip_install_from_the_checkout(checkout: Path, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    pip_install(python, str(checkout))
    assert_every_builtin_is_installed(python, tmp_path)


def test_editable_install_from_the_checkout(checkout: Path, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    pip_install(python, "-e", str(checkout))
    assert_every_builtin_is_installed(python, tmp_path)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(tmp_path / "venv")}))
    hooks = [path.name for path in site.glob("*.pth") if "import " in path.read_text()]
    assert hooks == [], f"an import hook runs at every interpreter start: {hooks}"


def test_checkout_script_traces_with_the_builtins_and_nothing_installed(
    checkout: Path, tmp_path: Path
) -> None:
    python = fresh_venv(tmp_path / "venv")  # the dependencies, but no llmtrace-agent
    launcher = [str(python), str(checkout / "scripts" / "llmtrace-run")]
    info = subprocess.run([*launcher, "--info"], capture_output=True, text=True, cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    for name, *_ in BUILTINS:
        assert f"\n{name} " in "\n" + info.stdout, f"{name} missing from --info:\n{info.stdout}"
    traced = subprocess.run(
        [*launcher, "--exporter", "none", str(python), "-c", PROGRAM],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert traced.returncode == 0, traced.stderr
    assert "requests         patched" in traced.stdout, traced.stdout + traced.stderr
