"""A loopback fake of the Qdrant REST API, for the qdrant_client tests of a remote client.

Answers what a client in remote mode sends: the version probe (``GET /``), point queries
(``POST /collections/<name>/points/query``, three scored points with a ``text`` payload),
upserts and deletes (``PUT`` / ``POST /collections/<name>/points[/delete]``). The collection
``missing`` answers 404 as Qdrant does. Every request is recorded.
"""

from __future__ import annotations

from tests.support.loopback import Exchange, LoopbackServer, ReceivedRequest

POINTS = [
    {"id": 1, "version": 0, "score": 0.9, "payload": {"text": "Paris is the capital."}},
    {"id": 2, "version": 0, "score": 0.5, "payload": {"text": "Lyon has silk."}},
    {"id": 3, "version": 0, "score": 0.1, "payload": {"text": "Nice has a beach."}},
]


class FakeQdrant(LoopbackServer):
    """The server, on a free loopback port."""

    def __init__(self) -> None:
        super().__init__()
        self.url = self.origin

    def answer(self, exchange: Exchange, request: ReceivedRequest) -> None:
        path = request.path.split("?", 1)[0].strip("/").split("/")
        if path == [""]:
            exchange.send_json(200, {"title": "qdrant - vector search engine", "version": "1.12.0"})
            return
        if len(path) >= 2 and path[0] == "collections" and path[1] == "missing":
            error = {"error": "Not found: Collection `missing` doesn't exist!"}
            exchange.send_json(404, {"status": error, "time": 0.0})
            return
        if path[-2:] == ["points", "query"]:
            limit = int((request.body or {}).get("limit") or 10)
            result: object = {"points": POINTS[:limit]}
        elif path[-1] in ("points", "delete"):
            result = {"operation_id": 1, "status": "completed"}
        else:
            exchange.send_json(404, {"status": {"error": f"no route {request.path}"}, "time": 0})
            return
        exchange.send_json(200, {"result": result, "status": "ok", "time": 0.001})
