"""The Celery app the tests' workers run: tasks that call the loopback fake OpenAI API.

The broker is kombu's filesystem transport in ``$BROKER_DIR`` (no external service); results are
not stored (the tests read spans, not results).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import openai
from celery import Celery

import llmtrace_agent

BROKER = Path(os.environ.get("BROKER_DIR", "broker"))

app = Celery("proj", broker="filesystem://")  # task names: proj.<function>
app.conf.update(
    broker_transport_options={
        "data_folder_in": str(BROKER),
        "data_folder_out": str(BROKER),
        "store_processed": False,
        "polling_interval": 0.05,
    },
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=1,
)


def chat(question: str) -> str:
    client = openai.OpenAI(
        base_url=os.environ["FAKE_OPENAI_URL"], api_key="sk-celery-test", max_retries=0
    )
    answer = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
    )
    return answer.choices[0].message.content or ""


@app.task(name="proj.ask")
def ask(question: str) -> str:
    return chat(question)


@app.task(name="proj.step")
def step(label: str) -> str:
    """A step of a chain: the worker sends the next step when this one succeeds."""
    return chat(label)


@app.task(name="proj.ask_slowly")
def ask_slowly(question: str) -> str:
    """Tags its LLM span with the worker process's pid, so a test sees which process ran it."""
    time.sleep(0.3)  # long enough that the prefork pool hands the next task to another process
    with llmtrace_agent.attributes(tags=[f"pid:{os.getpid()}"]):
        return chat(question)


@app.task(name="proj.fail")
def fail() -> None:
    raise ValueError("no luck")


@app.task(name="proj.flaky", bind=True, max_retries=2)
def flaky(self) -> str:  # type: ignore[no-untyped-def]
    """Fails its first run with a retry, succeeds the second."""
    chat("flaky")
    if self.request.retries < 1:
        raise self.retry(exc=TimeoutError("try again"), countdown=0)
    return "ok"
