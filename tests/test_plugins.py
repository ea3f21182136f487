"""Instrumentor plugins: discovery through entry points, lazy patching in any import order,
idempotence, failure isolation, allow/deny lists and the status report.

The example plugin (examples/plugin_package) is installed with pip into a directory that the
traced programs get on PYTHONPATH, as a third-party plugin would be.
"""

from __future__ import annotations

import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from llmtrace_agent._runtime.plugins import _parse_requirement, discover
from tests.support.agent import code, run_launcher, run_traced
from tests.support.otlp_receiver import OTLPReceiver, ReceivedSpan
from tests.support.plugins import write_distribution

GREET = """
    import example_target
    print(example_target.greet("ada"))
"""


def with_plugins(*directories: Path, **env: str) -> dict[str, str]:
    return {"PYTHONPATH": ":".join(str(directory) for directory in directories), **env}


# --- discovery ------------------------------------------------------------------------------------


def test_example_plugin_is_found_through_its_entry_point(example_plugin_dir: Path) -> None:
    [entry_point] = discover([str(example_plugin_dir)])
    assert (entry_point.name, entry_point.value, entry_point.distribution) == (
        "example",
        "llmtrace_example_plugin:ExampleInstrumentor",
        "llmtrace_example_plugin",
    )


def test_discovery_does_not_import_the_target(example_plugin_dir: Path) -> None:
    app = """
        import sys, llmtrace_agent
        print("example_target" in sys.modules)
        print(llmtrace_agent.status())
    """
    result = run_traced(code(app), env=with_plugins(example_plugin_dir))
    assert result.stdout.splitlines()[0] == "False", result.stderr
    assert re.search(r"^example +loaded +targets=example_target$", result.stdout, re.MULTILINE)


def test_first_distribution_on_the_path_wins(tmp_path: Path) -> None:
    write_distribution(tmp_path / "first", "dup", {"one": "first_module:Plugin"}, {})
    write_distribution(tmp_path / "second", "dup", {"two": "second_module:Plugin"}, {})
    found = discover([str(tmp_path / "first"), str(tmp_path / "second")])
    assert [entry_point.name for entry_point in found] == ["one"]


def test_egg_info_distributions_are_found(tmp_path: Path) -> None:
    egg_info = tmp_path / "legacy.egg-info"
    egg_info.mkdir()
    (egg_info / "entry_points.txt").write_text(
        "[console_scripts]\ntool = legacy:main\n\n"
        "[llmtrace.instrumentors]\n# a comment\nlegacy = legacy_plugin:Plugin\n"
    )
    found = discover([str(tmp_path)])
    assert [(ep.name, ep.value, ep.distribution) for ep in found] == [
        ("legacy", "legacy_plugin:Plugin", "legacy")
    ]


def test_missing_path_entries_are_skipped(tmp_path: Path, example_plugin_dir: Path) -> None:
    found = discover([str(tmp_path / "missing"), str(example_plugin_dir)])
    assert [entry_point.name for entry_point in found] == ["example"]


# --- lazy patching, in any order ---------------------------------------------------------------


def test_target_imported_by_the_program_is_patched(
    receiver: OTLPReceiver, example_plugin_dir: Path
) -> None:
    result = run_traced(code(GREET), receiver, env=with_plugins(example_plugin_dir))
    assert result.stdout == "hello ada\n", result.stderr
    greet = receiver.span("greet")
    assert greet.attributes == {"example.name": "ada"}
    assert greet.scope == "llmtrace_agent.example"


def test_target_imported_before_the_agent_starts_is_patched_at_start(
    receiver: OTLPReceiver, example_plugin_dir: Path, tmp_path: Path
) -> None:
    user_dir = tmp_path / "user"
    user_dir.mkdir()
    (user_dir / "sitecustomize.py").write_text(
        "import sys, example_target\nsys.imported_before_agent = True\n"
    )
    app = code("import sys\nprint(sys.imported_before_agent)\n", GREET)
    result = run_traced(app, receiver, env=with_plugins(user_dir, example_plugin_dir))
    assert result.stdout == "True\nhello ada\n", result.stderr
    receiver.span("greet")


@pytest.mark.parametrize(
    "imports",
    [
        "import example_target\nfrom opentelemetry import trace",
        "from opentelemetry import trace\nimport example_target",
        "from opentelemetry import trace\nimport importlib\n"
        "example_target = importlib.import_module('example_target')",
        "from opentelemetry import trace\nfrom example_target import greet\n"
        "import types\nexample_target = types.SimpleNamespace(greet=greet)",
    ],
    ids=["target-first", "api-first", "import_module", "from-import"],
)
def test_import_order_does_not_matter(
    imports: str, receiver: OTLPReceiver, example_plugin_dir: Path
) -> None:
    app = imports + textwrap.dedent("""
        with trace.get_tracer("app").start_as_current_span("outer"):
            example_target.greet("ada")
    """)
    result = run_traced(["-c", app], receiver, env=with_plugins(example_plugin_dir))
    assert result.returncode == 0, result.stderr
    outer, greet = receiver.span("outer"), receiver.span("greet")
    assert greet.parent_span_id == outer.span_id


def test_target_imported_in_a_thread_is_patched(
    receiver: OTLPReceiver, example_plugin_dir: Path
) -> None:
    app = """
        import threading
        def work():
            import example_target
            example_target.greet("thread")
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    """
    run_traced(code(app), receiver, env=with_plugins(example_plugin_dir))
    assert receiver.span("greet").attributes == {"example.name": "thread"}


def test_patching_twice_wraps_once(receiver: OTLPReceiver, example_plugin_dir: Path) -> None:
    app = """
        import example_target
        from llmtrace_agent._runtime import agent
        instrumentor = agent.registry.statuses["example"].instrumentor
        instrumentor.instrument(example_target)
        instrumentor.instrument(example_target)
        example_target.greet("once")
        print(hasattr(example_target.greet.__wrapped__, "__wrapped__"))
    """
    result = run_traced(code(app), receiver, env=with_plugins(example_plugin_dir))
    assert result.stdout == "False\n", result.stderr
    assert [span.name for span in receiver.wait_for_spans(1)] == ["greet"]


def test_uninstrument_restores_the_original(
    receiver: OTLPReceiver, example_plugin_dir: Path
) -> None:
    app = """
        import example_target
        from llmtrace_agent._runtime import agent
        agent.registry.uninstrument_all()
        example_target.greet("untraced")
        [example] = [line for line in agent.status().splitlines() if line.startswith("example")]
        print(hasattr(example_target.greet, "__wrapped__"), example.split()[1])
    """
    result = run_traced(code(app), receiver, env=with_plugins(example_plugin_dir))
    assert result.stdout == "False loaded\n", result.stderr
    assert receiver.spans == []


def test_exception_of_the_target_passes_through_the_plugin(
    receiver: OTLPReceiver, example_plugin_dir: Path
) -> None:
    app = """
        import example_target
        try:
            example_target.greet("")
        except ValueError as error:
            print(repr(error))
    """
    result = run_traced(code(app), receiver, env=with_plugins(example_plugin_dir))
    assert result.stdout == "ValueError('name must not be empty')\n", result.stderr
    greet = receiver.span("greet")
    assert greet.status_code == "ERROR"
    assert [name for name, _ in greet.events] == ["exception"]


# --- a failing plugin never stops the others ------------------------------------------------------

INSTRUMENTOR_MODULE = """
    from llmtrace_agent.toolkit.instrumentor import Instrumentor

    class Plugin(Instrumentor):
        name = "{name}"
        targets = {targets!r}
        requires = {requires!r}

        def instrument(self, module):
            {body}
"""


def plugin_module(
    name: str,
    targets: tuple[str, ...],
    body: str = "pass",
    requires: str | None = None,
) -> str:
    return INSTRUMENTOR_MODULE.format(name=name, targets=targets, body=body, requires=requires)


@pytest.fixture(scope="module")
def failing_plugins_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four broken plugins in four distributions, and the module one of them targets."""
    directory = tmp_path_factory.mktemp("failing")
    write_distribution(
        directory,
        "broken-import",
        {"broken_import": "broken_import_plugin:Plugin"},
        {"broken_import_plugin": "raise RuntimeError('exploded at import')\n"},
    )
    write_distribution(
        directory,
        "broken-instrument",
        {"broken_instrument": "broken_instrument_plugin:Plugin"},
        {
            "broken_instrument_plugin": plugin_module(
                "broken_instrument", ("broken_target",), "raise RuntimeError('exploded')"
            ),
            "broken_target": "VALUE = 'imported fine'\n",
        },
    )
    write_distribution(
        directory,
        "wrong-version",
        {"wrong_version": "wrong_version_plugin:Plugin"},
        {
            "wrong_version_plugin": plugin_module(
                "wrong_version", ("example_target",), requires="llmtrace-example-plugin>=99"
            )
        },
    )
    write_distribution(
        directory,
        "not-a-plugin",
        {"not_a_plugin": "not_a_plugin:Plugin"},
        {"not_a_plugin": "class Plugin:\n    targets = ('example_target',)\n"},
    )
    return directory


FAILURES_APP = """
    import broken_target
    print(broken_target.VALUE)
"""

NO_RAISE = {"LLMTRACE_RAISE_INTERNAL_ERRORS": "false"}
PRINT_STATUS = """
    import llmtrace_agent
    print(llmtrace_agent.status())
"""


@pytest.fixture(scope="module")
def failing_plugins_run(
    example_plugin_dir: Path, failing_plugins_dir: Path
) -> tuple[subprocess.CompletedProcess[str], list[ReceivedSpan]]:
    """The example plugin's target used with all four broken plugins installed too."""
    receiver = OTLPReceiver()
    try:
        env = with_plugins(failing_plugins_dir, example_plugin_dir, **NO_RAISE)
        result = run_traced(code(FAILURES_APP, GREET), receiver, env=env)
        return result, receiver.spans
    finally:
        receiver.close()


def test_other_plugins_work_when_some_fail(
    failing_plugins_run: tuple[subprocess.CompletedProcess[str], list[ReceivedSpan]],
) -> None:
    result, spans = failing_plugins_run
    assert (result.returncode, result.stdout) == (0, "imported fine\nhello ada\n")
    assert [(span.name, span.attributes) for span in spans] == [("greet", {"example.name": "ada"})]


@pytest.mark.parametrize(
    "message",
    [
        "instrumentor 'broken_import' could not be loaded: RuntimeError: exploded at import; "
        "skipped, the others are unaffected",
        "instrumentor 'broken_instrument' failed to instrument broken_target: "
        "RuntimeError: exploded; skipped, the others are unaffected",
        "instrumentor 'wrong_version' skipped: needs llmtrace-example-plugin>=99, found 1.0.0",
        "instrumentor 'not_a_plugin' could not be loaded: TypeError: not_a_plugin:Plugin is not "
        "an llmtrace_agent.Instrumentor subclass; skipped, the others are unaffected",
    ],
    ids=["raises-at-import", "raises-in-instrument", "requires-mismatch", "not-an-instrumentor"],
)
def test_failing_plugin_is_reported_by_name_in_one_line(
    message: str,
    failing_plugins_run: tuple[subprocess.CompletedProcess[str], list[ReceivedSpan]],
) -> None:
    stderr = failing_plugins_run[0].stderr
    assert stderr.splitlines().count(f"llmtrace-agent: {message}") == 1, stderr


def test_status_says_what_became_of_each_plugin(
    example_plugin_dir: Path, failing_plugins_dir: Path
) -> None:
    env = with_plugins(failing_plugins_dir, example_plugin_dir, **NO_RAISE)
    status = run_traced(code(FAILURES_APP, GREET, PRINT_STATUS), env=env).stdout
    expected = {
        "example": "patched",
        "broken_import": "failed",
        "broken_instrument": "failed",
        "wrong_version": "skipped",
        "not_a_plugin": "failed",
    }
    for name, state in expected.items():
        assert re.search(rf"^{name} +{state} ", status, re.MULTILINE), status


def test_requirement_on_a_missing_distribution_skips_the_plugin_quietly(tmp_path: Path) -> None:
    """A module of the target's name without its distribution is another package (an app's own
    ``agents``): the plugin stays out, and says so only in debug output."""
    directory = write_distribution(
        tmp_path / "plugins",
        "needs-missing",
        {"needs_missing": "needs_missing_plugin:Plugin"},
        {
            "needs_missing_plugin": plugin_module(
                "needs_missing", ("json",), requires="no-such-distribution>=1"
            )
        },
    )
    result = run_traced(code("import json"), env=with_plugins(directory, **NO_RAISE))
    assert result.stderr == ""
    debug = run_traced(
        code("import json"), env=with_plugins(directory, LLMTRACE_DEBUG="true", **NO_RAISE)
    )
    assert (
        "instrumentor 'needs_missing' skipped: needs no-such-distribution>=1, "
        "found no distribution" in debug.stderr
    )


# --- allow and deny lists -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lists",
    [
        {"LLMTRACE_INSTRUMENTORS": "requests"},
        {"LLMTRACE_DISABLED_INSTRUMENTORS": "example"},
        {"LLMTRACE_DISABLED_INSTRUMENTORS": "httpx, EXAMPLE"},
    ],
    ids=str,
)
def test_plugin_left_out_by_the_lists_patches_nothing(
    lists: dict[str, str], receiver: OTLPReceiver, example_plugin_dir: Path
) -> None:
    app = code(GREET, 'print(hasattr(example_target.greet, "__wrapped__"))\n', PRINT_STATUS)
    result = run_traced(app, receiver, env=with_plugins(example_plugin_dir, **lists))
    lines = result.stdout.splitlines()
    assert lines[:2] == ["hello ada", "False"], result.stderr
    assert re.search(r"^example +disabled ", result.stdout, re.MULTILINE)
    assert receiver.spans == []


def test_allow_list_enables_only_the_plugins_it_names(
    receiver: OTLPReceiver, example_plugin_dir: Path
) -> None:
    env = with_plugins(example_plugin_dir, LLMTRACE_INSTRUMENTORS="Example")
    result = run_traced(code(GREET, PRINT_STATUS), receiver, env=env)
    states = dict(re.findall(r"^(\S+) +(\S+) ", result.stdout, re.MULTILINE))
    assert states.pop("example") == "patched"
    assert set(states.values()) == {"disabled"}  # every built-in one
    receiver.span("greet")


# --- --info ---------------------------------------------------------------------------------------


def test_info_lists_third_party_plugins(example_plugin_dir: Path) -> None:
    result = run_launcher(["--info"], with_plugins(example_plugin_dir))
    assert re.search(r"^example +loaded +targets=example_target$", result.stdout, re.MULTILINE)


def test_info_shows_disabled_and_failed_plugins(
    example_plugin_dir: Path, failing_plugins_dir: Path
) -> None:
    allowed = "example,broken_import"
    env = with_plugins(failing_plugins_dir, example_plugin_dir, LLMTRACE_INSTRUMENTORS=allowed)
    result = run_launcher(["--info"], env)
    failed = r"^broken_import +failed +targets=\? \(could not be loaded: RuntimeError"
    assert re.search(failed, result.stdout, re.MULTILINE)
    assert re.search(r"^wrong_version +disabled ", result.stdout, re.MULTILINE)


@pytest.mark.parametrize(
    ("requires", "name", "specifier"),
    [
        ("openai>=1,<4", "openai", "<4,>=1"),
        ("anthropic >= 0.43", "anthropic", ">=0.43"),
        ("httpx[http2]>=0.23", "httpx", ">=0.23"),
        ("requests", "requests", ""),
        ('foo>=2; python_version > "3"', "foo", ">=2"),  # a marker: read by packaging's parser
    ],
)
def test_requires_is_read_as_name_and_version_specifier(
    requires: str, name: str, specifier: str
) -> None:
    parsed_name, parsed_specifier = _parse_requirement(requires)
    assert (parsed_name, str(parsed_specifier)) == (name, specifier)
