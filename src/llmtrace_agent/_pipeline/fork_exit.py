"""Forked children export their spans even when they leave without running atexit.

A child of ``os.fork()`` usually ends with ``os._exit()`` (multiprocessing, Celery/billiard
prefork workers, pre-fork servers), which skips atexit and so the agent's bounded shutdown.
Two mechanisms, both installed only in forked children, never in the process the user started:

- ``os._exit`` is wrapped: the wrapper runs the agent's shutdown (bounded by
  LLMTRACE_SHUTDOWN_TIMEOUT, and a no-op when it already ran), then the real ``os._exit``.
- A multiprocessing worker stopped with SIGTERM (``Pool.terminate()``, ``Process.terminate()``)
  dies without running any Python code. When SIGTERM still has its default action there, the
  agent handles it: bounded shutdown, then the default action again, so the process still ends
  killed by SIGTERM, as its parent expects.
"""

from __future__ import annotations

import os
import signal
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType
    from typing import NoReturn

_real_exit: Callable[[int], NoReturn] = os._exit
_shutdown: Callable[[], object] = lambda: None  # noqa: E731  set by ``install``


def install(shutdown: Callable[[], object]) -> None:
    """Arrange for forked children to run ``shutdown`` before ``os._exit``; once per process."""
    global _shutdown
    _shutdown = shutdown
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=wrap_exit)


def wrap_exit() -> None:
    """Run the shutdown before ``os._exit`` in this process (a forked or spawned child)."""
    global _real_exit
    if os._exit is not _exit_after_shutdown:
        _real_exit = os._exit
        os._exit = _exit_after_shutdown


def _exit_after_shutdown(status: int) -> NoReturn:
    """``os._exit`` in a forked child: export the child's spans first (bounded), then leave."""
    try:
        _shutdown()
    finally:  # whatever happened, the exit the program asked for
        _real_exit(status)


def shutdown_on_sigterm() -> None:
    """In a multiprocessing worker, make SIGTERM flush (bounded) before its default action."""
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return  # the program handles SIGTERM itself; its handler decides
        signal.signal(signal.SIGTERM, _shutdown_then_terminate)
    except (ValueError, OSError):  # not the main interpreter, or no SIGTERM here
        return


def _shutdown_then_terminate(signum: int, frame: FrameType | None) -> None:
    signal.signal(signum, signal.SIG_DFL)
    try:
        _shutdown()
    finally:
        os.kill(os.getpid(), signum)
