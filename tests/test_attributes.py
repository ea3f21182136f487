"""attributes: session, user, tags and metadata on every span started inside a block."""

from __future__ import annotations

import asyncio
import json
import threading
from urllib.parse import unquote_plus

import requests
from opentelemetry import trace

from llmtrace_agent import attributes, observe
from tests.support.agent import InProcessAgent
from tests.support.http_server import RecordingHTTPServer

LABEL_KEYS = ("session.id", "user.id", "tag.tags", "metadata")


def make_span(name: str) -> None:
    with trace.get_tracer("test").start_as_current_span(name):
        pass


def labels_of(agent: InProcessAgent, name: str) -> dict[str, object]:
    (span,) = agent.spans(1, name=name)
    return {
        key: value
        for key, value in span.attributes.items()
        if key in LABEL_KEYS or key.startswith(("langfuse.", "app."))
    }


def test_spans_started_inside_carry_session_user_tags_and_metadata(
    agent: InProcessAgent,
) -> None:
    with attributes(
        session_id="s-1", user_id="u-1", tags=["beta", "rag"], metadata={"plan": "pro", "seats": 3}
    ):
        make_span("work")
    assert labels_of(agent, "work") == {
        "session.id": "s-1",
        "user.id": "u-1",
        "tag.tags": ("beta", "rag"),
        "metadata": '{"plan":"pro","seats":3}',
        "langfuse.trace.metadata.plan": "pro",
        "langfuse.trace.metadata.seats": 3,
    }


def test_nested_spans_all_carry_the_labels(agent: InProcessAgent) -> None:
    @observe(name="handler")
    def handler() -> None:
        make_span("inner")

    with attributes(user_id="u-2"):
        handler()
    assert labels_of(agent, "inner") == labels_of(agent, "handler") == {"user.id": "u-2"}


def test_http_client_spans_carry_the_labels_too(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    with attributes(session_id="s-http"):
        requests.get(http_server.url("/"))
    assert labels_of(agent, "GET") == {"session.id": "s-http"}


def test_ids_that_are_not_strings_are_recorded_as_strings(agent: InProcessAgent) -> None:
    with attributes(session_id=42, user_id=7):
        make_span("work")
    assert labels_of(agent, "work") == {"session.id": "42", "user.id": "7"}


def test_one_string_as_tags_is_one_tag(agent: InProcessAgent) -> None:
    with attributes(tags="solo"):
        make_span("work")
    assert labels_of(agent, "work") == {"tag.tags": ("solo",)}


def test_metadata_values_that_are_not_scalars_are_json(agent: InProcessAgent) -> None:
    with attributes(metadata={"limits": {"rpm": 10}, "regions": ["eu"]}):
        make_span("work")
    labels = labels_of(agent, "work")
    assert json.loads(labels["metadata"]) == {"limits": {"rpm": 10}, "regions": ["eu"]}  # type: ignore[arg-type]
    assert labels["langfuse.trace.metadata.limits"] == '{"rpm":10}'
    assert labels["langfuse.trace.metadata.regions"] == '["eu"]'


def test_other_keywords_are_attributes_of_that_name(agent: InProcessAgent) -> None:
    with attributes(**{"app.tenant": "acme", "app.shards": [1, 2], "app.obj": object}):
        make_span("work")
    assert labels_of(agent, "work") == {
        "app.tenant": "acme",
        "app.shards": (1, 2),
        "app.obj": "<class 'object'>",
    }


def test_nested_blocks_merge_with_the_inner_value_winning_and_tags_adding_up(
    agent: InProcessAgent,
) -> None:
    with (
        attributes(session_id="outer", user_id="u", tags=["a", "b"], metadata={"x": 1, "y": 1}),
        attributes(session_id="inner", tags=["b", "c"], metadata={"y": 2}),
    ):
        make_span("work")
    labels = labels_of(agent, "work")
    assert labels["session.id"] == "inner"
    assert labels["user.id"] == "u"
    assert labels["tag.tags"] == ("a", "b", "c")
    assert json.loads(labels["metadata"]) == {"x": 1, "y": 2}  # type: ignore[arg-type]


def test_leaving_a_block_restores_the_outer_labels(agent: InProcessAgent) -> None:
    with attributes(user_id="outer"):
        with attributes(user_id="inner", tags=["t"]):
            pass
        make_span("after-inner")
    make_span("after-all")
    assert labels_of(agent, "after-inner") == {"user.id": "outer"}
    assert labels_of(agent, "after-all") == {}


def test_labels_stay_with_the_thread_that_entered_the_block(agent: InProcessAgent) -> None:
    entered = threading.Event()
    done = threading.Event()

    def other_thread() -> None:
        entered.wait(5)
        make_span("other-thread")
        done.set()

    worker = threading.Thread(target=other_thread)
    worker.start()
    with attributes(user_id="main"):
        entered.set()
        done.wait(5)
        make_span("main-thread")
    worker.join(5)
    assert labels_of(agent, "main-thread") == {"user.id": "main"}
    assert labels_of(agent, "other-thread") == {}


def test_concurrent_tasks_each_keep_their_own_labels(agent: InProcessAgent) -> None:
    async def conversation(user: str, delay: float) -> None:
        with attributes(user_id=user):
            await asyncio.sleep(delay)
            make_span(f"reply-{user}")

    async def both() -> None:
        await asyncio.gather(conversation("ann", 0.02), conversation("bob", 0.01))

    asyncio.run(both())
    assert labels_of(agent, "reply-ann") == {"user.id": "ann"}
    assert labels_of(agent, "reply-bob") == {"user.id": "bob"}


def test_labels_are_not_sent_downstream_by_default(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    with attributes(session_id="s", user_id="u"):
        requests.get(http_server.url("/"))
    assert "baggage" not in http_server.only_request().headers


def test_with_propagation_session_user_and_scalar_extras_go_downstream_as_baggage(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    with (
        agent.configured(propagate_attributes=True),
        attributes(
            session_id="s 1", user_id="u-1", tags=["t"], metadata={"m": 1}, **{"app.tier": "gold"}
        ),
    ):
        requests.get(http_server.url("/"))
    header = http_server.only_request().headers["baggage"]
    entries = dict(unquote_plus(entry).split("=", 1) for entry in header.split(","))
    assert entries == {"session.id": "s 1", "user.id": "u-1", "app.tier": "gold"}


def test_propagated_baggage_is_removed_when_the_block_ends(
    agent: InProcessAgent, http_server: RecordingHTTPServer
) -> None:
    with agent.configured(propagate_attributes=True):
        with attributes(user_id="u"):
            pass
        requests.get(http_server.url("/"))
    assert "baggage" not in http_server.only_request().headers
