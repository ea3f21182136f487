"""The one guard at every boundary where agent code runs inside the user's call.

``with internal_errors:`` around agent code: an ``Exception`` raised by the agent is logged
(rate-limited) and swallowed, so the user's call proceeds with its own result or exception.
``BaseException`` (KeyboardInterrupt, CancelledError, SystemExit) always passes. In the agent's
own test suite (``LLMTRACE_RAISE_INTERNAL_ERRORS=true``) errors re-raise so bugs fail tests.
"""

from __future__ import annotations

from llmtrace_agent._runtime import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import TypeVar

    T = TypeVar("T")

__all__ = ["guarded", "handle", "internal_errors"]

MAX_REPORTS = 20  # distinct internal errors printed per process; the rest are counted
raise_errors = False  # set once by the agent from Config.raise_internal_errors
_seen: set[tuple[str, str]] = set()
suppressed_count = 0


class _InternalErrors:
    """Context manager form of the guard; a single shared instance, cheap on hot paths."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc_type is None or not issubclass(exc_type, Exception):
            return False
        report_internal_error(exc)  # type: ignore[arg-type]
        return not raise_errors


internal_errors = _InternalErrors()


def handle(exc: Exception) -> None:
    """For ``except Exception`` blocks on hot paths (cheaper than a ``with``): log, or re-raise
    under the agent's tests. Call it only from inside the ``except`` block."""
    report_internal_error(exc)
    if raise_errors:
        raise exc


def guarded(func: Callable[..., T]) -> Callable[..., T | None]:
    """Decorate an agent callback (import hook, span processor…) so it can never raise."""
    import functools

    @functools.wraps(func)
    def call_guarded(*args: object, **kwargs: object) -> T | None:
        with internal_errors:
            return func(*args, **kwargs)
        return None

    return call_guarded


def report_internal_error(exc: Exception) -> None:
    """Log one line per distinct error site (the traceback with debug on); count the rest."""
    global suppressed_count
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
    key = (type(exc).__name__, where)
    if key in _seen or len(_seen) >= MAX_REPORTS:
        suppressed_count += 1
        return
    _seen.add(key)
    log.warning(f"internal error ignored, your program continues: {type(exc).__name__}: {exc}")
    if log.debug_enabled:
        import traceback

        log.debug("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
