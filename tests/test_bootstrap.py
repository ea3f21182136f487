"""The sitecustomize bootstrap: start-up, chaining the user's sitecustomize, one start per process,
disabled modes, and the processes an application starts (subprocess, fork, multiprocessing)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from llmtrace_agent.cli import bootstrap_dir
from tests.support.agent import clean_env, code, launcher, run_traced
from tests.support.otlp_receiver import OTLPReceiver
from tests.support.plugins import write_distribution

SPAN = """
    from opentelemetry import trace
    with trace.get_tracer("app").start_as_current_span({name!r}):
        pass
"""


def span_code(name: str) -> str:
    return SPAN.format(name=name)


def user_sitecustomize(directory: Path, source: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text(textwrap.dedent(source))
    return directory


# --- start-up -----------------------------------------------------------------------------------


def test_agent_is_started_before_the_program_runs() -> None:
    result = run_traced(code("import llmtrace_agent._runtime.agent_state as s; print(s.started)"))
    assert result.stdout == "True\n", result.stderr


def test_start_up_imports_no_sdk_wrapt_metadata_or_target_library() -> None:
    heavy = ("opentelemetry", "wrapt", "importlib.metadata", "requests", "httpx", "openai")
    probe = f"import sys; print(sorted(m for m in sys.modules if m.startswith({heavy!r})))"
    result = run_traced(["-c", probe])
    assert result.stdout == "[]\n", result.stderr


def test_program_sees_no_stray_output_from_the_agent() -> None:
    result = run_traced(["-c", "print('only this')"])
    assert (result.stdout, result.stderr) == ("only this\n", "")


# --- chaining the user's own sitecustomize -----------------------------------------------------

MARKING_SITECUSTOMIZE = """
    import sys
    sys.user_sitecustomize_ran = True
    print("user sitecustomize ran", file=sys.stderr)
"""
SHOW_BOTH = """
    import sys
    import llmtrace_agent._runtime.agent_state as state
    print(getattr(sys, "user_sitecustomize_ran", False), state.started)
"""


def test_users_sitecustomize_runs_and_so_does_the_agent(tmp_path: Path) -> None:
    user_dir = user_sitecustomize(tmp_path / "user", MARKING_SITECUSTOMIZE)
    result = run_traced(code(SHOW_BOTH), env={"PYTHONPATH": str(user_dir)})
    assert result.stdout == "True True\n", result.stderr


def test_users_sitecustomize_is_the_module_the_program_imports(tmp_path: Path) -> None:
    user_dir = user_sitecustomize(tmp_path / "user", MARKING_SITECUSTOMIZE)
    result = run_traced(
        ["-c", "import sitecustomize; print(sitecustomize.__file__)"],
        env={"PYTHONPATH": str(user_dir)},
    )
    assert Path(result.stdout.strip()) == user_dir / "sitecustomize.py"


def test_error_inside_users_sitecustomize_is_reported_as_python_reports_it(
    tmp_path: Path,
) -> None:
    user_dir = user_sitecustomize(tmp_path / "user", "import module_that_does_not_exist\n")
    env = {"PYTHONPATH": str(user_dir)}
    untraced = subprocess.run(
        [sys.executable, "-c", "pass"], env=clean_env(env), capture_output=True, text=True
    )
    assert "Error in sitecustomize" in untraced.stderr  # what Python prints without the agent
    result = run_traced(code(SHOW_BOTH), env=env)
    assert untraced.stderr in result.stderr
    assert result.stdout == "False True\n"  # the program runs, traced


def test_agent_starts_even_when_users_sitecustomize_raises(tmp_path: Path) -> None:
    user_dir = user_sitecustomize(tmp_path / "user", "raise RuntimeError('user bug')\n")
    result = run_traced(code(SHOW_BOTH), env={"PYTHONPATH": str(user_dir)})
    assert result.stdout == "False True\n"


def test_nested_launchers_of_two_installations_still_chain_to_the_users_sitecustomize(
    tmp_path: Path,
) -> None:
    other_installation = tmp_path / "other" / "bootstrap"
    shutil.copytree(bootstrap_dir(), other_installation)
    user_dir = user_sitecustomize(tmp_path / "user", MARKING_SITECUSTOMIZE)
    result = run_traced(code(SHOW_BOTH), env={"PYTHONPATH": f"{other_installation}:{user_dir}"})
    assert result.stdout == "True True\n"
    assert result.stderr.count("user sitecustomize ran") == 2  # the launcher's process, the app


# --- failures of the agent itself --------------------------------------------------------------


def broken_plugin_dir(tmp_path: Path) -> Path:
    """A plugin whose module raises at import: with LLMTRACE_RAISE_INTERNAL_ERRORS the agent's
    start fails, which is how these tests make the agent itself fail."""
    return write_distribution(
        tmp_path / "plugins",
        "broken-plugin",
        {"broken": "broken_plugin:Plugin"},
        {"broken_plugin": "raise RuntimeError('plugin exploded')\n"},
    )


def test_agent_that_fails_to_start_says_so_in_one_line_and_the_program_runs(
    tmp_path: Path,
) -> None:
    plugins = broken_plugin_dir(tmp_path)
    result = run_traced(["-c", "print('program ran')"], env={"PYTHONPATH": str(plugins)})
    assert result.returncode == 0
    assert result.stdout == "program ran\n"
    not_started = [line for line in result.stderr.splitlines() if "not started" in line]
    assert len(not_started) == 1
    assert not_started[0].startswith("llmtrace-agent: not started, your program runs untraced:")
    assert "Traceback" not in result.stderr


def test_agent_that_fails_to_start_prints_the_traceback_in_debug_mode(tmp_path: Path) -> None:
    plugins = broken_plugin_dir(tmp_path)
    result = run_traced(["-c", "pass"], env={"PYTHONPATH": str(plugins), "LLMTRACE_DEBUG": "true"})
    assert result.returncode == 0
    assert "Traceback (most recent call last)" in result.stderr


# --- one start per process ----------------------------------------------------------------------

GREET_ONCE = """
    import example_target
    example_target.greet("once")
"""


def test_nested_launcher_starts_the_agent_once(
    receiver: OTLPReceiver, example_plugin_dir: Path
) -> None:
    result = run_traced(
        [*code(GREET_ONCE)],
        receiver,
        env={"PYTHONPATH": str(example_plugin_dir)},
        launcher_options=["--", *launcher("--")[:-1]],  # llmtrace-run -- llmtrace-run -- python
    )
    assert result.returncode == 0, result.stderr
    assert [span.name for span in receiver.wait_for_spans(1)] == ["greet"]


def test_start_called_by_a_launched_program_does_nothing(
    receiver: OTLPReceiver, example_plugin_dir: Path
) -> None:
    app = """
        import llmtrace_agent
        print(llmtrace_agent.start(), llmtrace_agent.start(capture_content=True))
        import example_target
        example_target.greet("once")
    """
    result = run_traced(code(app), receiver, env={"PYTHONPATH": str(example_plugin_dir)})
    assert result.stdout == "False False\n", result.stderr
    assert [span.name for span in receiver.wait_for_spans(1)] == ["greet"]


# --- disabled -----------------------------------------------------------------------------------

DISABLED_APP = """
    from opentelemetry import trace
    import example_target
    with trace.get_tracer("app").start_as_current_span("app"):
        example_target.greet("nobody")
    import llmtrace_agent
    print(hasattr(example_target.greet, "__wrapped__"), type(trace.get_tracer_provider()).__name__)
    print(llmtrace_agent.status())
"""


@pytest.mark.parametrize(
    "switch", [{"LLMTRACE_ENABLED": "false"}, {"OTEL_SDK_DISABLED": "true"}], ids=str
)
def test_disabled_agent_patches_nothing_and_exports_nothing(
    switch: dict[str, str], receiver: OTLPReceiver, example_plugin_dir: Path
) -> None:
    env = {"PYTHONPATH": str(example_plugin_dir), **switch}
    result = run_traced(code(DISABLED_APP), receiver, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "False ProxyTracerProvider\nagent disabled\n"
    assert receiver.spans == []  # the process has exited: anything exported has arrived
    assert receiver.paths == []


# --- processes the program starts ---------------------------------------------------------------


def test_child_python_process_is_traced_too(receiver: OTLPReceiver) -> None:
    child = textwrap.dedent(span_code("child"))
    program = textwrap.dedent(span_code("parent")) + textwrap.dedent(f"""
        import subprocess, sys
        subprocess.run([sys.executable, "-c", {child!r}], check=True)
    """)
    result = run_traced(["-c", program], receiver)
    assert result.returncode == 0, result.stderr
    spans = receiver.wait_for_spans(2)
    assert sorted(span.name for span in spans) == ["child", "parent"]
    assert len({span.resource["service.instance.id"] for span in spans}) == 2


MULTIPROCESSING_APP = """
import multiprocessing, os, sys
from opentelemetry import trace

tracer = trace.get_tracer("app")

def work(name):
    with tracer.start_as_current_span(name):
        pass

if __name__ == "__main__":
    method, when = sys.argv[1:]
    if when == "parent-first":
        work("parent")
    if method == "os.fork":
        pid = os.fork()
        if pid == 0:
            work("child")
            sys.exit(0)
        os.waitpid(pid, 0)
    elif method == "pool":
        pool = multiprocessing.get_context("fork").Pool(2)
        pool.map(work, ["child-1", "child-2", "child-3"])
        pool.close()
        pool.join()
    else:
        process = multiprocessing.get_context(method).Process(target=work, args=("child",))
        process.start()
        process.join()
        sys.exit(process.exitcode)
"""


@pytest.mark.parametrize("when", ["parent-first", "child-first"])
@pytest.mark.parametrize("method", ["os.fork", "fork", "spawn", "forkserver"])
def test_forked_and_spawned_children_export_their_own_spans(
    method: str, when: str, receiver: OTLPReceiver, tmp_path: Path
) -> None:
    app = tmp_path / "app.py"
    app.write_text(MULTIPROCESSING_APP)
    result = run_traced([str(app), method, when], receiver)
    assert result.returncode == 0, result.stderr
    expected = ["child", "parent"] if when == "parent-first" else ["child"]
    spans = receiver.wait_for_spans(len(expected), timeout=5)
    assert sorted(span.name for span in spans) == expected


def test_pool_workers_export_their_own_spans(receiver: OTLPReceiver, tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(MULTIPROCESSING_APP)
    result = run_traced([str(app), "pool", "child-first"], receiver)
    assert result.returncode == 0, result.stderr
    spans = receiver.wait_for_spans(3, timeout=5)
    assert sorted(span.name for span in spans) == ["child-1", "child-2", "child-3"]


# --- another interpreter than the launcher's ------------------------------------------------------


def test_python_without_the_package_installed_still_starts_the_agent() -> None:
    if sys.prefix == sys.base_prefix:
        pytest.skip("the tests do not run in a virtual environment")
    base_python = sys._base_executable  # type: ignore[attr-defined]
    probe = "import llmtrace_agent._runtime.agent_state as s, sys; print(s.started, sys.executable)"
    result = subprocess.run(
        launcher("--", base_python, "-c", probe), env=clean_env(), capture_output=True, text=True
    )
    assert result.stdout == f"True {base_python}\n", result.stderr


def test_missing_wrapt_never_breaks_the_programs_import(
    example_plugin_dir: Path, tmp_path: Path
) -> None:
    no_wrapt = tmp_path / "no-wrapt"
    (no_wrapt / "wrapt").mkdir(parents=True)
    (no_wrapt / "wrapt" / "__init__.py").write_text("raise ImportError('no wrapt here')\n")
    app = "import example_target; print(example_target.greet('ada'))"
    env = {"PYTHONPATH": f"{no_wrapt}:{example_plugin_dir}", "LLMTRACE_EXPORTER": "none"}
    result = run_traced(["-c", app], env=env)
    assert (result.returncode, result.stdout) == (0, "hello ada\n"), result.stderr
    assert result.stderr == (
        "llmtrace-agent: instrumentors not activated, wrapt unavailable: "
        "ImportError('no wrapt here')\n"
    )
