"""One span per operation across layers: a framework offers an operation, a lower layer takes it.

A framework (LangChain, LlamaIndex, an agent SDK) knows *why* a model is called or a store is
searched; the provider or vector-store instrumentor underneath sees the real request (tokens,
response id, cost; collection, rows). Tracing both layers would show one request twice and sum its
cost twice. So the framework wraps the operation in ``offer(kind, attributes)``; an instrumentor
that traces the real request calls ``take(kind)`` when it starts its span, adds the framework's
attributes to it, and marks the offer taken. When the operation returns untaken (a provider we do
not instrument), the framework makes its own span from what it saw, with ``offer.started_ns`` as
its start time.

The offer lives in a ``ContextVar``: it follows the call into threads and tasks that copy the
context (asyncio, LangChain's executors), and nowhere else.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar, Token

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["MODEL_CALL", "RETRIEVAL", "Offer", "offer", "peek", "reoffer", "take"]

MODEL_CALL = "model_call"
"""A model request (chat, completion, embeddings): taken by every ``LLMCall``."""
RETRIEVAL = "retrieval"
"""A vector-store or retriever search: taken by vector-store instrumentors."""


class Offer:
    """An operation a framework is about to run, which a lower instrumentor may trace."""

    __slots__ = ("attributes", "kind", "started_ns", "taken")

    def __init__(self, kind: str, attributes: dict[str, object]) -> None:
        self.kind = kind
        self.attributes = attributes
        """Added to the taker's span: what only the framework knows (``gen_ai.agent.name``…)."""
        self.started_ns = time.time_ns()
        self.taken = False

    def open(self) -> Token[Offer | None]:
        """Make this the open offer (again) until ``close(token)``, in the same context:
        ``reoffer`` without a context manager, for a stream's per-chunk steps."""
        # Hot path: every step of a framework's stream.
        return _open_offer.set(self)

    @staticmethod
    def close(token: Token[Offer | None]) -> None:
        """End what ``open`` started."""
        _open_offer.reset(token)


_open_offer: ContextVar[Offer | None] = ContextVar("llmtrace_open_offer", default=None)


@contextmanager
def offer(kind: str, attributes: dict[str, object] | None = None) -> Iterator[Offer]:
    """Offer the operation run inside the block; afterwards ``.taken`` tells whether a lower
    instrumentor traced it (then make no span of your own for it)."""
    made = Offer(kind, attributes if attributes is not None else {})
    token = _open_offer.set(made)
    try:
        yield made
    finally:
        _open_offer.reset(token)


@contextmanager
def reoffer(made: Offer) -> Iterator[Offer]:
    """Open an existing offer again for the block: a framework's stream makes its request on
    its first iteration, after the call that returned it, so the framework re-opens the call's
    offer around each step of the stream (where the current context is the consumer's)."""
    token = _open_offer.set(made)
    try:
        yield made
    finally:
        _open_offer.reset(token)


def take(kind: str) -> dict[str, object] | None:
    """Take the open offer of ``kind``: the framework's attributes for your span, or None when no
    framework offered this operation. Each request a framework operation makes (a retried or
    repeated request too) takes it and gets the same attributes."""
    # Hot path: every model call.
    found = _open_offer.get()
    if found is None or found.kind != kind:
        return None
    found.taken = True
    return found.attributes


def peek(kind: str) -> Offer | None:
    """The open offer of ``kind`` without taking it: for a framework that learns an operation's
    attributes (from its own callbacks) only after it opened the offer."""
    found = _open_offer.get()
    return found if found is not None and found.kind == kind else None
