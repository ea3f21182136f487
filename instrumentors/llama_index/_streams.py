"""Generators LlamaIndex returns (an LLM's stream, a streaming query's answer), followed to their
end.

LlamaIndex's dispatcher span of a streaming method ends when the generator is returned; the
model request is made on its first iteration, wherever the app iterates it. The proxies here
re-enter the context of the call that returned the generator (its span current, its model-call
offer open) around each step, so what runs inside is parented as if the call were still running,
and call ``on_end`` once: at exhaustion, on an error, on ``close()``, or when an abandoned
generator is collected.
"""

from __future__ import annotations

from contextvars import ContextVar

import wrapt
from opentelemetry import context as otel_context

from llmtrace_agent.toolkit import guard
from llmtrace_agent.toolkit.genai.delegation import reoffer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.context import Context

    from llmtrace_agent.toolkit.genai.delegation import Offer

    OnEnd = Callable[[BaseException | None, object], None]

in_model_call: ContextVar[bool] = ContextVar("llmtrace_llama_index_model_call", default=False)
"""True while one of LlamaIndex's model calls runs under our offer: a model method it calls in
turn (``chat`` built on ``complete``) is the same request, not another."""


class _Follower:
    """What the sync and async proxies share: their state and their ending."""

    def __init__(
        self, generator: object, context: Context, on_end: OnEnd, offer: Offer | None
    ) -> None:
        super().__init__(generator)
        self._self_context = context
        self._self_on_end: OnEnd | None = on_end
        self._self_offer = offer
        self._self_last: object = None

    def _self_end(self, error: BaseException | None) -> None:
        on_end, self._self_on_end = self._self_on_end, None
        if on_end is not None:
            try:
                on_end(error, self._self_last)
            except Exception as exc:
                guard.handle(exc)

    def __del__(self) -> None:
        # An abandoned generator (never raise from __del__).
        try:  # noqa: SIM105 (no contextlib: __del__ may run at interpreter shutdown)
            self._self_end(None)
        except Exception:
            pass


class GeneratorFollower(_Follower, wrapt.ObjectProxy):  # type: ignore[misc]
    """Follows a synchronous generator."""

    def __iter__(self) -> GeneratorFollower:
        return self

    def __next__(self) -> object:
        # Hot path: once per streamed item.
        token = otel_context.attach(self._self_context)
        offer = self._self_offer
        # A model call's stream: a model method LlamaIndex calls inside it is the same call.
        flag = in_model_call.set(offer is not None)
        try:
            if offer is None:
                item = next(self.__wrapped__)
            else:
                with reoffer(offer):
                    item = next(self.__wrapped__)
        except StopIteration:
            self._self_end(None)
            raise
        except BaseException as exc:
            self._self_end(exc)
            raise
        finally:
            in_model_call.reset(flag)
            otel_context.detach(token)
        self._self_last = item
        return item

    def close(self) -> object:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_end(None)


class AsyncGeneratorFollower(_Follower, wrapt.ObjectProxy):  # type: ignore[misc]
    """Follows an asynchronous generator."""

    def __aiter__(self) -> AsyncGeneratorFollower:
        return self

    async def __anext__(self) -> object:
        # Hot path: once per streamed item.
        token = otel_context.attach(self._self_context)
        offer = self._self_offer
        # A model call's stream: a model method LlamaIndex calls inside it is the same call.
        flag = in_model_call.set(offer is not None)
        try:
            if offer is None:
                item = await self.__wrapped__.__anext__()
            else:
                with reoffer(offer):
                    item = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_end(None)
            raise
        except BaseException as exc:
            self._self_end(exc)
            raise
        finally:
            in_model_call.reset(flag)
            otel_context.detach(token)
        self._self_last = item
        return item

    async def aclose(self) -> object:
        try:
            return await self.__wrapped__.aclose()
        finally:
            self._self_end(None)


def follow(
    generator: object, context: Context, on_end: OnEnd, offer: Offer | None = None
) -> object | None:
    """A proxy of ``generator`` (sync or async) that runs each step in ``context`` (with
    ``offer`` open) and calls ``on_end(error, last_item)`` once; None if it is no generator."""
    import inspect

    if inspect.isgenerator(generator):
        return GeneratorFollower(generator, context, on_end, offer)
    if inspect.isasyncgen(generator):
        return AsyncGeneratorFollower(generator, context, on_end, offer)
    return None
