"""Raw responses of the Stainless-generated SDKs (openai, anthropic: ``with_raw_response`` /
``with_streaming_response``): the call's span stays open until the user parses the body, closes
the response, or drops it.

``parse()`` returning a complete response records it and ends the span; returning a stream
hands the span over to a genai stream proxy (then the span ends with that stream). The user
gets the SDK's own objects back, behind transparent wrapt proxies. An instrumentor names its
SDK's raw-response classes once, in ``LLMOperation.raw_responses``; the shared wrappers do the rest.
"""

from __future__ import annotations

import contextlib

import wrapt

from llmtrace_agent.toolkit import guard
from llmtrace_agent.toolkit.genai.stream import AsyncStreamProxy, StreamProxy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from llmtrace_agent.toolkit.genai.call import LLMCall
    from llmtrace_agent.toolkit.genai.operation import LLMOperation

__all__ = [
    "AsyncRawResponseProxy",
    "LegacyRawResponseProxy",
    "RawResponseProxy",
    "RawResponses",
    "parsed_now",
]


class RawResponses:
    """One Stainless SDK's raw-response classes: ``legacy`` (``LegacyAPIResponse``, where the
    release has it: ``with_raw_response`` of openai and of anthropic < 2), ``sync`` and
    ``async_`` (``APIResponse``, ``AsyncAPIResponse``)."""

    __slots__ = ("_async", "_legacy", "_synchronous")

    def __init__(self, legacy: type | None, sync: type, async_: type) -> None:
        self._legacy = legacy
        self._async = async_
        self._synchronous: tuple[type, ...] = (sync,) if legacy is None else (legacy, sync)

    def proxy(self, call: LLMCall, result: object, operation: LLMOperation) -> object | None:
        """A proxy keeping the span open until the body is parsed or closed; None for a body
        already read (``parsed`` reads it now) or for anything else."""
        if isinstance(result, self._synchronous):
            if getattr(getattr(result, "http_response", None), "is_closed", False):
                return None
            if self._legacy is not None and isinstance(result, self._legacy):
                return LegacyRawResponseProxy(result, call, operation)
            return RawResponseProxy(result, call, operation)
        if isinstance(result, self._async):  # its parse() is a coroutine: the user awaits it
            return AsyncRawResponseProxy(result, call, operation)
        return None

    def parsed(self, response: object) -> object | None:
        """The response to record: the body of a read raw response (None if it does not
        parse), any other response as it is."""
        if isinstance(response, self._synchronous):
            return parsed_now(response)
        return response


def parsed_now(response: object) -> object | None:
    """The parsed body of a read raw response (cached by the SDK, so the user's own ``parse()``
    returns this very object), or None when the SDK cannot parse it."""
    try:
        return response.parse()  # type: ignore[attr-defined]
    except Exception:  # the SDK's parse error (bad body, LengthFinishReasonError…): the user
        return None  # meets it on their own parse(); we just record no response details


class LegacyRawResponseProxy(wrapt.ObjectProxy):  # type: ignore[misc]
    """A ``LegacyAPIResponse`` whose body is still arriving (``with_raw_response``, streamed)."""

    def __init__(self, response: object, call: LLMCall, operation: LLMOperation) -> None:
        super().__init__(response)
        self._self_call = call
        self._self_operation = operation
        self._self_stream: object = None

    def parse(self, *args: object, **kwargs: object) -> object:
        try:
            parsed = self.__wrapped__.parse(*args, **kwargs)
        except BaseException as exc:
            self._self_end(exc)
            raise
        return self._self_adopt(parsed)

    def _self_adopt(self, parsed: object) -> object:
        """What ``parse()`` returns: the parsed object, or our proxy of the stream it is."""
        stream = self._self_stream
        if stream is not None:  # parsed before: the SDK returns its cached object again
            return stream if stream.__wrapped__ is parsed else parsed  # type: ignore[attr-defined]
        call = self._self_call
        if call.ended:
            return parsed
        operation = self._self_operation
        try:
            state = operation.stream_state(call, parsed)
            if state is not None:
                proxy = AsyncStreamProxy if hasattr(parsed, "__anext__") else StreamProxy
                self._self_stream = proxy(parsed, call, state)
                return self._self_stream
            operation.record_response(call, parsed)
        except Exception as exc:
            self._self_end(None)
            guard.handle(exc)
            return parsed
        self._self_end(None)
        return parsed

    def _self_end(self, error: BaseException | None) -> None:
        if self._self_stream is None:
            try:
                self._self_call.end(error)
            except Exception as exc:
                guard.handle(exc)

    def __del__(self) -> None:
        # Dropped without being parsed or closed: end the span with what is known.
        with contextlib.suppress(Exception):
            self._self_end(None)


class RawResponseProxy(LegacyRawResponseProxy):
    """An ``APIResponse`` (``with_streaming_response``): its context manager closes it."""

    def close(self) -> object:
        try:
            return self.__wrapped__.close()
        finally:
            stream = self._self_stream
            if stream is not None:
                stream.close()  # ends the span with what the stream delivered
            else:
                self._self_end(None)


class AsyncRawResponseProxy(LegacyRawResponseProxy):
    """An ``AsyncAPIResponse`` (async ``with_streaming_response``): ``parse`` and ``close`` are
    coroutines."""

    async def parse(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        try:
            parsed = await self.__wrapped__.parse(*args, **kwargs)
        except BaseException as exc:
            self._self_end(exc)
            raise
        return self._self_adopt(parsed)

    async def close(self) -> object:
        try:
            return await self.__wrapped__.close()
        finally:
            stream = self._self_stream
            if stream is not None:
                await stream.close()
            else:
                self._self_end(None)
