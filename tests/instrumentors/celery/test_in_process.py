"""Celery in the test process (the agent started in-process): eager runs and what a sent
message carries, without a worker."""

from __future__ import annotations

import pytest
from celery import Celery

from llmtrace_agent.toolkit import semconv
from llmtrace_agent.toolkit.http_spans import error_type


@pytest.fixture
def app():
    app = Celery("inproc", broker="memory://", set_as_current=False)
    app.conf.broker_transport_options = {"polling_interval": 0.01}
    yield app
    app.close()


def received_message(app: Celery):
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue("celery")
        message = queue.get(timeout=5)
        message.ack()
        queue.close()
        return message


def test_a_sent_message_carries_the_producer_span_as_its_parent(agent, app):
    app.send_task("proj.summarize", args=("text",))

    [send] = agent.spans(1, kind="PRODUCER")
    message = received_message(app)
    trace_id, span_id = message.headers["traceparent"].split("-")[1:3]
    assert (trace_id, span_id) == (send.trace_id, send.span_id)
    assert send.name == "send proj.summarize"
    assert send.attributes[semconv.MESSAGING_SYSTEM] == "memory"
    assert send.attributes[semconv.MESSAGING_MESSAGE_ID] == message.headers["id"]
    assert send.attributes[semconv.MESSAGING_DESTINATION_NAME] == "celery"


def test_a_rabbitmq_broker_is_named_by_its_well_known_system_without_credentials(agent):
    app = Celery("inproc", broker="amqp://user:secret@127.0.0.1:1//", set_as_current=False)
    app.conf.broker_connection_retry = False
    app.conf.broker_connection_timeout = 1
    app.conf.task_publish_retry = False

    with pytest.raises(Exception) as raised:  # nothing listens on port 1
        app.send_task("proj.summarize")

    [send] = agent.spans(1, kind="PRODUCER")
    assert send.attributes[semconv.MESSAGING_SYSTEM] == "rabbitmq"
    assert send.attributes[semconv.SERVER_ADDRESS] == "127.0.0.1"
    assert send.attributes[semconv.SERVER_PORT] == 1
    assert "secret" not in str(send.attributes)
    assert send.status_code == "ERROR"
    assert send.attributes[semconv.ERROR_TYPE] == error_type(type(raised.value))


def test_an_eager_run_is_a_plain_span_around_its_llm_call(agent, app, fake_openai, monkeypatch):
    monkeypatch.setenv("FAKE_OPENAI_URL", fake_openai.base_url)
    from tests.instrumentors.celery.tasks_app import ask

    result = ask.apply(args=("eager question",))

    assert result.get() == "Hello from the fake server!"
    run = agent.spans(1, name="proj.ask")[0]
    [chat] = agent.spans(1, name="chat gpt-4o-mini")
    assert run.kind == "INTERNAL"  # no message: not a messaging span
    assert semconv.MESSAGING_SYSTEM not in run.attributes
    assert run.attributes[semconv.CELERY_TASK_STATE] == "SUCCESS"
    assert chat.parent_span_id == run.span_id


def test_an_eager_failure_reaches_the_caller_untouched(agent):
    from tests.instrumentors.celery.tasks_app import fail

    result = fail.apply()

    assert isinstance(result.result, ValueError)
    run = agent.spans(1, name="proj.fail")[0]
    assert run.status_code == "ERROR"
    assert run.attributes[semconv.ERROR_TYPE] == "ValueError"
