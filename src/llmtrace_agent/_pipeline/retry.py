"""Retries of a collector's transient errors, quick and bounded once the process is exiting.

The OTLP/HTTP exporters send through a ``RetryingSession``, which owns the whole retry policy:

- **Retryable**: 429, 502, 503, 504 and connection errors (refused, reset). Anything else, a
  read timeout included (a hanging collector), is answered at once.
- **While the app runs**: back-off from 0.5 s, doubling, capped at 8 s, ``Retry-After`` honoured,
  for at most ``window_s`` per request (the export timeout).
- **Once ``hurry`` was called** (flush, shutdown): back-off from 50 ms, capped at 0.5 s, and never
  past the deadline; a ``Retry-After`` that ends after the deadline gives up at once. A back-off
  already under way when the exit begins is cut short.

Giving up raises ``ExportGaveUp``, which the exporters of every supported SDK version treat as a
failed export without a back-off of their own (theirs, 1 s then 2 s, would outlast the exit
budget: that is why spans were lost at exit).
"""

from __future__ import annotations

import email.utils
import os
import random
import threading
import time

import requests

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RETRYABLE_STATUSES = frozenset((429, 502, 503, 504))
_HURRIED_FIRST_PAUSE_S = 0.05
_HURRIED_MAX_PAUSE_S = 0.5
_FIRST_PAUSE_S = 0.5
_MAX_PAUSE_S = 8.0
_DEADLINE_MARGIN_S = 0.05  # leave the caller time to count the result before its own deadline

_hurried = threading.Event()
_deadline: float | None = None
last_error: str | None = None
"""What the last request that gave up met (for the report at exit)."""
last_transient: str | None = None
"""The last transient error a request retried after (for the report at exit)."""


class ExportGaveUp(Exception):
    """The collector kept answering with transient errors until the retry budget ran out."""


class DeliveryNote(threading.local):
    """What happened to the requests of the export that the current thread is making."""

    retried = False


note = DeliveryNote()


def hurry(deadline: float) -> float:
    """From now on retry fast and stop by ``deadline`` (``time.monotonic()``); for flush/exit.

    Returns the deadline in force: an earlier one set by the same exit stays.
    """
    global _deadline
    if _deadline is None or deadline < _deadline or _deadline < time.monotonic():  # or stale
        _deadline = deadline
    _hurried.set()
    return _deadline


def relax() -> None:
    """Back to the patient policy (a flush finished and the app goes on)."""
    global _deadline
    _deadline = None
    _hurried.clear()


def reset_after_fork() -> None:
    """A forked child starts patient, whatever its parent was doing."""
    global _hurried
    _hurried = threading.Event()
    relax()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=reset_after_fork)


class RetryingSession(requests.Session):
    """A ``requests`` session that retries transient collector errors itself (see the module)."""

    def __init__(self, window_s: float = 10.0) -> None:
        super().__init__()
        self.window_s = window_s

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        global last_error, last_transient
        started = time.monotonic()
        attempt = 0
        while True:
            deadline = _deadline
            if deadline is not None:
                left = deadline - time.monotonic()
                timeout = kwargs.get("timeout")
                kwargs["timeout"] = max(min(timeout, left) if timeout else left, 0.01)
            error: requests.ConnectionError | None = None
            try:
                response = super().request(method, url, *args, **kwargs)
            except requests.ConnectionError as exc:
                error, retry_after, why = exc, None, _reason(exc)
            else:
                if response.status_code not in RETRYABLE_STATUSES:
                    return response
                retry_after = _retry_after(response.headers.get("Retry-After"))
                why = f"HTTP {response.status_code}"
            pause = self._pause(attempt, started, retry_after)
            if pause is None or not _wait(pause, retry_after is not None):
                last_error = f"{why} after {attempt + 1} attempt(s)"
                raise ExportGaveUp(f"collector still failing: {last_error}") from error
            note.retried = True
            last_transient = why
            attempt += 1

    def _pause(self, attempt: int, started: float, retry_after: float | None) -> float | None:
        """Seconds to wait before the next attempt, or None to give up."""
        now = time.monotonic()
        deadline = _deadline
        if deadline is not None:
            pause = min(_HURRIED_FIRST_PAUSE_S * 2**attempt, _HURRIED_MAX_PAUSE_S)
            if retry_after is not None:
                pause = retry_after
            return pause if now + pause < deadline - _DEADLINE_MARGIN_S else None
        pause = min(_FIRST_PAUSE_S * 2**attempt, _MAX_PAUSE_S) * random.uniform(0.8, 1.2)
        if retry_after is not None:
            pause = retry_after
        return pause if now + pause < started + self.window_s else None


def _wait(pause: float, asked: bool) -> bool:
    """Wait ``pause`` seconds; False if an exit that began meanwhile leaves no time for it.

    An exit cuts our own back-off short, but a ``Retry-After`` the collector ``asked`` for is
    still honoured when it ends before the deadline.
    """
    if _hurried.is_set():
        time.sleep(pause)
        return True
    resume_at = time.monotonic() + pause
    if not _hurried.wait(pause) or not asked:
        return True
    deadline = _deadline
    if deadline is not None and resume_at >= deadline - _DEADLINE_MARGIN_S:
        return False
    time.sleep(max(resume_at - time.monotonic(), 0.0))
    return True


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delay-seconds or HTTP-date, RFC 9110)."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _reason(error: Exception) -> str:
    """The innermost cause's class name: ``ConnectionRefusedError``, ``ConnectionResetError``…"""
    for _ in range(8):  # requests → urllib3 → socket: a few levels; never loop on a cycle
        if error.__context__ is None:
            break
        error = error.__context__  # type: ignore[assignment]
    return type(error).__name__
