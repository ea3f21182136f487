"""Token usage and its cost in USD.

Cost comes from the maintained ``genai-prices`` data, but its ``calc_price`` takes ~120 µs a
call (more than the whole span). Most models have flat per-token prices, so the rates are looked
up once per (provider, model) and applied with four multiplications; models with tiered or
conditional prices fall back to ``calc_price``. ``genai_prices`` itself takes 0.3 to 1 s to
import, so it is loaded in a background thread when the first LLM call starts, and the calls that
end before it is ready never wait for it: their spans end in the loader thread, with their cost and
their own end time, as soon as it is (``with_prices``; a flush waits for them).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

from llmtrace_agent.toolkit import guard

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType


class Usage:
    """Token counts of one call, in the spec's terms: ``input`` includes cached tokens and
    ``output`` includes reasoning tokens. Unknown counts are None."""

    __slots__ = ("cache_read", "cache_write", "input", "output", "reasoning")

    def __init__(
        self,
        input: int | None = None,
        output: int | None = None,
        cache_read: int | None = None,
        cache_write: int | None = None,
        reasoning: int | None = None,
    ) -> None:
        self.input = _count(input)
        self.output = _count(output)
        self.cache_read = _count(cache_read)
        self.cache_write = _count(cache_write)
        self.reasoning = _count(reasoning)

    def __repr__(self) -> str:
        return (
            f"Usage(input={self.input}, output={self.output}, cache_read={self.cache_read}, "
            f"cache_write={self.cache_write}, reasoning={self.reasoning})"
        )


def _count(value: object) -> int | None:
    """A token count as reported, or None when the server sent something else."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


# --- cost ----------------------------------------------------------------------------------------

_SLOW = object()  # tiered or conditional prices: use genai_prices.calc_price each time
_rates: dict[tuple[str, str], object] = {}
_loader: threading.Thread | None = None
_module: ModuleType | None = None
_loaded = False  # the loader finished, with or without genai_prices
_waiting: list[Callable[[], None]] = []  # what ``with_prices`` deferred until then
_lock = threading.Lock()


def preload_prices() -> None:
    """Start importing ``genai_prices`` in the background (first LLM call only)."""
    global _loader
    if _loader is None:
        # genai_prices imports httpx2. Imported from the loader thread, httpx2 would sit half
        # initialised in sys.modules while the app's own thread runs on, and openai 2.x peeks
        # there (``sys.modules.get("httpx2").Response``): its first call failed with
        # AttributeError. So httpx2 is imported here, once, in the caller's thread (~50 ms; free
        # when the SDK already uses it, as openai 3.x does).
        if "httpx2" not in sys.modules:
            with contextlib.suppress(Exception):  # absent or broken: so is genai_prices
                import httpx2  # noqa: F401
        _loader = threading.Thread(target=_load, name="llmtrace-prices", daemon=True)
        _loader.start()


def _load() -> None:
    global _module, _loaded
    try:
        import genai_prices

        _module = genai_prices
    except Exception:  # not installed or broken: no cost attribute, nothing else changes
        pass
    with _lock:
        _loaded = True
        waiting = _waiting[:]
        _waiting.clear()
    for action in waiting:
        try:
            action()
        except Exception as exc:
            guard.handle(exc)


def with_prices(action: Callable[[], None]) -> None:
    """Run ``action`` now if the prices are loaded, else in the loader thread once they are."""
    # Hot path: once per LLM call.
    if not _loaded:
        preload_prices()
        with _lock:
            if not _loaded:
                _waiting.append(action)
                return
    action()


def wait_for_prices() -> None:
    """Block until the prices are loaded and the actions deferred until then have run."""
    loader = _loader
    if loader is not None and loader is not threading.current_thread():  # not from its actions
        loader.join()


def _forget_loader_in_child() -> None:
    """A forked child has no loader thread, and its parent's deferred spans are not its own."""
    global _loader, _lock
    _lock = threading.Lock()  # another thread may have held it at the fork
    _waiting.clear()
    if not _loaded:
        _loader = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_loader_in_child)


def cost_usd(provider: str, model: str, usage: Usage) -> float | None:
    """The call's price in USD, or None for an unknown model or missing usage."""
    if usage.input is None and usage.output is None:
        return None
    rates = _rates.get((provider, model))
    if rates is None:
        rates = _rates[(provider, model)] = _lookup_rates(provider, model)
    if rates is _SLOW:
        return _slow_cost(provider, model, usage)
    if not isinstance(rates, tuple):
        return None
    input_rate, output_rate, cache_read_rate, cache_write_rate = rates
    cache_read = usage.cache_read or 0
    cache_write = usage.cache_write or 0
    uncached = max((usage.input or 0) - cache_read - cache_write, 0)
    return (
        uncached * input_rate
        + cache_read * cache_read_rate
        + cache_write * cache_write_rate
        + (usage.output or 0) * output_rate
    )


def _prices_module() -> ModuleType | None:
    preload_prices()
    wait_for_prices()
    return _module


def _lookup_rates(provider: str, model: str) -> object:
    prices = _prices_module()
    if prices is None:
        return False
    try:
        calculation = prices.calc_price(
            prices.Usage(input_tokens=1, output_tokens=1), model_ref=model, provider_id=provider
        )
    except LookupError:
        return False
    price = calculation.model_price
    from decimal import Decimal

    fields = (price.input_mtok, price.output_mtok, price.cache_read_mtok, price.cache_write_mtok)
    if not all(field is None or isinstance(field, Decimal) for field in fields):
        return _SLOW
    input_rate = float(price.input_mtok or 0) / 1e6
    # genai-prices charges cached tokens at the input rate when no cache price is listed.
    cache_read = price.cache_read_mtok if price.cache_read_mtok is not None else price.input_mtok
    cache_write = price.cache_write_mtok if price.cache_write_mtok is not None else price.input_mtok
    return (
        input_rate,
        float(price.output_mtok or 0) / 1e6,
        float(cache_read or 0) / 1e6,
        float(cache_write or 0) / 1e6,
    )


def _slow_cost(provider: str, model: str, usage: Usage) -> float | None:
    prices = _prices_module()
    if prices is None:
        return None
    try:
        calculation = prices.calc_price(
            prices.Usage(
                input_tokens=usage.input or 0,
                output_tokens=usage.output or 0,
                cache_read_tokens=usage.cache_read,
                cache_write_tokens=usage.cache_write,
            ),
            model_ref=model,
            provider_id=provider,
        )
    except LookupError:
        return None
    return float(calculation.total_price)
