"""httpx: one HTTP client span per request sent, sync and async, with W3C context propagation.

Patches ``Client._send_single_request`` and ``AsyncClient._send_single_request``: the clients
call it once per request actually sent (each redirect hop, each authentication round), below
redirect and auth handling and above the transport, so every transport is covered (the default
one, mounts, proxies, ``MockTransport``, the aiohttp transport openai offers). ``Client.send``
would give one span for a whole redirect chain; patching ``HTTPTransport.handle_request`` would
miss custom transports. The private method has the same name and signature from httpx 0.23 to
0.28 and in httpx2; if it disappears the instrumentor fails loudly at patch time instead of
silently tracing nothing. (0.27 is the oldest supported: the agent's genai-prices requires it.)

The OpenAI and Anthropic SDKs retry by building a new request, numbered in their
``x-stainless-retry-count`` header: that number becomes ``http.request.resend_count``, so the
retries show under the model call (which by default records HTTP spans only for retries and
failures: ``toolkit.http_spans``).

The span ends when the response headers arrive, as the library returns the response; reading a
streamed body happens after it.

``httpx2`` (the fork openai 3.x uses) has the same client API: ``HTTPX2Instrumentor`` in
``instrumentors/httpx2.py`` is this class pointed at the other module.
"""

from __future__ import annotations

from llmtrace_agent.toolkit.instrumentor import Instrumentor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping
    from types import ModuleType

    from llmtrace_agent.toolkit.http_spans import HTTPRequestScope


class HTTPXInstrumentor(Instrumentor):
    """Traces every request an ``httpx.Client`` or ``httpx.AsyncClient`` sends."""

    name = "httpx"
    targets = ("httpx",)
    requires = "httpx>=0.27"  # the agent's own genai-prices needs it: no older one installs beside

    def instrument(self, module: ModuleType) -> None:
        from llmtrace_agent.toolkit.guard import internal_errors
        from llmtrace_agent.toolkit.http_spans import start_request

        def start(args: tuple[object, ...], kwargs: dict[str, object]) -> HTTPRequestScope | None:
            """The scope tracing this request (its headers get the context); None: untraced."""
            with internal_errors:
                request = args[0] if args else kwargs["request"]
                headers = request.headers
                url = str(request.url)
                return start_request(
                    self.tracer, request.method, url, headers, sdk_retries(headers)
                )
            return None

        def send_single_request(
            wrapped: Callable[..., object],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            # Hot path: once per HTTP request.
            scope = start(args, kwargs)
            if scope is None:
                return wrapped(*args, **kwargs)
            with scope:
                response = wrapped(*args, **kwargs)
                scope.response(response.status_code, response.http_version)
            return response

        async def send_single_request_async(
            wrapped: Callable[..., Awaitable[object]],
            instance: object,
            args: tuple[object, ...],
            kwargs: dict[str, object],
        ) -> object:
            # Hot path: once per HTTP request.
            scope = start(args, kwargs)
            if scope is None:
                return await wrapped(*args, **kwargs)
            with scope:
                response = await wrapped(*args, **kwargs)
                scope.response(response.status_code, response.http_version)
            return response

        for path, wrapper in (
            ("Client._send_single_request", send_single_request),
            ("AsyncClient._send_single_request", send_single_request_async),
        ):
            if not self.wrap(module, path, wrapper):
                raise RuntimeError(f"{module.__name__}.{path} not found")


def sdk_retries(headers: Mapping[str, str]) -> int:
    """How many times an OpenAI or Anthropic SDK (Stainless-generated) already sent this request."""
    retries = headers.get("x-stainless-retry-count")
    return int(retries) if retries is not None and retries.isdigit() else 0
