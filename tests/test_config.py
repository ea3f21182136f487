"""Configuration: one typed, frozen object parsed once; bad values warn and fall back."""

from __future__ import annotations

import json
import re

import pytest

from llmtrace_agent._runtime.config import SETTINGS, Config, markdown_table
from tests.support.agent import REPO, code, run_traced

# --- defaults and derived defaults -------------------------------------------------------------


def test_defaults_trace_to_the_console_without_content() -> None:
    config = Config.from_env({})
    assert config.enabled is True
    assert config.exporters == ("console",)
    assert config.capture_content is False
    assert config.file_path == "llmtrace-traces.jsonl"
    assert config.instrumentors is None
    assert config.disabled_instrumentors == ()
    assert config.metrics_exporter == "none"
    assert config.warnings == ()


@pytest.mark.parametrize(
    "variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
)
def test_an_otlp_endpoint_makes_otlp_the_default_exporter(variable: str) -> None:
    config = Config.from_env({variable: "http://127.0.0.1:4318"})
    assert (config.exporters, config.metrics_exporter) == (("otlp",), "otlp")


def test_explicit_exporter_wins_over_the_derived_default() -> None:
    config = Config.from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "LLMTRACE_EXPORTER": "file"}
    )
    assert (config.exporters, config.metrics_exporter) == (("file",), "none")


def test_exporter_is_a_comma_list() -> None:
    assert Config.from_env({"LLMTRACE_EXPORTER": " OTLP, console ,file"}).exporters == (
        "otlp",
        "console",
        "file",
    )


def test_traces_protocol_refines_the_generic_protocol() -> None:
    config = Config.from_env(
        {
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
        }
    )
    assert config.otlp_protocol == "grpc"


# --- value syntax ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        *[("true", True), ("TRUE", True), ("1", True), ("yes", True), ("on", True)],
        *[("false", False), ("0", False), ("no", False), ("Off", False), ("", False)],
    ],
)
def test_booleans_accept_the_usual_spellings(raw: str, value: bool) -> None:
    assert Config.from_env({"LLMTRACE_CAPTURE_CONTENT": raw}).capture_content is value


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("retries", "retries"),
        ("ALWAYS", "always"),
        ("never", "never"),
        *[("true", "always"), ("1", "always"), ("false", "never"), ("off", "never")],
    ],
)
def test_http_under_llm_is_retries_always_or_never_and_keeps_the_boolean_spellings(
    raw: str, value: str
) -> None:
    assert Config.from_env({"LLMTRACE_HTTP_UNDER_LLM": raw}).http_under_llm == value


def test_http_under_llm_defaults_to_retries_and_an_unknown_value_warns() -> None:
    assert Config.from_env({}).http_under_llm == "retries"
    config = Config.from_env({"LLMTRACE_HTTP_UNDER_LLM": "sometimes"})
    assert config.http_under_llm == "retries"
    assert config.warnings == (
        "LLMTRACE_HTTP_UNDER_LLM='sometimes' is invalid (expected one of retries, always, "
        "never); using 'retries'",
    )


@pytest.mark.parametrize(("given", "value"), [(True, "always"), (False, "never")])
def test_http_under_llm_given_as_a_boolean_override_means_always_or_never(
    given: bool, value: str
) -> None:
    assert Config.from_env({}, http_under_llm=given).http_under_llm == value


def test_otel_sdk_disabled_disables_the_agent() -> None:
    assert Config.from_env({"OTEL_SDK_DISABLED": "true"}).enabled is False


def test_otel_sdk_disabled_false_does_not_override_llmtrace_enabled_false() -> None:
    config = Config.from_env({"LLMTRACE_ENABLED": "false", "OTEL_SDK_DISABLED": "false"})
    assert config.enabled is False


def test_instrumentor_lists_are_lower_case_names() -> None:
    config = Config.from_env(
        {"LLMTRACE_INSTRUMENTORS": "OpenAI, requests", "LLMTRACE_DISABLED_INSTRUMENTORS": "httpx"}
    )
    assert config.instrumentors == ("openai", "requests")
    assert config.disabled_instrumentors == ("httpx",)


@pytest.mark.parametrize(
    ("environ", "name", "enabled"),
    [
        ({}, "anything", True),
        ({"LLMTRACE_INSTRUMENTORS": "openai"}, "OpenAI", True),
        ({"LLMTRACE_INSTRUMENTORS": "openai"}, "requests", False),
        ({"LLMTRACE_DISABLED_INSTRUMENTORS": "requests"}, "requests", False),
        ({"LLMTRACE_INSTRUMENTORS": "a,b", "LLMTRACE_DISABLED_INSTRUMENTORS": "b"}, "b", False),
    ],
)
def test_allow_and_deny_lists_decide_which_instrumentors_run(
    environ: dict[str, str], name: str, enabled: bool
) -> None:
    assert Config.from_env(environ).instrumentor_enabled(name) is enabled


def test_regular_expressions_are_checked_when_parsed() -> None:
    config = Config.from_env({"LLMTRACE_HTTP_EXCLUDE_URLS": "/health$, ^http://internal"})
    assert config.http_exclude_urls == ("/health$", "^http://internal")
    assert config.warnings == ()


# --- invalid values: one warning naming the variable and the value used ----------------------


@pytest.mark.parametrize(
    ("environ", "variable", "used"),
    [
        ({"LLMTRACE_EXPORTER": "bogus"}, "LLMTRACE_EXPORTER", "console"),
        (
            {"LLMTRACE_EXPORTER": "bogus", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"},
            "LLMTRACE_EXPORTER",
            "otlp",
        ),
        ({"LLMTRACE_EXPORTER": "otlp,kafka"}, "LLMTRACE_EXPORTER", "console"),
        ({"LLMTRACE_CAPTURE_CONTENT": "maybe"}, "LLMTRACE_CAPTURE_CONTENT", "false"),
        ({"OTEL_TRACES_SAMPLER_ARG": "abc"}, "OTEL_TRACES_SAMPLER_ARG", "1.0"),
        ({"OTEL_TRACES_SAMPLER_ARG": "1.5"}, "OTEL_TRACES_SAMPLER_ARG", "1.0"),
        ({"OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER", "parentbased_always_on"),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "http/protobuf",
        ),
        ({"OTEL_BSP_SCHEDULE_DELAY": "-5"}, "OTEL_BSP_SCHEDULE_DELAY", "1000"),
        ({"LLMTRACE_SHUTDOWN_TIMEOUT": "soon"}, "LLMTRACE_SHUTDOWN_TIMEOUT", "2.0"),
        ({"LLMTRACE_CONTENT_MAX_LENGTH": "1e3"}, "LLMTRACE_CONTENT_MAX_LENGTH", "16384"),
        ({"LLMTRACE_HTTP_EXCLUDE_URLS": "(unclosed"}, "LLMTRACE_HTTP_EXCLUDE_URLS", "none"),
        ({"OTEL_SDK_DISABLED": "perhaps"}, "OTEL_SDK_DISABLED", "false"),
    ],
)
def test_invalid_value_gives_one_warning_naming_the_variable_and_the_value_used(
    environ: dict[str, str], variable: str, used: str
) -> None:
    config = Config.from_env(environ)
    assert len(config.warnings) == 1
    warning = config.warnings[0]
    assert warning.startswith(f"{variable}={environ[variable]!r} is invalid (")
    assert warning.endswith(f"; using {used!r}")


def test_invalid_value_leaves_the_setting_at_the_value_the_warning_names() -> None:
    config = Config.from_env({"OTEL_TRACES_SAMPLER_ARG": "abc", "LLMTRACE_CAPTURE_CONTENT": "x"})
    assert (config.sampler_arg, config.capture_content) == (1.0, False)


# --- overrides (llmtrace_agent.start(**overrides)) -----------------------------------------------


def test_overrides_win_over_the_environment() -> None:
    config = Config.from_env({"LLMTRACE_CAPTURE_CONTENT": "false"}, capture_content=True)
    assert config.capture_content is True


def test_override_given_as_text_is_parsed_like_the_variable() -> None:
    config = Config.from_env({}, exporters="otlp,file", sampler_arg="0.5")
    assert (config.exporters, config.sampler_arg) == (("otlp", "file"), 0.5)


def test_override_given_as_a_list_becomes_a_tuple() -> None:
    assert Config.from_env({}, exporters=["file"]).exporters == ("file",)


def test_unknown_override_is_ignored_with_a_warning() -> None:
    config = Config.from_env({}, capture_contents=True)
    assert config.warnings == ("unknown setting capture_contents=True ignored",)


# --- immutability ---------------------------------------------------------------------------------


def test_config_cannot_be_changed_in_place() -> None:
    config = Config.from_env({})
    with pytest.raises(AttributeError):
        config.debug = True  # type: ignore[misc]


def test_replace_returns_a_changed_copy() -> None:
    config = Config.from_env({})
    changed = config.replace(debug=True)
    assert (config.debug, changed.debug) == (False, True)


# --- the one place that reads the environment ---------------------------------------------------


def test_only_config_and_the_launcher_read_the_environment() -> None:
    readers = []
    package = REPO / "src" / "llmtrace_agent"
    allowed = {package / "_runtime" / "config.py", package / "cli.py"}
    for path in [*package.rglob("*.py"), *(REPO / "instrumentors").rglob("*.py")]:
        if path in allowed:
            continue
        if re.search(r"os\.environ|getenv\(", path.read_text()):
            readers.append(str(path.relative_to(REPO)))
    assert readers == []


def test_every_setting_is_a_typed_field_of_config() -> None:
    annotations = Config.__annotations__
    for setting in SETTINGS:
        assert setting.field in annotations, setting.field


def test_markdown_table_has_one_row_per_setting() -> None:
    rows = markdown_table().splitlines()[2:]
    assert [row.split("`")[1] for row in rows] == [setting.env for setting in SETTINGS]


# --- in a traced process: bad configuration never stops the program ---------------------------


@pytest.mark.parametrize(
    ("variable", "raw", "used"),
    [
        ("LLMTRACE_EXPORTER", "bogus", "console"),
        ("LLMTRACE_CAPTURE_CONTENT", "maybe", "false"),
        ("OTEL_TRACES_SAMPLER_ARG", "abc", "1.0"),
    ],
)
def test_bad_value_warns_once_on_stderr_and_the_program_runs(
    variable: str, raw: str, used: str
) -> None:
    result = run_traced(
        code("print('program ran')"), env={"LLMTRACE_EXPORTER": "none", variable: raw}
    )
    assert (result.returncode, result.stdout) == (0, "program ran\n")
    warnings = [line for line in result.stderr.splitlines() if variable in line]
    assert len(warnings) == 1, result.stderr
    assert warnings[0].startswith(f"llmtrace-agent: {variable}={raw!r} is invalid")
    assert warnings[0].endswith(f"using {used!r}")


def test_traced_program_gets_its_configuration_from_the_environment() -> None:
    env = {"LLMTRACE_CAPTURE_CONTENT": "true", "OTEL_SERVICE_NAME": "svc"}
    result = run_traced(
        code("from llmtrace_agent._runtime import agent_state; print(repr(agent_state.config))"),
        env=env,
    )
    assert "capture_content=True" in result.stdout
    assert "service_name='svc'" in result.stdout


def test_a_child_process_inherits_the_bootstrap_and_the_settings_only_under_the_launcher(
    receiver,
) -> None:
    program = code(
        """
        import json
        from llmtrace_agent.toolkit.child_processes import traced_child_environment
        print(json.dumps(traced_child_environment()))
        """
    )
    result = run_traced(program, receiver, env={"LLMTRACE_SERVICE_NAME": "svc", "HOME_X": "1"})
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout)
    assert env["PYTHONPATH"].endswith("bootstrap")
    assert env["LLMTRACE_SERVICE_NAME"] == "svc"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == receiver.endpoint
    assert "HOME_X" not in env and "PATH" not in env
    from llmtrace_agent.toolkit.child_processes import traced_child_environment

    assert traced_child_environment() == {}  # this process started the agent in code, if at all
