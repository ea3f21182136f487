"""A real Celery worker under ``llmtrace-run``, on kombu's filesystem broker, traced end to end.

One worker serves every test of the module (starting and stopping one takes seconds), with the
threads pool (each task on a pool thread, each run with a context of its own; add "solo" to the
fixture's params to run them on the solo pool too; the prefork pool has its own test): a traced
producer (``llmtrace-run python``, inside a SERVER span standing for a web request) and an
untraced one enqueue tasks that call the loopback fake OpenAI API; the worker is stopped with
SIGTERM (a warm shutdown, as Docker, Kubernetes and systemd stop it); the tests read what the
OTLP receiver got.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from llmtrace_agent.toolkit import semconv
from tests.instrumentors.celery.worker import APP, start_worker, stop_worker, worker_settings
from tests.support.agent import clean_env, code, run_traced
from tests.support.fake_openai import FakeOpenAI
from tests.support.otlp_receiver import OTLPReceiver, ReceivedSpan

TRACED_PRODUCER = code(
    f"""
    import llmtrace_agent
    from celery import chain
    from {APP} import ask, fail, flaky, step

    with llmtrace_agent.observe("POST /ask", kind="server"):
        ask.delay("traced question")
        fail.delay()
        flaky.delay()
        chain(step.si("one"), step.si("two")).delay()
    """
)
UNTRACED_PRODUCER = code(
    f"""
    from {APP} import ask

    ask.delay("untraced question")
    """
)


@dataclass
class WorkerRun:
    spans: list[ReceivedSpan]
    worker: subprocess.CompletedProcess[str]
    producer: subprocess.CompletedProcess[str]

    def one(self, name: str, kind: str, **attributes: object) -> ReceivedSpan:
        found = [
            span
            for span in self.spans
            if span.name == name
            and span.kind == kind
            and all(span.attributes.get(key) == value for key, value in attributes.items())
        ]
        assert len(found) == 1, f"{kind} {name} {attributes}: {found}"
        return found[0]

    def children(self, parent: ReceivedSpan) -> list[ReceivedSpan]:
        return [span for span in self.spans if span.parent_span_id == parent.span_id]


@pytest.fixture(scope="module", params=["threads"])
def worker_run(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _fake_openai: FakeOpenAI,
) -> Iterator[WorkerRun]:
    directory = tmp_path_factory.mktemp(f"celery-{request.param}")
    receiver = OTLPReceiver()
    settings = worker_settings(receiver, _fake_openai, directory)
    # The producers enqueue while the worker starts (the broker keeps the messages meanwhile).
    with ThreadPoolExecutor() as pool:
        started = pool.submit(start_worker, request.param, settings, directory)
        traced = pool.submit(run_traced, TRACED_PRODUCER, receiver, settings, cwd=directory)
        untraced = pool.submit(
            subprocess.run,
            [sys.executable, *UNTRACED_PRODUCER],
            cwd=directory,
            env=clean_env(settings),
            capture_output=True,
            text=True,
            timeout=60,
        )
    worker = started.result()
    try:
        producer = traced.result()
        assert producer.returncode == 0, producer.stderr
        assert untraced.result().returncode == 0, untraced.result().stderr
        # ask twice, fail, flaky twice (its retry), step twice: each run ending its span
        receiver.wait_for_spans(7, 30, lambda span: span.kind == "CONSUMER")
    finally:
        stopped = stop_worker(worker, directory)
    time.sleep(0.3)  # what the worker sent before exiting has arrived
    yield WorkerRun(receiver.spans, stopped, producer)
    receiver.close()


def test_the_worker_stops_cleanly_on_sigterm(worker_run):
    assert worker_run.worker.returncode == 0, worker_run.worker.stdout
    assert "internal error" not in worker_run.worker.stdout
    assert "Signal handler" not in worker_run.worker.stdout  # Celery's word for a failed receiver
    assert "internal error" not in worker_run.producer.stderr


def test_sending_a_task_makes_a_producer_span_under_the_request(worker_run):
    request = worker_run.one("POST /ask", "SERVER")
    send = worker_run.one("send proj.ask", "PRODUCER")

    assert send.parent_span_id == request.span_id
    assert send.trace_id == request.trace_id
    assert send.attributes[semconv.MESSAGING_SYSTEM] == "filesystem"
    assert send.attributes[semconv.MESSAGING_OPERATION_TYPE] == "send"
    assert send.attributes[semconv.MESSAGING_OPERATION_NAME] == "send"
    assert send.attributes[semconv.MESSAGING_DESTINATION_NAME] == "celery"
    assert send.attributes[semconv.CELERY_TASK_NAME] == "proj.ask"
    assert len(send.attributes[semconv.MESSAGING_MESSAGE_ID]) == 36  # the task id, a UUID
    assert send.status_code == "UNSET"


def test_the_task_run_continues_the_trace_of_the_request_that_queued_it(worker_run):
    send = worker_run.one("send proj.ask", "PRODUCER")
    run = worker_run.one(
        "proj.ask",
        "CONSUMER",
        **{semconv.MESSAGING_MESSAGE_ID: send.attributes[semconv.MESSAGING_MESSAGE_ID]},
    )

    assert run.trace_id == send.trace_id
    assert run.parent_span_id == send.span_id
    assert run.start_ns >= send.start_ns
    assert run.status_code == "UNSET"
    assert run.attributes[semconv.CELERY_TASK_STATE] == "SUCCESS"
    assert run.attributes[semconv.MESSAGING_OPERATION_TYPE] == "process"
    assert run.attributes[semconv.MESSAGING_SYSTEM] == "filesystem"
    assert run.attributes[semconv.MESSAGING_DESTINATION_NAME] == "celery"
    assert run.attributes[semconv.MESSAGING_CLIENT_ID].startswith("celery@")
    assert semconv.CELERY_TASK_RETRIES not in run.attributes


def test_the_llm_call_of_a_task_is_a_child_of_its_run(worker_run):
    send = worker_run.one("send proj.ask", "PRODUCER")
    run = worker_run.one(
        "proj.ask",
        "CONSUMER",
        **{semconv.MESSAGING_MESSAGE_ID: send.attributes[semconv.MESSAGING_MESSAGE_ID]},
    )

    [chat] = worker_run.children(run)
    assert chat.name == "chat gpt-4o-mini"
    assert chat.attributes[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert chat.trace_id == send.trace_id
    # Its one successful request records no HTTP span (LLMTRACE_HTTP_UNDER_LLM=retries).
    assert worker_run.children(chat) == []


def test_a_message_without_context_starts_its_own_trace(worker_run):
    runs = [s for s in worker_run.spans if s.name == "proj.ask" and s.kind == "CONSUMER"]
    send = worker_run.one("send proj.ask", "PRODUCER")
    [untraced] = [run for run in runs if run.parent_span_id != send.span_id]

    assert untraced.parent_span_id == ""
    assert untraced.trace_id != send.trace_id
    [chat] = worker_run.children(untraced)
    assert chat.name == "chat gpt-4o-mini"


def test_a_failed_task_is_an_error_with_its_exception(worker_run):
    send = worker_run.one("send proj.fail", "PRODUCER")
    run = worker_run.one("proj.fail", "CONSUMER")

    assert run.parent_span_id == send.span_id
    assert run.status_code == "ERROR"
    assert run.attributes[semconv.ERROR_TYPE] == "ValueError"
    assert run.attributes[semconv.CELERY_TASK_STATE] == "FAILURE"
    [(event, attributes)] = run.events
    assert event == "exception"
    assert attributes["exception.type"] == "ValueError"
    assert attributes["exception.message"] == "no luck"


def test_a_retry_records_its_reason_and_the_next_run_follows_it(worker_run):
    first = worker_run.one("proj.flaky", "CONSUMER", **{semconv.CELERY_TASK_STATE: "RETRY"})
    second = worker_run.one("proj.flaky", "CONSUMER", **{semconv.CELERY_TASK_STATE: "SUCCESS"})
    resend = next(span for span in worker_run.children(first) if span.kind == "PRODUCER")

    assert first.status_code == "UNSET"  # the task is not failed: it runs again
    [(event, attributes)] = first.events
    assert event == "exception"
    assert attributes["exception.type"] == "TimeoutError"
    assert resend.name == "send proj.flaky"
    assert second.parent_span_id == resend.span_id
    assert second.trace_id == first.trace_id
    assert second.attributes[semconv.CELERY_TASK_RETRIES] == 1
    assert (
        second.attributes[semconv.MESSAGING_MESSAGE_ID]
        == first.attributes[semconv.MESSAGING_MESSAGE_ID]
    )
    assert [span.name for span in worker_run.children(second)] == ["chat gpt-4o-mini"]


def test_the_next_step_of_a_chain_is_sent_from_inside_the_previous_run(worker_run):
    runs = sorted(
        (span for span in worker_run.spans if span.name == "proj.step" and span.kind == "CONSUMER"),
        key=lambda span: span.start_ns,
    )
    sends = [span for span in worker_run.spans if span.name == "send proj.step"]
    request = worker_run.one("POST /ask", "SERVER")

    assert len(runs) == 2 and len(sends) == 2
    [first_send] = [send for send in sends if send.parent_span_id == request.span_id]
    [second_send] = [send for send in sends if send.parent_span_id == runs[0].span_id]
    assert runs[0].parent_span_id == first_send.span_id
    assert runs[1].parent_span_id == second_send.span_id
    assert {run.trace_id for run in runs} == {request.trace_id}


def test_no_broker_credentials_or_prompts_are_exported(worker_run):
    exported = str([(span.attributes, span.events) for span in worker_run.spans])
    assert "traced question" not in exported
    assert "sk-celery-test" not in exported
