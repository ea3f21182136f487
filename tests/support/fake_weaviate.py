"""A loopback fake of a Weaviate server for the v4 client: its REST API (``/v1/meta``, all the
client asks of it when connecting with ``skip_init_checks=True``, and ``POST /v1/objects``, a
single insert) and its gRPC service
``weaviate.v1.Weaviate`` (``Search``, ``BatchObjects``, ``BatchDelete``), built on the protobuf
stubs the client ships, holding objects in memory.

Searches rank for real: ``near_vector`` by squared L2 distance, ``near_text`` / ``bm25`` /
``hybrid`` by how many query words an object's text properties hold (``near_text`` reports that
as a distance, the others as a score). A search or write on the collection ``Missing`` fails with
gRPC ``NOT_FOUND``, as Weaviate answers for a collection it does not have.
"""

from __future__ import annotations

import struct
import threading
import uuid
from concurrent import futures
from typing import Any

import grpc
from weaviate.proto.v1 import (
    batch_delete_pb2,
    batch_pb2,
    properties_pb2,
    search_get_pb2,
    weaviate_pb2_grpc,
)

from tests.support.loopback import Exchange, LoopbackServer, ReceivedRequest

VERSION = "1.32.0"
MISSING = "Missing"


class FakeWeaviate(LoopbackServer):
    """REST on ``port``, gRPC on ``grpc_port``; ``collections[name]`` holds the objects."""

    def __init__(self) -> None:
        super().__init__()
        self.collections: dict[str, list[dict[str, Any]]] = {}
        self.grpc_calls: list[str] = []
        self._data_lock = threading.Lock()
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        weaviate_pb2_grpc.add_WeaviateServicer_to_server(_Service(self), self._grpc)
        self.grpc_port = self._grpc.add_insecure_port("127.0.0.1:0")
        self._grpc.start()

    def clear(self) -> None:
        with self._data_lock:
            self.collections.clear()
            self.grpc_calls.clear()
        super().clear()

    def close(self) -> None:
        self._grpc.stop(None)
        super().close()

    def answer(self, exchange: Exchange, request: ReceivedRequest) -> None:
        if request.path.startswith("/v1/meta"):
            exchange.send_json(200, {"version": VERSION, "modules": {}, "hostname": "fake"})
        elif request.path.startswith("/v1/.well-known/"):
            exchange.send_body(200, b"")
        elif request.method == "POST" and request.path.startswith("/v1/objects"):
            sent = request.json  # data.insert: one object over REST
            made = {
                "uuid": sent.get("id") or str(uuid.uuid4()),
                "properties": sent.get("properties") or {},
                "vector": sent.get("vector") or [],
            }
            with self._data_lock:
                self.collections.setdefault(sent["class"], []).append(made)
            exchange.send_json(200, {**sent, "id": made["uuid"]})
        else:
            exchange.send_json(404, {"error": [{"message": f"no route {request.path}"}]})

    def add(self, collection: str, text: str, vector: list[float]) -> str:
        """Store an object directly (no request); its uuid."""
        made = {"uuid": str(uuid.uuid4()), "properties": {"text": text}, "vector": vector}
        with self._data_lock:
            self.collections.setdefault(collection, []).append(made)
        return made["uuid"]


class _Service(weaviate_pb2_grpc.WeaviateServicer):
    def __init__(self, fake: FakeWeaviate) -> None:
        self.fake = fake

    def Search(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.fake.grpc_calls.append("Search")
        if request.collection == MISSING:
            context.abort(grpc.StatusCode.NOT_FOUND, f"class {MISSING} not found")
        with self.fake._data_lock:
            objects = list(self.fake.collections.get(request.collection, []))
        ranked = _rank(request, objects)[: request.limit or 10]
        reply = search_get_pb2.SearchReply(took=0.001)
        for measure, kind, found in ranked:
            metadata = search_get_pb2.MetadataResult(
                id=found["uuid"], id_as_bytes=uuid.UUID(found["uuid"]).bytes
            )
            if kind == "distance":
                metadata.distance, metadata.distance_present = measure, True
            else:
                metadata.score, metadata.score_present = measure, True
            fields = {
                name: properties_pb2.Value(text_value=value)
                for name, value in found["properties"].items()
            }
            properties = search_get_pb2.PropertiesResult(
                non_ref_props=properties_pb2.Properties(fields=fields),
                target_collection=request.collection,
            )
            reply.results.append(
                search_get_pb2.SearchResult(metadata=metadata, properties=properties)
            )
        return reply

    def BatchObjects(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.fake.grpc_calls.append("BatchObjects")
        reply = batch_pb2.BatchObjectsReply(took=0.001)
        with self.fake._data_lock:
            for index, sent in enumerate(request.objects):
                if sent.collection == MISSING:
                    error = f"class {MISSING} not found"
                    reply.errors.append(
                        batch_pb2.BatchObjectsReply.BatchError(index=index, error=error)
                    )
                    continue
                fields = sent.properties.non_ref_properties.fields
                properties = {name: value.string_value for name, value in fields.items()}
                stored = {"uuid": sent.uuid, "properties": properties, "vector": _floats(sent)}
                self.fake.collections.setdefault(sent.collection, []).append(stored)
        return reply

    def BatchDelete(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.fake.grpc_calls.append("BatchDelete")
        with self.fake._data_lock:
            objects = self.fake.collections.get(request.collection, [])
            deleted = len(objects)
            objects.clear()
        return batch_delete_pb2.BatchDeleteReply(took=0.001, matches=deleted, successful=deleted)


def _floats(sent: Any) -> list[float]:
    data = sent.vector_bytes or (sent.vectors[0].vector_bytes if sent.vectors else b"")
    return list(struct.unpack(f"<{len(data) // 4}f", data)) if data else list(sent.vector)


def _rank(request: Any, objects: list[dict[str, Any]]) -> list[tuple[float, str, dict[str, Any]]]:
    if request.HasField("near_vector"):
        near = request.near_vector
        data = near.vectors[0].vector_bytes if near.vectors else near.vector_bytes
        query = struct.unpack(f"<{len(data) // 4}f", data)
        scored = [
            (sum((a - b) ** 2 for a, b in zip(query, o["vector"], strict=False)), o)
            for o in objects
        ]
        return [(distance, "distance", o) for distance, o in sorted(scored, key=lambda p: p[0])]
    if request.HasField("near_text"):
        words, kind = " ".join(request.near_text.query).lower().split(), "distance"
    elif request.HasField("bm25_search"):
        words, kind = request.bm25_search.query.lower().split(), "score"
    else:
        words, kind = request.hybrid_search.query.lower().split(), "score"
    hits = [
        (sum(" ".join(o["properties"].values()).lower().count(word) for word in words), o)
        for o in objects
    ]
    hits.sort(key=lambda pair: -pair[0])
    if kind == "distance":
        return [(1.0 / (1 + count), kind, o) for count, o in hits]
    return [(float(count), kind, o) for count, o in hits]
