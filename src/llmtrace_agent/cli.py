"""``llmtrace-run``: run a command with the agent started in every Python process it spawns.

It prepends the bootstrap directory to PYTHONPATH, turns options into environment variables
(so child processes inherit them too) and execs the command: same pid, signals and exit code.
Nothing heavy is imported here; the launcher's own cost is part of the start-up budget.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

USAGE = """\
usage: llmtrace-run [OPTIONS] [--] COMMAND [ARGS...]

Run COMMAND with OpenTelemetry tracing of its LLM and HTTP calls.
Example: llmtrace-run python app.py

options:
  --exporter LIST        otlp, console, file, none (comma list)   [LLMTRACE_EXPORTER]
  --service-name NAME    service.name of the traces               [OTEL_SERVICE_NAME]
  --endpoint URL         OTLP receiver base URL                   [OTEL_EXPORTER_OTLP_ENDPOINT]
  --capture-content      record prompts and completions           [LLMTRACE_CAPTURE_CONTENT]
  --debug                verbose agent logging                    [LLMTRACE_DEBUG]
  --info                 print the configuration and the plugins found, then exit
  --bootstrap-dir        print the directory to put first on PYTHONPATH to trace without
                         this launcher (e.g. in a container image), then exit
  --version              print the version and exit
  -h, --help             show this help and exit
"""

# option -> (environment variable, value when given as a bare flag, or None if it takes a value)
_OPTIONS: dict[str, tuple[str, str | None]] = {
    "--exporter": ("LLMTRACE_EXPORTER", None),
    "--service-name": ("OTEL_SERVICE_NAME", None),
    "--endpoint": ("OTEL_EXPORTER_OTLP_ENDPOINT", None),
    "--capture-content": ("LLMTRACE_CAPTURE_CONTENT", "true"),
    "--debug": ("LLMTRACE_DEBUG", "true"),
}
_PYTHON_FLAGS_THAT_DISABLE = {"S": "-S (no site)", "I": "-I (isolated)", "E": "-E (ignore env)"}
_PYTHON_OPTIONS_WITH_VALUE = "WX"  # -W and -X take a value, attached or as the next argument
_PYTHON_LONG_OPTIONS_WITH_VALUE = ("--check-hash-based-pycs",)


def bootstrap_dir() -> str:
    """The directory holding the agent's ``sitecustomize.py``."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap")


def parse_args(argv: list[str], env: dict[str, str]) -> list[str]:
    """Apply options to ``env``; return the command. Exits for the options that only print."""
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            index += 1
            break
        if not arg.startswith("-"):
            break
        name, has_value, value = arg.partition("=")
        if name in ("-h", "--help"):
            _print_help()
            raise SystemExit(0)
        if name == "--version":
            from llmtrace_agent._version import __version__

            print(f"llmtrace-run {__version__}")
            raise SystemExit(0)
        if name == "--bootstrap-dir":
            print(bootstrap_dir())
            raise SystemExit(0)
        if name == "--info":
            _print_info(env)
            raise SystemExit(0)
        if name not in _OPTIONS:
            _fail(f"unknown option {arg!r} (see llmtrace-run --help)")
        variable, flag_value = _OPTIONS[name]
        if flag_value is not None:
            env[variable] = value if has_value else flag_value
        elif has_value:
            env[variable] = value
        elif index + 1 < len(argv):
            index += 1
            env[variable] = argv[index]
        else:
            _fail(f"option {name} needs a value")
        index += 1
    return argv[index:]


def prepend_bootstrap(env: dict[str, str]) -> None:
    """Put the bootstrap directory first on PYTHONPATH, once, keeping the user's entries."""
    ours = bootstrap_dir()
    current = env.get("PYTHONPATH", "")
    # An empty entry means the working directory to Python: keep it, it is the user's.
    entries = [e for e in current.split(os.pathsep) if e != ours] if current else []
    env["PYTHONPATH"] = os.pathsep.join([ours, *entries])


def warn_if_python_skips_site(command: list[str]) -> None:
    """Python run with -S, -I or -E never reads our sitecustomize: say so once."""
    if not os.path.basename(command[0]).startswith("python"):
        return
    disabling = python_flags_that_disable(command[1:])
    if disabling:
        sys.stderr.write(
            f"llmtrace-run: warning: python {_PYTHON_FLAGS_THAT_DISABLE[disabling[0]]} skips the "
            "agent's start-up hook; this process will not be traced\n"
        )


def python_flags_that_disable(args: list[str]) -> list[str]:
    """The letters among S, I, E in Python's own options (before the script, -c or -m)."""
    found = []
    args_iter = iter(args)
    for arg in args_iter:
        if arg in _PYTHON_LONG_OPTIONS_WITH_VALUE:
            next(args_iter, None)
            continue
        if arg == "-" or arg == "--" or not arg.startswith("-"):
            break  # the script, stdin, or the end of Python's options
        if arg.startswith("--"):
            continue
        for position, letter in enumerate(arg[1:], start=1):
            if letter in "cm":
                return found  # the rest of the command line belongs to the program
            if letter in _PYTHON_OPTIONS_WITH_VALUE:
                if position == len(arg) - 1:
                    next(args_iter, None)  # -W error: the value is the next argument
                break  # -Werror: the rest of this argument is the value
            if letter in _PYTHON_FLAGS_THAT_DISABLE and letter not in found:
                found.append(letter)
    return found


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``llmtrace-run`` console script."""
    env = dict(os.environ)
    command = parse_args(sys.argv[1:] if argv is None else argv, env)
    if not command:
        _fail("no command given (see llmtrace-run --help)")
    prepend_bootstrap(env)
    warn_if_python_skips_site(command)
    try:
        # A name is looked up on the command's PATH, as a shell does; a path is used as is.
        os.execvpe(command[0], command, env)
    except FileNotFoundError:
        _not_found(command[0])
    except OSError as exc:  # the shell's convention: 126 found but cannot run, 127 not found
        sys.stderr.write(f"llmtrace-run: cannot run {command[0]}: {exc.strerror}\n")
        raise SystemExit(126) from None


def _not_found(command: str) -> NoReturn:
    sys.stderr.write(f"llmtrace-run: command not found: {command}\n")
    raise SystemExit(127)


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"llmtrace-run: {message}\n")
    raise SystemExit(2)


def _print_help() -> None:
    from llmtrace_agent._runtime.config import SETTINGS

    width = max(len(setting.env) for setting in SETTINGS)
    lines = [USAGE, "environment variables:"]
    for setting in SETTINGS:
        lines.append(f"  {setting.env:<{width}}  {setting.doc.replace('`', '')}")
        lines.append(f"  {'':<{width}}  default: {setting.shown_default.replace('`', '')}")
    print("\n".join(lines))


def _print_info(env: dict[str, str]) -> None:
    from llmtrace_agent._runtime.config import Config
    from llmtrace_agent._runtime.plugins import PluginRegistry, discover

    config = Config.from_env(env)
    for warning in config.warnings:
        print(f"warning: {warning}")
    print(repr(config))
    registry = PluginRegistry(config)
    registry.activate(discover())
    print(registry.describe())
