"""``attributes``: label every span started inside a block with a session, a user, tags, metadata.

The labels live in a ``ContextVar``, so they follow the thread or asyncio task that entered the
block, and the agent's first span processor copies them onto each span it starts
(``context_attributes_processor``). Attribute names are the ones both Langfuse and Phoenix read
(see ``semconv``): ``session.id``, ``user.id``, ``tag.tags``, ``metadata`` (JSON) and one
``langfuse.trace.metadata.<key>`` per metadata key. Importing this module costs nothing: the
OpenTelemetry API is imported only to propagate labels as W3C baggage, when that is switched on.
"""

from __future__ import annotations

import json
from contextvars import ContextVar

from llmtrace_agent._runtime import agent_state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from contextvars import Token
    from types import TracebackType

    from opentelemetry.util.types import AttributeValue


class Labels:
    """The merged labels of the innermost ``attributes`` block and the span attributes they make."""

    __slots__ = ("extra", "metadata", "session_id", "span_attributes", "tags", "user_id")

    def __init__(
        self,
        session_id: str | None,
        user_id: str | None,
        tags: tuple[str, ...],
        metadata: dict[str, object],
        extra: dict[str, AttributeValue],
    ) -> None:
        self.session_id = session_id
        self.user_id = user_id
        self.tags = tags
        self.metadata = metadata
        self.extra = extra
        self.span_attributes = self._span_attributes()

    def merged(
        self,
        session_id: object,
        user_id: object,
        tags: Iterable[object] | str | None,
        metadata: Mapping[str, object] | None,
        extra: Mapping[str, object],
    ) -> Labels:
        """These labels with an inner block's on top: the inner value wins per key, tags add up
        (in order, without repeats)."""
        new_tags = (tags,) if isinstance(tags, str) else tuple(tags or ())
        return Labels(
            str(session_id) if session_id is not None else self.session_id,
            str(user_id) if user_id is not None else self.user_id,
            tuple(dict.fromkeys((*self.tags, *(str(tag) for tag in new_tags)))),
            {**self.metadata, **{str(key): value for key, value in (metadata or {}).items()}},
            {**self.extra, **{key: attribute_value(value) for key, value in extra.items()}},
        )

    def _span_attributes(self) -> dict[str, AttributeValue]:
        from llmtrace_agent.toolkit import semconv

        attributes: dict[str, AttributeValue] = dict(self.extra)
        if self.session_id is not None:
            attributes[semconv.SESSION_ID] = self.session_id
        if self.user_id is not None:
            attributes[semconv.USER_ID] = self.user_id
        if self.tags:
            attributes[semconv.TAG_TAGS] = self.tags
        if self.metadata:
            attributes[semconv.METADATA] = json.dumps(
                self.metadata, ensure_ascii=False, separators=(",", ":"), default=str
            )
            for key, value in self.metadata.items():
                attributes[semconv.LANGFUSE_TRACE_METADATA_PREFIX + key] = metadata_value(value)
        return attributes

    def baggage(self) -> dict[str, str]:
        """What goes downstream as W3C baggage: session, user and scalar extra values."""
        from llmtrace_agent.toolkit import semconv

        entries = {
            key: str(value) for key, value in self.extra.items() if not isinstance(value, tuple)
        }
        if self.session_id is not None:
            entries[semconv.SESSION_ID] = self.session_id
        if self.user_id is not None:
            entries[semconv.USER_ID] = self.user_id
        return entries


_EMPTY = Labels(None, None, (), {}, {})
current: ContextVar[Labels | None] = ContextVar("llmtrace_attributes", default=None)
"""The labels spans started now get; None outside every ``attributes`` block."""


def attributes(
    *,
    session_id: object = None,
    user_id: object = None,
    tags: Iterable[object] | str | None = None,
    metadata: Mapping[str, object] | None = None,
    **extra: object,
) -> ContextAttributes:
    """Label every span started inside ``with attributes(...):`` in this thread or task.

    ``session_id`` → ``session.id``, ``user_id`` → ``user.id``, ``tags`` → ``tag.tags``,
    ``metadata`` → ``metadata`` (JSON) and ``langfuse.trace.metadata.<key>``; other keywords are
    attributes of that name (``**{"app.tenant": "acme"}`` for dotted names). Nested blocks merge.
    """
    return ContextAttributes(session_id, user_id, tags, metadata, extra)


class ContextAttributes:
    """The context manager ``attributes`` returns; use one per ``with`` statement."""

    __slots__ = ("_baggage_token", "_changes", "_token")

    def __init__(
        self,
        session_id: object,
        user_id: object,
        tags: Iterable[object] | str | None,
        metadata: Mapping[str, object] | None,
        extra: Mapping[str, object],
    ) -> None:
        self._changes = (session_id, user_id, tags, metadata, extra)
        self._token: Token[Labels | None] | None = None
        self._baggage_token: object = None

    def __enter__(self) -> Labels:
        labels = (current.get() or _EMPTY).merged(*self._changes)
        self._token = current.set(labels)
        if agent_state.config.propagate_attributes:
            self._baggage_token = _attach_baggage(labels.baggage())
        return labels

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._baggage_token is not None:
            from opentelemetry import context

            context.detach(self._baggage_token)  # type: ignore[arg-type]
            self._baggage_token = None
        if self._token is not None:
            current.reset(self._token)
            self._token = None


def _attach_baggage(entries: dict[str, str]) -> object:
    from opentelemetry import baggage, context

    ctx = context.get_current()
    for key, value in entries.items():
        ctx = baggage.set_baggage(key, value, ctx)
    return context.attach(ctx)


def attribute_value(value: object) -> AttributeValue:
    """``value`` as OpenTelemetry accepts it: str, bool, int, float or a list of one of them;
    anything else becomes its ``str``."""
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and value:
        first = type(value[0])
        if first in (str, bool, int, float) and all(type(item) is first for item in value):
            return tuple(value)
    return str(value)


def metadata_value(value: object) -> AttributeValue:
    """A metadata value for ``langfuse.trace.metadata.<key>``: scalars as they are, else JSON."""
    if isinstance(value, (str, bool, int, float)):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
