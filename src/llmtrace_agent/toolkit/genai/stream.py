"""Transparent proxies for streamed responses: the user iterates exactly what the SDK returned.

Built on ``wrapt.ObjectProxy`` so ``isinstance``, ``.response``, ``.close()`` and every other
attribute keep working. Iteration is ours: each chunk feeds the operation's ``StreamState``, and
the call's span ends exactly once: on exhaustion, error, close, context-manager exit or garbage
collection of an abandoned stream.
"""

from __future__ import annotations

import wrapt

from llmtrace_agent.toolkit import guard

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import TracebackType

    from llmtrace_agent.toolkit.genai.call import LLMCall
    from llmtrace_agent.toolkit.genai.operation import StreamState


class _StreamEnd:
    """What the sync and async proxies share: their state and their ending. Their per-chunk
    code is written out in each (a shared method would cost a call per chunk)."""

    def __init__(self, stream: object, call: LLMCall, state: StreamState) -> None:
        super().__init__(stream)
        self._self_call = call
        self._self_state = state
        self._self_on_chunk: Callable[[object], None] | None = None  # set at the first chunk

    def _self_end(self, error: BaseException | None) -> None:
        call = self._self_call
        if call.ended:
            return
        try:
            self._self_state.finish(call)
        except Exception as exc:
            guard.report_internal_error(exc)
        try:
            call.end(error)
        except Exception as exc:
            guard.handle(exc)

    def _self_first_chunk(self) -> Callable[[object], None]:
        """Record the time to first chunk; return the state's ``on_chunk``, kept for the rest."""
        self._self_call.mark_first_chunk()
        on_chunk = self._self_on_chunk = self._self_state.on_chunk
        return on_chunk

    def __del__(self) -> None:
        # An abandoned stream: end its span with what arrived (never raise from __del__).
        try:  # noqa: SIM105 (no contextlib: __del__ may run at interpreter shutdown)
            self._self_end(None)
        except Exception:
            pass


class StreamProxy(_StreamEnd, wrapt.ObjectProxy):  # type: ignore[misc]
    """Wraps a synchronous stream (an iterator of chunks).

    ``for chunk in stream`` iterates a generator of ours (as the SDKs' own ``Stream.__iter__``
    does), which keeps what each chunk needs in locals: each read of a proxy attribute goes
    through wrapt's ``__getattr__`` hook (~0.15 µs), which ``__next__`` pays per chunk.
    ``next(stream)`` still works, and both read the same chunks.
    """

    def __iter__(self) -> Iterator[object]:
        return self._self_chunks(self._self_source())

    def _self_source(self) -> Iterator[object]:
        """The iterator the chunks come from."""
        return self.__wrapped__  # type: ignore[no-any-return]

    def _self_chunks(self, source: Iterator[object]) -> Iterator[object]:
        # Hot path: once per chunk (``for chunk in stream``).
        on_chunk = self._self_on_chunk
        handle = guard.handle
        try:
            for chunk in source:
                if on_chunk is None:
                    on_chunk = self._self_first_chunk()
                try:
                    on_chunk(chunk)
                except Exception as exc:
                    handle(exc)
                yield chunk
        except GeneratorExit:
            raise  # the app stopped reading: close(), the context manager or __del__ ends it
        except BaseException as exc:
            self._self_end(exc)
            raise
        self._self_end(None)

    def __next__(self) -> object:
        # Hot path: once per chunk.
        try:
            chunk = next(self.__wrapped__)
        except StopIteration:
            self._self_end(None)
            raise
        except BaseException as exc:
            self._self_end(exc)
            raise
        on_chunk = self._self_on_chunk  # one proxy attribute read per chunk (~0.15 µs each)
        if on_chunk is None:
            on_chunk = self._self_first_chunk()
        try:
            on_chunk(chunk)
        except Exception as exc:
            guard.handle(exc)
        return chunk

    def __enter__(self) -> object:
        entered = self.__wrapped__.__enter__()
        return self if entered is self.__wrapped__ else entered

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> object:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_end(exc)

    def close(self) -> object:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_end(None)


class AsyncStreamProxy(_StreamEnd, wrapt.ObjectProxy):  # type: ignore[misc]
    """Wraps an asynchronous stream (an async iterator of chunks)."""

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> object:
        # Hot path: once per chunk.
        try:
            chunk = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_end(None)
            raise
        except BaseException as exc:  # includes asyncio.CancelledError: the span says so
            self._self_end(exc)
            raise
        on_chunk = self._self_on_chunk  # one proxy attribute read per chunk (~0.15 µs each)
        if on_chunk is None:
            on_chunk = self._self_first_chunk()
        try:
            on_chunk(chunk)
        except Exception as exc:
            guard.handle(exc)
        return chunk

    async def __aenter__(self) -> object:
        entered = await self.__wrapped__.__aenter__()
        return self if entered is self.__wrapped__ else entered

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> object:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_end(exc)

    async def close(self) -> object:
        try:
            return await self.__wrapped__.close()
        finally:
            self._self_end(None)

    async def aclose(self) -> object:
        try:
            return await self.__wrapped__.aclose()
        finally:
            self._self_end(None)


class IterableStreamProxy(StreamProxy):
    """Wraps a synchronous stream that is iterable but not an iterator itself (botocore's
    ``EventStream``: each ``iter()`` resumes the same events). Iterating the proxy resumes one
    iterator of the stream, so every way of reading it sees each chunk once."""

    def __init__(self, stream: object, call: LLMCall, state: StreamState) -> None:
        super().__init__(stream, call, state)
        self._self_iterator: Iterator[object] | None = None

    def _self_source(self) -> Iterator[object]:
        iterator = self._self_iterator
        if iterator is None:
            iterator = self._self_iterator = iter(self.__wrapped__)
        return iterator

    def __next__(self) -> object:
        # Hot path: once per chunk (StreamProxy.__next__, on the stream's iterator).
        iterator = self._self_iterator
        if iterator is None:
            iterator = self._self_iterator = iter(self.__wrapped__)
        try:
            chunk = next(iterator)  # type: ignore[call-overload]
        except StopIteration:
            self._self_end(None)
            raise
        except BaseException as exc:
            self._self_end(exc)
            raise
        on_chunk = self._self_on_chunk
        if on_chunk is None:
            on_chunk = self._self_first_chunk()
        try:
            on_chunk(chunk)
        except Exception as exc:
            guard.handle(exc)
        return chunk
