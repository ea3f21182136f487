"""Flush before a terminating signal kills the process: SIGTERM (Docker, Kubernetes, systemd)
and SIGINT when nothing handles it.

A signal whose handler is the default (``SIG_DFL``) ends the process at once: no ``atexit``, so
the spans of the last requests are lost. Servers make this the common case: uvicorn captures
SIGTERM/SIGINT for its graceful shutdown, then restores the previous handler and raises the
signal again, and multiprocessing's workers (uvicorn ``--workers N``, which the master stops with
SIGTERM) leave the same way. So where the handler is still the default at start-up, the agent
installs one that flushes and shuts the exporters down (bounded by ``LLMTRACE_SHUTDOWN_TIMEOUT``),
then restores the default and raises the signal again: the process dies as it would have, with
the same exit status, after its telemetry left. A handler the application sets later replaces
ours and keeps its own behaviour; servers that save and restore handlers (uvicorn) restore ours.
Forked children inherit the handler. A server that resets the handlers to the default in its
workers and re-raises the signal itself after its graceful shutdown (gunicorn's ``UvicornWorker``
resets them for uvicorn, which then calls ``signal.raise_signal``) is covered too:
``signal.raise_signal`` flushes first when the signal's handler is the default.
"""

from __future__ import annotations

import os
import signal
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT") if hasattr(signal, name))
_shutdown: Callable[[], object] | None = None


def install(shutdown: Callable[[], object]) -> None:
    """Flush through ``shutdown`` before a default-handled SIGTERM or SIGINT ends the process.

    Only from the main thread (the only one that may set handlers); a no-op elsewhere.
    """
    global _shutdown
    if threading.current_thread() is not threading.main_thread():
        return
    _shutdown = shutdown
    if not getattr(signal.raise_signal, "_llmtrace", False):
        signal.raise_signal = _flushing_raise_signal(signal.raise_signal)
    for signum in _SIGNALS:
        try:
            if signal.getsignal(signum) is signal.SIG_DFL:
                signal.signal(signum, _flush_then_die)
        except (OSError, ValueError):  # an embedded interpreter without signal support
            pass


def _flushing_raise_signal(raise_signal: Callable[[int], None]) -> Callable[[int], None]:
    def flushing_raise_signal(signum: int) -> None:
        try:
            if (
                _shutdown is not None
                and signum in _SIGNALS
                and signal.getsignal(signum) is signal.SIG_DFL
            ):
                _shutdown()
        except Exception:  # never in the way of the signal
            pass
        raise_signal(signum)

    flushing_raise_signal._llmtrace = True  # type: ignore[attr-defined]
    return flushing_raise_signal


def _flush_then_die(signum: int, frame: FrameType | None) -> None:
    try:
        if _shutdown is not None:
            _shutdown()
    finally:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
