"""llmtrace-run: exec semantics, PYTHONPATH, options, help and errors (real subprocesses)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from llmtrace_agent._runtime.config import SETTINGS
from llmtrace_agent._version import __version__
from llmtrace_agent.cli import _OPTIONS, bootstrap_dir, python_flags_that_disable
from tests.support.agent import REPO, clean_env, code, launcher, run_launcher

PYTHON = sys.executable
BOOTSTRAP = bootstrap_dir()


def run_python(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``llmtrace-run -- python *args``."""
    return run_launcher(["--", PYTHON, *args], env)


# --- exec: the command becomes the launcher's process ----------------------------------------


def test_command_runs_in_the_launchers_own_process() -> None:
    process = subprocess.Popen(
        launcher("--", PYTHON, "-c", "import os; print(os.getpid())"),
        env=clean_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = process.communicate(timeout=30)
    assert int(out) == process.pid


@pytest.mark.parametrize(
    ("source", "exit_code"),
    [("pass", 0), ("import sys; sys.exit(3)", 3), ("raise RuntimeError('app failed')", 1)],
)
def test_exit_code_of_the_command_is_the_launchers(source: str, exit_code: int) -> None:
    assert run_python("-c", source).returncode == exit_code


def test_signal_that_kills_the_command_is_reported_by_the_launcher() -> None:
    result = run_python("-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)")
    assert result.returncode == -signal.SIGTERM


def test_signal_sent_to_the_launcher_reaches_the_command() -> None:
    app = """
        import signal, sys, time
        signal.signal(signal.SIGUSR1, lambda *_: (print("got SIGUSR1", flush=True), sys.exit(7)))
        print("ready", flush=True)
        time.sleep(30)
    """
    process = subprocess.Popen(
        launcher("--", PYTHON, *code(app)), env=clean_env(), stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    os.kill(process.pid, signal.SIGUSR1)
    assert process.stdout.read() == "got SIGUSR1\n"
    assert process.wait(timeout=30) == 7


def test_arguments_reach_the_command_unchanged() -> None:
    arguments = ["b c", "", "--debug", "-S", "$HOME", "*", "--", "ünïcode"]
    result = run_python("-c", "import json, sys; print(json.dumps(sys.argv[1:]))", *arguments)
    assert json.loads(result.stdout) == arguments


# --- PYTHONPATH --------------------------------------------------------------------------------

PRINT_PYTHONPATH = "import os; print(os.environ['PYTHONPATH'])"


def test_bootstrap_directory_comes_first_on_pythonpath_before_the_users_entries() -> None:
    result = run_python("-c", PRINT_PYTHONPATH, env={"PYTHONPATH": "/a:/b"})
    assert result.stdout.strip() == f"{BOOTSTRAP}:/a:/b"


def test_working_directory_is_not_added_to_pythonpath() -> None:
    assert run_python("-c", PRINT_PYTHONPATH).stdout.strip() == BOOTSTRAP


def test_empty_pythonpath_entry_meaning_the_working_directory_is_kept() -> None:
    result = run_python("-c", PRINT_PYTHONPATH, env={"PYTHONPATH": ":/a"})
    assert result.stdout.strip() == f"{BOOTSTRAP}::/a"


def test_nested_launcher_does_not_add_the_bootstrap_directory_twice() -> None:
    inner = launcher("--", PYTHON, "-c", PRINT_PYTHONPATH)
    result = run_launcher(["--", *inner], {"PYTHONPATH": "/a"})
    assert result.stdout.strip() == f"{BOOTSTRAP}:/a"


def test_python_finds_the_agents_sitecustomize() -> None:
    result = run_python("-c", "import sitecustomize; print(sitecustomize.__file__)")
    assert Path(result.stdout.strip()) == Path(BOOTSTRAP) / "sitecustomize.py"


# --- options become environment variables ----------------------------------------------------

SHOW_SETTING = """
    import os, sys
    from llmtrace_agent._runtime import agent_state
    variable, field = sys.argv[1:]
    print(os.environ.get(variable), getattr(agent_state.config, field))
"""


@pytest.mark.parametrize(
    ("options", "variable", "field", "expected"),
    [
        (["--exporter", "file"], "LLMTRACE_EXPORTER", "exporters", "file ('file',)"),
        (["--exporter=none"], "LLMTRACE_EXPORTER", "exporters", "none ('none',)"),
        (["--service-name", "svc"], "OTEL_SERVICE_NAME", "service_name", "svc svc"),
        (["--capture-content"], "LLMTRACE_CAPTURE_CONTENT", "capture_content", "true True"),
        (["--debug"], "LLMTRACE_DEBUG", "debug", "true True"),
        (
            ["--endpoint", "http://127.0.0.1:1"],
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "otlp_endpoint",
            "http://127.0.0.1:1 http://127.0.0.1:1",
        ),
    ],
)
def test_option_sets_its_variable_for_the_agent(
    options: list[str], variable: str, field: str, expected: str
) -> None:
    result = run_launcher([*options, "--", PYTHON, *code(SHOW_SETTING), variable, field])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_option_wins_over_the_environment() -> None:
    result = run_launcher(
        ["--exporter", "none", "--", PYTHON, *code(SHOW_SETTING), "LLMTRACE_EXPORTER", "exporters"],
        {"LLMTRACE_EXPORTER": "console"},
    )
    assert result.stdout.strip() == "none ('none',)"


def test_command_without_double_dash_starts_at_the_first_non_option() -> None:
    result = run_launcher(["--debug", PYTHON, "-c", "print('ran')", "--exporter", "x"])
    assert result.stdout == "ran\n"


def test_option_missing_its_value_is_an_error() -> None:
    result = run_launcher(["--exporter"])
    assert (result.returncode, result.stderr) == (
        2,
        "llmtrace-run: option --exporter needs a value\n",
    )


def test_unknown_option_is_an_error() -> None:
    result = run_launcher(["--frobnicate", "--", PYTHON, "-c", "pass"])
    assert result.returncode == 2
    assert "unknown option '--frobnicate'" in result.stderr


def test_missing_command_is_an_error() -> None:
    result = run_launcher(["--debug"])
    assert (result.returncode, result.stderr) == (
        2,
        "llmtrace-run: no command given (see llmtrace-run --help)\n",
    )


# --- help, version, info ------------------------------------------------------------------------


def test_help_lists_every_option() -> None:
    help_text = run_launcher(["--help"]).stdout
    for option in [*_OPTIONS, "--info", "--version", "--help"]:
        assert re.search(rf"^\s+(-h, )?{option}\b", help_text, re.MULTILINE), option


def test_help_lists_every_variable_with_its_default() -> None:
    help_text = run_launcher(["--help"]).stdout
    for setting in SETTINGS:
        line = re.search(rf"^  {setting.env} +(.+)\n +default: (.+)$", help_text, re.MULTILINE)
        assert line is not None, setting.env
        assert line[2] == setting.shown_default.replace("`", "")


def test_short_help_option_is_help() -> None:
    assert run_launcher(["-h"]).stdout == run_launcher(["--help"]).stdout


def test_version_prints_the_package_version() -> None:
    result = run_launcher(["--version"])
    assert (result.returncode, result.stdout) == (0, f"llmtrace-run {__version__}\n")


def test_bootstrap_dir_on_pythonpath_traces_a_program_without_the_launcher() -> None:
    printed = run_launcher(["--bootstrap-dir"])
    assert (printed.returncode, printed.stdout) == (0, BOOTSTRAP + "\n")
    probe = "import llmtrace_agent; print(llmtrace_agent.status() != 'agent not started')"
    env = clean_env({"PYTHONPATH": BOOTSTRAP, "LLMTRACE_EXPORTER": "none"})
    result = subprocess.run([PYTHON, "-c", probe], env=env, capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (0, "True\n"), result.stderr


def test_info_prints_the_configuration_from_the_environment() -> None:
    result = run_launcher(["--info"], {"LLMTRACE_CAPTURE_CONTENT": "true"})
    assert result.returncode == 0
    assert "capture_content=True" in result.stdout


def test_info_lists_the_installed_plugins_without_importing_their_targets() -> None:
    result = run_launcher(["--info"])
    assert re.search(r"^requests +waiting +targets=requests$", result.stdout, re.MULTILINE)


def test_info_reports_invalid_settings() -> None:
    result = run_launcher(["--info"], {"LLMTRACE_EXPORTER": "bogus"})
    assert "warning: LLMTRACE_EXPORTER='bogus' is invalid" in result.stdout


# --- commands that cannot run -------------------------------------------------------------------


def test_command_not_found_exits_127() -> None:
    result = run_launcher(["--", "no-such-command-llmtrace"])
    assert (result.returncode, result.stderr) == (
        127,
        "llmtrace-run: command not found: no-such-command-llmtrace\n",
    )


def test_path_to_a_missing_file_exits_127(tmp_path: Path) -> None:
    assert run_launcher(["--", str(tmp_path / "missing")]).returncode == 127


def test_file_that_is_not_executable_exits_126(tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\n")
    result = run_launcher(["--", str(script)])
    assert result.returncode == 126
    assert "Permission denied" in result.stderr


def test_command_is_looked_up_on_path() -> None:
    python_dir = str(Path(PYTHON).parent)
    result = run_launcher(
        ["--", Path(PYTHON).name, "-c", "print('found')"],
        {"PATH": python_dir + os.pathsep + os.environ.get("PATH", "")},
    )
    assert result.stdout == "found\n"


# --- Python options that make tracing impossible ----------------------------------------------


@pytest.mark.parametrize(
    ("flags", "meaning"),
    [(["-S"], "-S (no site)"), (["-I"], "-I (isolated)"), (["-E"], "-E (ignore env)")],
)
def test_python_flag_that_skips_the_agent_is_warned_about_once(
    flags: list[str], meaning: str
) -> None:
    result = run_python(*flags, "-c", "print('ran')")
    assert result.stdout == "ran\n"
    assert result.stderr == (
        f"llmtrace-run: warning: python {meaning} skips the agent's start-up hook; "
        "this process will not be traced\n"
    )


def test_python_without_such_flags_gets_no_warning() -> None:
    result = run_python("-u", "-W", "default", "-c", "pass", "-S")
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("args", "found"),
    [
        (["-S", "-c", "x"], ["S"]),
        (["-IS"], ["I", "S"]),
        (["-uE", "app.py"], ["E"]),
        (["-X", "importtime", "-S"], ["S"]),
        (["-W", "error", "-I"], ["I"]),
        (["--check-hash-based-pycs", "always", "-E"], ["E"]),
        (["-Wdefault::ImportWarning", "app.py"], []),  # the value of -W, not -I
        (["-XE"], []),
        (["-c", "pass", "-S"], []),  # the program's argument
        (["-m", "mod", "-I"], []),
        (["app.py", "-E"], []),
        (["-", "-S"], []),
    ],
)
def test_python_options_are_parsed_as_python_parses_them(args: list[str], found: list[str]) -> None:
    assert python_flags_that_disable(args) == found


# --- the installed script and the checkout script ---------------------------------------------

RUNS_TRACED = "import llmtrace_agent._runtime.agent_state as s; print(s.started)"


def test_console_script_runs_the_command_traced() -> None:
    script = Path(PYTHON).parent / "llmtrace-run"
    result = subprocess.run(
        [str(script), PYTHON, "-c", RUNS_TRACED], env=clean_env(), capture_output=True, text=True
    )
    assert result.stdout == "True\n", result.stderr


def test_checkout_script_runs_the_command_traced() -> None:
    result = subprocess.run(
        [PYTHON, str(REPO / "scripts" / "llmtrace-run"), PYTHON, "-c", RUNS_TRACED],
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    assert result.stdout == "True\n", result.stderr


def test_launcher_imports_nothing_heavy_before_exec() -> None:
    result = subprocess.run(
        [PYTHON, "-X", "importtime", "-m", "llmtrace_agent", "--", "true"],
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
    heavy = {
        "opentelemetry",
        "wrapt",
        "importlib.metadata",
        "llmtrace_agent._runtime.plugins",
        "logging",
    }
    assert "llmtrace_agent.cli" in imported
    assert not heavy & imported
