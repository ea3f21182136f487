"""Starting and stopping a real Celery worker under ``llmtrace-run``, for the tests.

Workers and producers run in a temporary directory (kombu's filesystem transport keeps its
``control`` folder in the working directory) with the repository on ``PYTHONPATH``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.agent import REPO, clean_env
from tests.support.fake_openai import FakeOpenAI
from tests.support.otlp_receiver import OTLPReceiver

APP = "tests.instrumentors.celery.tasks_app"


def worker_settings(
    receiver: OTLPReceiver, fake_openai: FakeOpenAI, directory: Path
) -> dict[str, str]:
    """The environment of a traced worker or producer exporting to ``receiver``."""
    (directory / "broker").mkdir(exist_ok=True)
    return {
        "PYTHONPATH": str(REPO),
        "LLMTRACE_RAISE_INTERNAL_ERRORS": "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "FAKE_OPENAI_URL": fake_openai.base_url,
        "BROKER_DIR": str(directory / "broker"),
    }


def start_worker(
    pool: str, settings: dict[str, str], directory: Path, concurrency: int = 1
) -> subprocess.Popen[bytes]:
    """``llmtrace-run celery -A tasks_app worker --pool=…``, once it says it is ready."""
    command = [
        *(sys.executable, "-m", "llmtrace_agent", "--", sys.executable, "-m", "celery"),
        *("-A", APP, "worker", f"--pool={pool}", f"--concurrency={concurrency}", "-O", "fair"),
        *("--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"),
    ]
    log = directory / "worker.log"
    worker = subprocess.Popen(
        command,
        cwd=directory,
        env=clean_env(settings),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while "ready." not in log.read_text():
        assert worker.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return worker


def stop_worker(
    worker: subprocess.Popen[bytes], directory: Path
) -> subprocess.CompletedProcess[str]:
    """SIGTERM: Celery's warm shutdown (finish the running tasks, then exit). Returns the exit
    code and the worker's log."""
    worker.send_signal(signal.SIGTERM)
    returncode = worker.wait(60)
    return subprocess.CompletedProcess(
        worker.args, returncode, (directory / "worker.log").read_text(), ""
    )
