"""Declarative wrapping (LLMTRACE_CONFIG): the user's functions traced from a TOML file, with
attributes read by accessors in a small language that never runs anything else."""

from __future__ import annotations

import asyncio
import importlib
import itertools
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from opentelemetry import trace

from llmtrace_agent._app import declarative
from llmtrace_agent._app.declarative import AccessorRefused, parse_accessor
from tests.support.agent import InProcessAgent, run_traced
from tests.support.otlp_receiver import OTLPReceiver

APP = """
class Store:
    pass


class Retriever:
    def __init__(self):
        self.store = Store()

    def search(self, query, k=2):
        return [query] * k

    @staticmethod
    def version():
        return "1.0"


def answer(question, *, style="short"):
    return question.upper()


async def answer_later(question):
    return question


def stream(count):
    yield from range(count)


def fail():
    raise LookupError("nothing")


NOT_A_FUNCTION = 3
"""

_numbers = itertools.count()


def toml_entry(target: str, attributes: dict[str, str] | None = None, **keys: str) -> str:
    """One [[wrap]] table; strings written as JSON, which TOML reads the same."""
    lines = ["[[wrap]]", f"target = {json.dumps(target)}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
    if attributes is not None:
        lines.append("[wrap.attributes]")
        lines += [
            f"{json.dumps(name)} = {json.dumps(source)}" for name, source in attributes.items()
        ]
    return "\n".join(lines) + "\n"


class DeclaredApp:
    """A fresh module of the user's (a unique name per test) and a config file about it."""

    def __init__(self, directory: Path) -> None:
        self.name = f"declared_app_{next(_numbers)}"
        (directory / f"{self.name}.py").write_text(APP)
        self.config = directory / "llmtrace.toml"

    def load(self, *entries: str) -> list[declarative.Entry]:
        """Write the config and load it as the agent's start does; returns its entries."""
        self.config.write_text("".join(entries).replace("APP:", f"{self.name}:"))
        before = len(declarative.entries)
        declarative.load(str(self.config))
        return declarative.entries[before:]

    def module(self) -> ModuleType:
        return importlib.import_module(self.name)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DeclaredApp]:
    monkeypatch.syspath_prepend(str(tmp_path))
    declared = DeclaredApp(tmp_path)
    yield declared
    sys.modules.pop(declared.name, None)


# --- the accessor language ----------------------------------------------------------------------


class Call:
    """What an accessor sees of one call."""

    def __init__(self) -> None:
        self.store = {"name": "pg"}
        self.items = ["a", "b", "c"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("args[0]", "query"),
        ("args[-1]", 5),
        ("args[0:1]", ("query",)),
        ("args[::-1]", (5, "query")),
        ("kwargs['k']", 3),
        ("kwargs['nested']['deep']", True),
        ("instance.store['name']", "pg"),
        ("instance.items[int(str(kwargs['k']))]", None),
        ("len(output)", 2),
        ("type(instance).__name__", "Call"),
        ("instance.__class__.__name__", "Call"),
        ("str(args[1])", "5"),
        ("int(output[0])", 7),
        ("float(args[1])", 5.0),
        ("bool(kwargs)", True),
        ("'literal'", "literal"),
        ("-2", -2),
        ("None", None),
    ],
)
def test_allowed_accessor_reads_the_call(source: str, expected: object) -> None:
    call = (Call(), ("query", 5), {"k": 3, "nested": {"deep": True}}, ["7", "8"])
    assert parse_accessor(source).read(*call) == expected


MARKER = "MARKER"  # replaced by a path that exists only if an accessor ran code

HOSTILE = [
    "__import__('os').system('touch MARKER')",
    "open('MARKER', 'w')",
    "().__class__.__bases__[0].__subclasses__()",
    "args.__class__.__mro__",
    "lambda: open('MARKER', 'w')",
    "[open('MARKER', 'w') for _ in args]",
    "{open('MARKER', 'w') for _ in args}",
    "(open('MARKER', 'w') for _ in args)",
    "getattr(instance, 'store')",
    "eval(\"open('MARKER', 'w')\")",
    "exec(\"open('MARKER', 'w')\")",
    "compile('1', 'f', 'eval')",
    "breakpoint()",
    "print(args)",
    "instance.__dict__",
    "args[0].__globals__",
    "instance.method.__func__.__globals__['os']",
    "args[0].gi_frame.f_globals",
    "args[0].f_back",
    "kwargs.get('k')",
    "type('Evil', (), {})",
    "len(args, args)",
    "len(*args)",
    "str(object=args)",
    "(leak := args)",
    "f\"{open('MARKER', 'w')}\"",
    "args + args",
    "args[0] if args else open('MARKER', 'w')",
    "not args",
    "args == args",
    "[args]",
    "{'k': args}",
    "__builtins__",
    "builtins",
    "os",
    "len",
    "args" + "[0]" * 40,
    "len(" * 30 + "args" + ")" * 30,
    "(" * 240 + "args" + ")" * 240,
    "'x' * 100000",
    "'" + "x" * 5000 + "'",
    "9" * 5000,
    "10 ** 10 ** 10",
    "b'bytes'",
    "1j",
    "...",
    "args; open('MARKER', 'w')",
    "args\nopen('MARKER', 'w')",
    "",
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_accessor_is_refused_when_parsed_and_runs_nothing(
    source: str, tmp_path: Path
) -> None:
    marker = tmp_path / "executed"
    with pytest.raises(AccessorRefused):
        parse_accessor(source.replace(MARKER, str(marker)))
    assert not marker.exists()


def test_accessor_failing_on_a_call_gives_none_and_is_counted() -> None:
    accessor = parse_accessor("args[5]")
    assert accessor.read(None, (), {}) is None
    assert accessor.read(None, (1,), {}) is None
    assert accessor.failures == 2


# --- wrapping: spans and attributes at the receiver ---------------------------------------------


def test_declared_method_is_traced_with_its_accessor_attributes(
    agent: InProcessAgent, app: DeclaredApp
) -> None:
    app.load(
        toml_entry(
            "APP:Retriever.search",
            {
                "retrieval.query": "args[0]",
                "retrieval.count": "len(output)",
                "db.system": "type(instance.store).__name__",
                "retrieval.k": "kwargs['k']",
            },
            span_name="retrieve",
            kind="client",
        )
    )
    assert app.module().Retriever().search("otel", k=3) == ["otel"] * 3
    (span,) = agent.spans(1, name="retrieve")
    assert span.kind == "CLIENT"
    assert span.scope == "llmtrace_agent.observe"
    assert span.attributes == {
        "retrieval.query": "otel",
        "retrieval.count": 3,
        "db.system": "Store",
        "retrieval.k": 3,
    }


def test_declared_span_is_named_after_the_qualified_name_by_default(
    agent: InProcessAgent, app: DeclaredApp
) -> None:
    app.load(toml_entry("APP:answer"), toml_entry("APP:Retriever.version"))
    module = app.module()
    assert module.answer("hi") == "HI"
    assert module.Retriever.version() == "1.0"
    assert agent.spans(1, name="answer")
    assert agent.spans(1, name="Retriever.version")


def test_declared_function_spans_nest_under_the_caller(
    agent: InProcessAgent, app: DeclaredApp
) -> None:
    app.load(toml_entry("APP:answer"))
    module = app.module()
    with trace.get_tracer("test").start_as_current_span("request"):
        module.answer("hi")
    request, answer = agent.receiver.span("request"), agent.spans(1, name="answer")[0]
    assert (answer.trace_id, answer.parent_span_id) == (request.trace_id, request.span_id)


def test_accessor_failing_at_call_time_leaves_only_its_attribute_out(
    agent: InProcessAgent, app: DeclaredApp
) -> None:
    app.load(
        toml_entry(
            "APP:answer",
            {"question": "args[0]", "missing": "args[7]", "nope": "kwargs['absent'].x"},
        )
    )
    assert app.module().answer("hi") == "HI"
    assert agent.spans(1, name="answer")[0].attributes == {"question": "hi"}


def test_values_become_attribute_types_and_long_text_is_cut(
    agent: InProcessAgent, app: DeclaredApp
) -> None:
    app.load(
        toml_entry(
            "APP:Retriever.search",
            {"list": "output", "object": "instance.store", "none": "None"},
        )
    )
    with agent.configured(content_max_length=12):
        app.module().Retriever().search("a" * 20, k=2)
    attributes = agent.spans(1, name="Retriever.search")[0].attributes
    assert attributes["list"] == ("a" * 12 + "…[truncated]",) * 2
    assert attributes["object"] == "<declared_ap…[truncated]"
    assert "none" not in attributes


def test_declared_coroutine_function_reads_the_awaited_output(
    agent: InProcessAgent, app: DeclaredApp
) -> None:
    app.load(toml_entry("APP:answer_later", {"answer": "output"}))
    assert asyncio.run(app.module().answer_later("later")) == "later"
    assert agent.spans(1, name="answer_later")[0].attributes == {"answer": "later"}


def test_declared_generator_span_covers_the_iteration(
    agent: InProcessAgent, app: DeclaredApp
) -> None:
    app.load(toml_entry("APP:stream", {"count": "args[0]"}))
    assert list(app.module().stream(3)) == [0, 1, 2]
    assert agent.spans(1, name="stream")[0].attributes == {"count": 3}


def test_exception_of_a_declared_function_passes_through_and_marks_the_span(
    agent: InProcessAgent, app: DeclaredApp
) -> None:
    app.load(toml_entry("APP:fail"))
    with pytest.raises(LookupError, match="nothing"):
        app.module().fail()
    (span,) = agent.spans(1, name="fail")
    assert span.status_code == "ERROR"
    assert span.attributes["error.type"] == "LookupError"


def test_module_imported_before_loading_is_patched_at_once(
    agent: InProcessAgent, app: DeclaredApp
) -> None:
    module = app.module()
    app.load(toml_entry("APP:answer"))
    module.answer("now")
    assert agent.spans(1, name="answer")


# --- problems in the file: one clear warning each, the rest applies -----------------------------


def warnings_of(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if "LLMTRACE_CONFIG" in line]


def test_refused_accessor_warns_once_naming_the_target_and_attribute_and_others_apply(
    agent: InProcessAgent, app: DeclaredApp, capsys: pytest.CaptureFixture[str]
) -> None:
    app.load(toml_entry("APP:answer", {"ok": "args[0]", "evil": "open('x', 'w')"}))
    app.module().answer("hi")
    [warning] = warnings_of(capsys)
    assert f"target '{app.name}:answer'" in warning
    assert "attribute 'evil'" in warning
    assert "calling 'open' is not allowed" in warning
    assert agent.spans(1, name="answer")[0].attributes == {"ok": "hi"}


def test_missing_attribute_in_an_imported_module_warns_naming_the_target(
    agent: InProcessAgent, app: DeclaredApp, capsys: pytest.CaptureFixture[str]
) -> None:
    app.load(toml_entry("APP:Retriever.serch"), toml_entry("APP:answer"))
    app.module().answer("hi")
    [warning] = warnings_of(capsys)
    assert f"'{app.name}:Retriever.serch'" in warning
    assert "not traced" in warning
    assert agent.spans(1, name="answer")


def test_target_that_is_not_a_function_warns(
    app: DeclaredApp, capsys: pytest.CaptureFixture[str]
) -> None:
    app.load(toml_entry("APP:NOT_A_FUNCTION"))
    assert app.module().NOT_A_FUNCTION == 3
    [warning] = warnings_of(capsys)
    assert "is a int, not a function" in warning


def test_class_target_warns_to_list_its_methods(
    app: DeclaredApp, capsys: pytest.CaptureFixture[str]
) -> None:
    app.load(toml_entry("APP:Store"))
    assert isinstance(app.module().Store(), app.module().Store)
    [warning] = warnings_of(capsys)
    assert "is a class; list its methods instead" in warning


def test_module_never_imported_is_no_warning(
    app: DeclaredApp, capsys: pytest.CaptureFixture[str]
) -> None:
    app.load(toml_entry("never_imported_module_xyz:run"))
    assert warnings_of(capsys) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[wrap]\ntarget = 1", "not valid TOML"),
        ('verbose = true\n[[wrap]]\ntarget = "m:f"', "unknown key 'verbose'"),
        ('wrap = "m:f"', "'wrap' must be a list"),
        ('[[wrap]]\ntarget = "no_colon"', 'target must be "module:Qualified.name"'),
        ('[[wrap]]\nspan_name = "x"', 'target must be "module:Qualified.name"'),
        ('[[wrap]]\ntarget = "m:f"\nspan = "x"', "target 'm:f': unknown key 'span'"),
        ('[[wrap]]\ntarget = "m:f"\nkind = "sideways"', "target 'm:f': span kind"),
        ('[[wrap]]\ntarget = "m:f"\nattributes = "args"', "attributes must be a table"),
        ('[[wrap]]\ntarget = "m:f"\n[wrap.attributes]\nn = 3', "an accessor must be a string"),
        ('[[wrap]]\ntarget = "m:f"\n[wrap.attributes]\n"" = "args"', "an attribute needs a name"),
        ('[[wrap]]\ntarget = "m:f"\n[[wrap]]\ntarget = "m:f"', "listed twice"),
    ],
)
def test_mistakes_in_the_file_are_clear_warnings(
    text: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "llmtrace.toml"
    path.write_text(text)
    declarative.load(str(path))
    [warning] = warnings_of(capsys)
    assert warning.startswith(f"llmtrace-agent: LLMTRACE_CONFIG={path}")
    assert expected in warning


def test_unreadable_file_is_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    declarative.load(str(tmp_path / "absent.toml"))
    [warning] = warnings_of(capsys)
    assert "cannot be read" in warning


# --- through the launcher ------------------------------------------------------------------------

MAIN = """
from shop import Retriever, answer

print(Retriever().search("otel", k=2))
print(answer("hi"))
"""


def launcher_app(tmp_path: Path, config: str) -> tuple[Path, dict[str, str]]:
    (tmp_path / "shop.py").write_text(APP)
    (tmp_path / "main.py").write_text(MAIN)
    (tmp_path / "llmtrace.toml").write_text(config)
    env = {"LLMTRACE_CONFIG": str(tmp_path / "llmtrace.toml"), "PYTHONPATH": str(tmp_path)}
    return tmp_path / "main.py", env


def test_launcher_traces_the_declared_functions_and_refuses_hostile_accessors(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    marker = tmp_path / "executed"
    evil = {
        f"evil.{number}": source.replace(MARKER, str(marker))
        for number, source in enumerate(HOSTILE[:12])
    }
    config = toml_entry(
        "shop:Retriever.search",
        {"retrieval.query": "args[0]", "retrieval.count": "len(output)", **evil},
        span_name="retrieve",
    ) + toml_entry("shop:answer", {"style": "kwargs['style']", "q": "args[0]"})
    script, env = launcher_app(tmp_path, config)
    result = run_traced([str(script)], receiver, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "['otel', 'otel']\nHI\n"
    assert not marker.exists()
    refusals = [line for line in result.stderr.splitlines() if "refused" in line]
    assert len(refusals) == len(evil)
    assert all("target 'shop:Retriever.search'" in line for line in refusals)
    assert receiver.span("retrieve").attributes == {
        "retrieval.query": "otel",
        "retrieval.count": 2,
    }
    assert receiver.span("answer").attributes == {"q": "hi"}


def test_launcher_runs_the_app_despite_a_broken_config(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    script, env = launcher_app(tmp_path, "[[wrap]\nthis is not toml")
    result = run_traced([str(script)], receiver, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "['otel', 'otel']\nHI\n"
    assert "not valid TOML" in result.stderr


def test_launcher_in_debug_mode_reports_accessors_failing_at_call_time(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    script, env = launcher_app(tmp_path, toml_entry("shop:answer", {"missing": "args[3]"}))
    env["LLMTRACE_DEBUG"] = "true"
    result = run_traced([str(script)], receiver, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "accessor 'args[3]' failed (IndexError" in result.stderr
    assert "shop:answer attribute 'missing' ('args[3]') failed 1 time(s)" in result.stderr
