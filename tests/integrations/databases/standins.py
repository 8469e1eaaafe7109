"""Local stand-ins for Weaviate's and Pinecone's REST APIs (the subset vectro speaks), for tests.

Neither database runs on this machine. Each stand-in keeps objects in memory, answers in the
services' JSON shapes (as documented: Weaviate /v1 schema, batch, objects, GraphQL; Pinecone
control plane /indexes and data plane upsert/query/fetch/list/describe_index_stats), validates
what the real service validates for these calls (dimensions, flat metadata, named vectors), and
searches exactly with NumPy using each service's distance definitions.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, status: int, body=None):
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def _route(self, method):
        url = urlparse(self.path)
        with self.server.lock:
            status, body = self.server.app.handle(method, url.path, parse_qs(url.query), self._body(), self.headers)
        self._send(status, body)

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def do_DELETE(self):
        self._route("DELETE")


class StandIn:
    """Runs an app's `handle` behind a real HTTP server on 127.0.0.1 and a free port."""

    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.app, self.server.lock = self, threading.Lock()
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _distances(metric: str, query: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    if metric == "cosine":
        return 1 - (vectors @ query) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query) + 1e-30)
    if metric in ("dot", "dotproduct"):
        return -(vectors @ query)
    return np.sum((vectors - query) ** 2, axis=1)


class Weaviate(StandIn):
    """Weaviate /v1: schema, batch objects, object listing with cursors, GraphQL Aggregate and nearVector."""

    def __init__(self):
        self.classes: dict[str, dict] = {}
        super().__init__()

    def handle(self, method, path, query, body, headers):
        parts = path.strip("/").split("/")
        if parts[:2] == ["v1", "schema"]:
            if method == "POST":
                if body["class"] in self.classes:
                    return 422, {"error": [{"message": f"class name {body['class']!r} already exists"}]}
                self.classes[body["class"]] = {"schema": body, "objects": {}}
                return 200, body
            if parts[2] not in self.classes:
                return 404, None
            if method == "DELETE":
                del self.classes[parts[2]]
                return 200, None
            return 200, self.classes[parts[2]]["schema"]
        if path == "/v1/batch/objects":
            return 200, [self._put(o) for o in body["objects"]]
        if parts[:2] == ["v1", "objects"] and len(parts) == 4:
            found = self.classes.get(parts[2], {}).get("objects", {}).get(parts[3])
            return (200, found) if found else (404, None)
        if path == "/v1/objects":
            objects = self.classes[query["class"][0]]["objects"]
            after = query.get("after", [""])[0]
            keys = sorted(k for k in objects if k > after)[: int(query["limit"][0])]
            return 200, {"objects": [objects[k] for k in keys]}
        if path == "/v1/graphql":
            return 200, self._graphql(body["query"])
        return 404, {"error": [{"message": f"no route {method} {path}"}]}

    def _put(self, obj):
        cls = self.classes.get(obj["class"])
        if cls is None:
            return {"id": obj["id"], "result": {"errors": {"error": [{"message": "class not found"}]}}}
        named = cls["schema"]["vectorConfig"]
        if set(obj.get("vectors", {})) - set(named):
            return {"id": obj["id"], "result": {"errors": {"error": [{"message": "unknown named vector"}]}}}
        cls["objects"][obj["id"]] = obj
        return {"id": obj["id"], "result": {}}

    def _graphql(self, text):
        count = re.fullmatch(r"\{Aggregate\{(\w+)\{meta\{count\}\}\}\}", text)
        if count:
            return {"data": {"Aggregate": {count[1]: [{"meta": {"count": len(self.classes[count[1]]["objects"])}}]}}}
        near = re.fullmatch(r'\{Get\{(\w+)\(nearVector:\{vector:(\[[^\]]*\]), targetVectors:\["(\w+)"\]\}, '
                            r'limit:(\d+)\)\{vectro_id _additional\{distance\}\}\}\}', text)
        cls = self.classes[near[1]]
        target, k = near[3], int(near[4])
        objects = list(cls["objects"].values())
        vectors = np.array([o["vectors"][target] for o in objects], dtype=np.float64)
        metric = cls["schema"]["vectorConfig"][target]["vectorIndexConfig"]["distance"]
        distances = _distances(metric, np.array(json.loads(near[2])), vectors)
        order = np.argsort(distances, kind="stable")[:k]
        rows = [{"vectro_id": objects[i]["properties"]["vectro_id"], "_additional": {"distance": float(distances[i])}}
                for i in order]
        return {"data": {"Get": {near[1]: rows}}}


class Pinecone(StandIn):
    """Pinecone control plane (/indexes) and data plane (served under /data/<index>)."""

    def __init__(self):
        self.indexes: dict[str, dict] = {}
        super().__init__()

    def handle(self, method, path, query, body, headers):
        if headers.get("Api-Key") is None:
            return 401, {"error": {"code": "UNAUTHENTICATED", "message": "missing Api-Key"}}
        parts = path.strip("/").split("/")
        if parts[0] == "indexes":
            if method == "POST":
                if body["name"] in self.indexes:
                    return 409, {"error": {"code": "ALREADY_EXISTS", "message": "index exists"}}
                self.indexes[body["name"]] = {**body, "host": f"127.0.0.1:{self.port}/data/{body['name']}",
                                              "status": {"ready": True, "state": "Ready"}, "vectors": {}}
                return 201, self._public(body["name"])
            if parts[1] not in self.indexes:
                return 404, {"error": {"code": "NOT_FOUND", "message": "index not found"}}
            if method == "DELETE":
                del self.indexes[parts[1]]
                return 202, None
            return 200, self._public(parts[1])
        index = self.indexes[parts[1]]
        op = "/" + "/".join(parts[2:])
        namespace = (body or {}).get("namespace", query.get("namespace", [""])[0])
        space = index["vectors"].setdefault(namespace, {})
        if op == "/vectors/upsert":
            if len(body["vectors"]) > 1000:
                return 400, {"error": {"code": "INVALID_ARGUMENT", "message": "at most 1000 vectors per upsert"}}
            for row in body["vectors"]:
                if len(row["values"]) != index["dimension"]:
                    return 400, {"error": {"code": "INVALID_ARGUMENT", "message": "dimension mismatch"}}
                if any(isinstance(v, dict) for v in (row.get("metadata") or {}).values()):
                    return 400, {"error": {"code": "INVALID_ARGUMENT", "message": "metadata must be flat"}}
                space[row["id"]] = row
            return 200, {"upsertedCount": len(body["vectors"])}
        if op == "/describe_index_stats":
            return 200, {"dimension": index["dimension"],
                         "namespaces": {ns: {"vectorCount": len(v)} for ns, v in index["vectors"].items() if v}}
        if op == "/vectors/fetch":
            return 200, {"vectors": {i: space[i] for i in query.get("ids", []) if i in space}, "namespace": namespace}
        if op == "/vectors/list":
            after = query.get("paginationToken", [""])[0]
            ids = sorted(i for i in space if i > after)[: int(query["limit"][0])]
            more = ids and any(i > ids[-1] for i in space)
            return 200, {"vectors": [{"id": i} for i in ids], "pagination": {"next": ids[-1]} if more else None}
        if op == "/query":
            ids = list(space)
            vectors = np.array([space[i]["values"] for i in ids], dtype=np.float64)
            distances = _distances(index["metric"], np.array(body["vector"]), vectors)
            order = np.argsort(distances, kind="stable")[: body["topK"]]
            # Pinecone's score: cosine similarity, dot product, or squared euclidean distance
            score = {"cosine": lambda d: 1 - d, "dotproduct": lambda d: -d}.get(index["metric"], lambda d: d)
            return 200, {"matches": [{"id": ids[i], "score": float(score(distances[i]))} for i in order],
                         "namespace": namespace}
        return 404, {"error": {"code": "NOT_FOUND", "message": f"no route {method} {path}"}}

    def _public(self, name):
        return {k: v for k, v in self.indexes[name].items() if k != "vectors"}
