"""A loopback fake of the Responses API's WebSocket mode (``wss://.../v1/responses``).

A real WebSocket server (``websockets``) on 127.0.0.1 answers each ``response.create`` the way
OpenAI does, with the same events ``fake_openai.response_events`` makes for SSE: a text
message, or a function call when tools are offered and the input holds no
``function_call_output`` yet (the SDK examples' tool loop); a ``response.steer`` is accepted
and followed by the successor response the server starts by itself. A test queues other answers with
``server.reply(...)``: a failed response, an ``error`` event, or a connection dropped midway.
Every event the client sent is kept in ``server.received``.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass
from typing import Any

from websockets.sync.server import ServerConnection, serve

from tests.support.fake_openai import API_KEY, response_events


@dataclass
class WsReply:
    """How to answer the next ``response.create``."""

    final: str = "response.completed"
    """The last event: ``response.completed``, ``response.failed``, ``response.incomplete`` or
    ``response.done`` (what the WebSocket API sent before ``response.completed``)."""
    error: dict[str, Any] | None = None
    """Send this ``error`` event (with ``type: error``) instead of a response (for a steer:
    ``response.steer.failed`` with these fields)."""
    drop_after: int | None = None
    """Close the connection after this many events of the response."""
    tool_call: bool | None = None
    """Answer with a function call (None: when tools are offered and no tool output is given)."""


class FakeOpenAIWebSocket:
    """The server, on a free loopback port, answering from a daemon thread."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._replies: queue.SimpleQueue[WsReply] = queue.SimpleQueue()
        self._responses = 0
        self._server = serve(self._serve, "127.0.0.1", 0)
        port = self._server.socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self.port = port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def reply(self, *replies: WsReply) -> None:
        """Answer the next ``response.create`` events with these, in order."""
        for reply in replies:
            self._replies.put(reply)

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(5)

    def _serve(self, connection: ServerConnection) -> None:
        for message in connection:
            event = json.loads(message)
            self.received.append(event)
            kind = event.get("type")
            if kind == "response.create" and not self._answer(connection, event):
                return
            if kind == "response.steer":
                self._steered(connection, event)

    def _answer(self, connection: ServerConnection, request: dict[str, Any]) -> bool:
        """Send one response's events; False when the connection was dropped."""
        try:
            reply = self._replies.get_nowait()
        except queue.Empty:
            reply = WsReply()
        lane = {"stream_id": request["stream_id"]} if request.get("stream_id") else {}
        if reply.error is not None:
            connection.send(json.dumps({"type": "error", "error": reply.error, **lane}))
            return True
        tool_call = reply.tool_call
        if tool_call is None:
            tool_call = bool(request.get("tools")) and not _has_tool_output(request.get("input"))
        self._responses += 1
        response_id = f"resp_ws_{self._responses}"
        done = reply.final == "response.done"  # the older final event, of a completed response
        events = response_events(
            model=request.get("model", "gpt-4o-mini"),
            tool_call=tool_call,
            final="response.completed" if done else reply.final,
        )
        if done:
            events[-1]["type"] = "response.done"
        for index, event in enumerate(events):
            if reply.drop_after is not None and index == reply.drop_after:
                connection.close()
                return False
            if "response" in event:
                event["response"] = {**event["response"], "id": response_id}
            connection.send(json.dumps({**event, **lane}))
        return True

    def _steered(self, connection: ServerConnection, steer: dict[str, Any]) -> None:
        """Accept the input, then start the successor by itself (what OpenAI does after a
        completed response), or refuse it when the next reply is an error."""
        try:
            reply = self._replies.get_nowait()
        except queue.Empty:
            reply = WsReply()
        if reply.error is not None:
            failed = {"type": "response.steer.failed", "input": steer.get("input"), **reply.error}
            connection.send(json.dumps(failed))
            return
        connection.send(json.dumps({"type": "response.steer.accepted", "sequence_number": 0}))
        self._replies.put(reply)  # the successor answers as a response.create would
        successor = {"model": "gpt-4o-mini", "previous_response_id": steer["previous_response_id"]}
        self._answer(connection, successor)


def _has_tool_output(items: object) -> bool:
    return isinstance(items, list) and any(
        isinstance(item, dict) and item.get("type") == "function_call_output" for item in items
    )


def client(server: FakeOpenAIWebSocket, asynchronous: bool = False) -> Any:
    """An ``OpenAI`` (or ``AsyncOpenAI``) client whose ``responses.connect()`` reaches it."""
    import openai

    cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
    return cls(base_url=server.base_url, api_key=API_KEY, max_retries=0)
