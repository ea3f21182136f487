"""Post-import hooks through ``wrapt.when_imported``, without paying for wrapt at start-up.

Importing wrapt 2.x costs about 100 ms (it pulls in asyncio and inspect), more than the whole
start-up budget. Until one of the watched modules is first imported, a tiny finder stands in:
on that first import it loads wrapt, hands every pending hook to
``wrapt.register_post_import_hook``, steps aside, and lets wrapt's own finder handle that import
and all later ones.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

    Hook = Callable[[ModuleType], object]

_pending: dict[str, list[Hook]] = {}
_handed_to_wrapt = False


def when_imported(name: str, hook: Hook) -> None:
    """Call ``hook(module)`` once module ``name`` is imported, or now if it already is."""
    if _handed_to_wrapt or name in sys.modules:
        import wrapt

        wrapt.register_post_import_hook(hook, name)
        return
    _pending.setdefault(name, []).append(hook)
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def _hand_over_to_wrapt() -> object:
    """Register every pending hook with wrapt; return wrapt's finder."""
    global _handed_to_wrapt
    import wrapt
    from wrapt.importer import ImportHookFinder

    _handed_to_wrapt = True
    while _pending:
        name, hooks = _pending.popitem()
        for hook in hooks:
            wrapt.register_post_import_hook(hook, name)
    return next(finder for finder in sys.meta_path if isinstance(finder, ImportHookFinder))


class _DeferredHookFinder:
    """A meta-path finder that only waits for the first watched import."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        # Hot: consulted for every import in the process until a watched module appears.
        if fullname not in _pending:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        try:
            wrapt_finder = _hand_over_to_wrapt()
        except Exception as exc:  # wrapt missing (another interpreter): never break the import
            _pending.clear()
            from llmtrace_agent._runtime import log

            log.warning(f"instrumentors not activated, wrapt unavailable: {exc!r}")
            return None
        return wrapt_finder.find_spec(fullname, path, target)  # type: ignore[attr-defined,no-any-return]


_FINDER = _DeferredHookFinder()
