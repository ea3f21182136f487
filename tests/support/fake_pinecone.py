"""A loopback fake of a Pinecone index's data-plane REST API, holding vectors in memory.

Serves ``POST /vectors/upsert``, ``POST /query`` (dot-product scores, best first),
``GET /vectors/fetch?ids=…`` and ``POST /vectors/delete``, per namespace, in the JSON shapes the
``pinecone`` SDK decodes. A path under ``/status/<code>`` answers that HTTP status with
Pinecone's error body, so a client built on ``url("/status/404")`` sees an API error.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.loopback import Exchange, LoopbackServer, ReceivedRequest


class FakePinecone(LoopbackServer):
    """One index: ``namespaces[namespace][id] = {"id", "values", "metadata"?}``."""

    def __init__(self) -> None:
        super().__init__()
        self.namespaces: dict[str, dict[str, dict[str, Any]]] = {}
        self._data_lock = threading.Lock()

    def clear(self) -> None:
        with self._data_lock:
            self.namespaces.clear()
        super().clear()

    def answer(self, exchange: Exchange, request: ReceivedRequest) -> None:
        url = urlsplit(request.path)
        path = url.path
        if path.startswith("/status/"):
            status = int(path.split("/")[2])
            exchange.send_json(status, {"code": 5, "message": "fake error", "details": []})
            return
        body = request.body if isinstance(request.body, dict) else {}
        with self._data_lock:
            namespace = self.namespaces.setdefault(body.get("namespace") or "", {})
            if path == "/vectors/upsert":
                for vector in body["vectors"]:
                    namespace[vector["id"]] = vector
                exchange.send_json(200, {"upsertedCount": len(body["vectors"])})
            elif path == "/query":
                exchange.send_json(200, _query(namespace, body))
            elif path == "/vectors/fetch":
                query = parse_qs(url.query)
                namespace = self.namespaces.get((query.get("namespace") or [""])[0], {})
                found = {i: namespace[i] for i in query.get("ids", []) if i in namespace}
                exchange.send_json(
                    200, {"vectors": found, "namespace": "", "usage": {"readUnits": 1}}
                )
            elif path == "/vectors/delete":
                if body.get("deleteAll"):
                    namespace.clear()
                for vector_id in body.get("ids") or []:
                    namespace.pop(vector_id, None)
                exchange.send_json(200, {})
            else:
                exchange.send_json(404, {"code": 5, "message": f"no route {path}", "details": []})


def _query(namespace: dict[str, dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    vector = body.get("vector") or namespace.get(body.get("id", ""), {}).get("values") or []
    scored = sorted(
        (
            (sum(a * b for a, b in zip(vector, stored.get("values", []), strict=False)), stored)
            for stored in namespace.values()
        ),
        key=lambda pair: -pair[0],
    )[: int(body.get("topK", 10))]
    matches = []
    for score, stored in scored:
        match: dict[str, Any] = {"id": stored["id"], "score": score}
        if body.get("includeValues"):
            match["values"] = stored.get("values", [])
        if body.get("includeMetadata") and stored.get("metadata") is not None:
            match["metadata"] = stored["metadata"]
        matches.append(match)
    return {"matches": matches, "namespace": body.get("namespace") or "", "usage": {"readUnits": 5}}
