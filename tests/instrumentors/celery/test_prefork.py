"""The prefork pool: its processes leave through ``os._exit`` (no exit handler runs), so each one
must export its spans before that, or they are lost."""

from __future__ import annotations

import time

from llmtrace_agent.toolkit import semconv
from tests.instrumentors.celery.worker import APP, start_worker, stop_worker, worker_settings
from tests.support.agent import code, run_traced

TASKS = 4


def test_every_prefork_process_exports_its_spans_when_the_worker_stops(
    tmp_path, receiver, fake_openai
):
    # Nothing is exported on a schedule: the spans that arrive were flushed at the exit.
    settings = worker_settings(receiver, fake_openai, tmp_path) | {
        "OTEL_BSP_SCHEDULE_DELAY": "600000"
    }
    worker = start_worker("prefork", settings, tmp_path, concurrency=2)
    try:
        producer = run_traced(
            code(
                f"""
                from {APP} import ask_slowly
                for number in range({TASKS}):
                    ask_slowly.delay(f"question {{number}}")
                """
            ),
            env=settings,
            cwd=tmp_path,
        )
        assert producer.returncode == 0, producer.stderr
        deadline = time.monotonic() + 30
        while len(fake_openai.requests) < TASKS and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stopped = stop_worker(worker, tmp_path)

    assert stopped.returncode == 0, stopped.stdout
    runs = receiver.wait_for_spans(
        TASKS, 15, lambda span: span.kind == "CONSUMER" and span.name == "proj.ask_slowly"
    )
    assert len(runs) == TASKS
    chats = receiver.wait_for_spans(TASKS, 5, lambda span: span.name == "chat gpt-4o-mini")
    assert sorted(chat.parent_span_id for chat in chats) == sorted(run.span_id for run in runs)
    assert all(run.attributes[semconv.CELERY_TASK_STATE] == "SUCCESS" for run in runs)
    processes = {chat.attributes[semconv.TAG_TAGS] for chat in chats}
    assert len(processes) == 2, processes  # both pool processes ran tasks, both exported
