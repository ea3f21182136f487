"""Fuzzing what the application hands the SDK: whatever arguments it passes, it sees exactly what
the uninstrumented SDK gives it, every call has its span, and the agent hits no internal error.

(``tests/instrumentors/openai/test_openai_robustness.py`` fuzzes what the *server* answers.)
Here the messages, tools and response formats are drawn from odd shapes: wrong types,
``__slots__`` objects without ``__dict__``, objects whose ``str`` fails, tuples and
generators, huge texts, with content capture on and off. The agent runs as in production
(internal errors are logged, not raised) and every internal error it would log is collected:
there must be none.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from llmtrace_agent.toolkit import guard, semconv
from tests.support import fake_openai as fake
from tests.support.agent import InProcessAgent
from tests.support.fake_openai import FakeOpenAI, Reply, chat_chunks, chat_completion

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")


class Slotted:
    """A value without ``__dict__`` (the SDK cannot serialise it; the agent must not choke)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class Unprintable:
    """A value whose ``str`` and ``repr`` raise."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    __repr__ = __str__


HUGE = "h" * 200_000
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
    st.just(HUGE),
    st.binary(max_size=8),
)
# Values the tests build fresh for each call (generators are consumed, objects may be mutated).
ODD_OBJECTS = ("slotted", "unprintable", "circular")
ODD = st.one_of(SCALARS, st.sampled_from(ODD_OBJECTS).map(lambda kind: ("odd", kind)))


def build(recipe: Any) -> Any:
    """A fresh value from a drawn recipe: ``("odd", kind)`` markers become objects (or a dict
    that contains itself),
    ``("generator", items)`` a generator, ``("tuple", items)`` a tuple."""
    if isinstance(recipe, tuple) and len(recipe) == 2 and recipe[0] == "odd":
        if recipe[1] == "circular":
            loop: dict[str, Any] = {"type": "object"}
            loop["properties"] = loop
            return loop
        return Slotted("slotted text") if recipe[1] == "slotted" else Unprintable()
    if isinstance(recipe, tuple) and len(recipe) == 2 and recipe[0] in ("generator", "tuple"):
        items = [build(item) for item in recipe[1]]
        return (item for item in items) if recipe[0] == "generator" else tuple(items)
    if isinstance(recipe, dict):
        return {key: build(value) for key, value in recipe.items()}
    if isinstance(recipe, list):
        return [build(item) for item in recipe]
    return recipe


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``strategy``, sometimes any odd value."""
    return st.one_of(strategy, strategy, ODD)


def containers(item: st.SearchStrategy[Any], max_size: int = 3) -> st.SearchStrategy[Any]:
    """A list of items, or the same as a tuple or a generator, or something odd."""
    items = st.lists(item, max_size=max_size)
    return st.one_of(
        items,
        items,
        items.map(lambda xs: ("tuple", xs)),
        items.map(lambda xs: ("generator", xs)),
        ODD,
    )


PARTS = st.fixed_dictionaries(
    {"type": maybe(st.sampled_from(["text", "image_url", "input_audio", "file", "refusal", "x"]))},
    optional={
        "text": maybe(st.text(max_size=20)),
        "image_url": maybe(
            st.fixed_dictionaries({"url": maybe(st.just("data:image/png;base64,AA"))})
        ),
        "input_audio": maybe(st.fixed_dictionaries({"data": ODD, "format": maybe(st.just("wav"))})),
        "file": maybe(st.fixed_dictionaries({}, optional={"file_id": ODD, "file_data": ODD})),
        "refusal": ODD,
    },
)
TOOL_CALLS = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe(st.just("call_1")),
        "type": maybe(st.just("function")),
        "function": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "name": maybe(st.just("get_weather")),
                    "arguments": maybe(st.sampled_from(['{"city": "Paris"}', "{not json", "[]"])),
                },
            )
        ),
    },
)
MESSAGES = st.fixed_dictionaries(
    {"role": maybe(st.sampled_from(["system", "developer", "user", "assistant", "tool"]))},
    optional={
        "content": st.one_of(maybe(st.text(max_size=30)), containers(PARTS)),
        "name": ODD,
        "tool_calls": containers(TOOL_CALLS, 2),
        "tool_call_id": ODD,
    },
)
TOOLS = st.one_of(
    st.none(),
    containers(
        st.fixed_dictionaries(
            {"type": maybe(st.just("function"))},
            optional={
                "function": maybe(
                    st.fixed_dictionaries(
                        {"name": maybe(st.just("get_weather"))},
                        optional={
                            "description": ODD,
                            "parameters": maybe(st.just({"type": "object"})),
                        },
                    )
                )
            },
        ),
        2,
    ),
)
RESPONSE_FORMATS = st.one_of(
    st.none(),
    maybe(st.fixed_dictionaries({"type": maybe(st.sampled_from(["json_object", "text"]))})),
)

PROPERTY = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


@pytest.fixture
def internal_errors(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every internal error the agent reports, with the agent in production mode (not raising)."""
    reported: list[str] = []
    report = guard.report_internal_error

    def record(exc: Exception) -> None:
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
        reported.append(f"{type(exc).__name__}: {exc} at {where}")
        report(exc)

    monkeypatch.setattr(guard, "raise_errors", False)
    monkeypatch.setattr(guard, "report_internal_error", record)
    yield reported


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """What the application observes: the result's content, or the error's type and text."""
    try:
        result = call()
        if isinstance(result, openai.Stream):
            return ("stream", [chunk.model_dump(warnings=False) for chunk in result])
    except Exception as exc:
        return ("raised", (type(exc), str(exc)[:200]))
    return ("returned", result.model_dump(warnings=False))


@pytest.fixture(scope="module")
def http_client() -> Iterator[Any]:
    """This module's own connection pool: no connection left half-closed by another test."""
    pool = fake._httpx_module().Client()
    yield pool
    pool.close()


def traced_and_plain(
    server: FakeOpenAI, http: Any, reply: Reply, recipe: dict[str, Any]
) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """The instrumented call and the SDK's own function, each with fresh arguments."""
    server.clear()  # replies an argument error left unused must not answer this example
    server.reply(copy.deepcopy(reply), copy.deepcopy(reply))
    chat = fake.client(server, http_client=http).chat.completions
    original = type(chat).__dict__["create"].__wrapped__
    traced = outcome(lambda: chat.create(**build(recipe)))
    plain = outcome(lambda: original(chat, **build(recipe)))
    return traced, plain


def request_recipes(stream: bool) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"model": maybe(st.just("gpt-4o-mini")), "messages": containers(MESSAGES, 4)},
        optional={"tools": TOOLS, "response_format": RESPONSE_FORMATS},
    ).map(lambda recipe: {**recipe, "stream": True} if stream else recipe)


def llm_span_count(agent: InProcessAgent) -> int:
    agent.flush()
    return sum(1 for s in agent.receiver.spans if semconv.GEN_AI_OPERATION_NAME in s.attributes)


def user(content: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}


def tool(parameters: Any) -> dict[str, Any]:
    function = {"name": "get_weather", "parameters": parameters}
    return {**user("hi"), "tools": [{"type": "function", "function": function}]}


# The spots random drawing reaches rarely: each odd object where captured content is encoded.
HARD_CASES = (
    [user([{"type": "text", "text": ("odd", kind)}]) for kind in ODD_OBJECTS]
    + [tool(("odd", kind)) for kind in ODD_OBJECTS]
    + [
        user(HUGE),
        user(("generator", [{"type": "text", "text": HUGE}])),
        {**user("hi"), "messages": ("generator", [{"role": "user", "content": "hi"}])},
    ]
)


def with_hard_cases(stream: bool) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def add(test: Callable[..., None]) -> Callable[..., None]:
        for recipe in HARD_CASES:
            test = example(recipe={**recipe, "stream": True} if stream else recipe, capture=True)(
                test
            )
        return test

    return add


@PROPERTY
@with_hard_cases(stream=False)
@given(recipe=request_recipes(stream=False), capture=st.booleans())
def test_any_request_arguments_reach_the_sdk_unchanged(
    agent: InProcessAgent,
    fake_openai: FakeOpenAI,
    internal_errors: list[str],
    http_client: Any,
    recipe: dict[str, Any],
    capture: bool,
) -> None:
    before = llm_span_count(agent)
    with agent.configured(capture_content=capture):
        traced, plain = traced_and_plain(
            fake_openai, http_client, Reply(body=chat_completion()), recipe
        )
    assert traced == plain
    assert internal_errors == []
    assert llm_span_count(agent) == before + 1


@PROPERTY
@with_hard_cases(stream=True)
@given(recipe=request_recipes(stream=True), capture=st.booleans())
def test_any_streamed_request_arguments_reach_the_sdk_unchanged(
    agent: InProcessAgent,
    fake_openai: FakeOpenAI,
    internal_errors: list[str],
    http_client: Any,
    recipe: dict[str, Any],
    capture: bool,
) -> None:
    before = llm_span_count(agent)
    with agent.configured(capture_content=capture):
        traced, plain = traced_and_plain(
            fake_openai, http_client, Reply(events=chat_chunks()), recipe
        )
    assert traced == plain
    assert internal_errors == []
    assert llm_span_count(agent) == before + 1
