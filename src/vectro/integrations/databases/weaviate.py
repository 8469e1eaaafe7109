"""Weaviate over its REST API: a class with one named vector compressed the Weaviate way.

    from vectro.integrations.databases import weaviate
    weaviate.export(packed, "weaviate://localhost:8080", "Docs")
    ids, scores = weaviate.search("weaviate://localhost:8080", "Docs", queries, k=10)

Targets: `weaviate://HOST:PORT` (http) or `weaviate+https://HOST`; WEAVIATE_API_KEY is sent as a
bearer token when set. This speaks Weaviate's REST API with the standard library (schema,
`/v1/batch/objects`, `/v1/objects` listing, GraphQL `Aggregate` and `nearVector`) rather than
weaviate-client, whose pinned grpcio/protobuf versions clash with the other database clients.
The class has one named vector, `vectro`, whose HNSW index gets the compression matching the
codec (`compression_for`): int8-like -> SQ, binary -> BQ, pq:M -> PQ with M segments, rq:1 / rq:8
-> RQ of those bits, floats -> none. Objects get uuid5 ids; the vectro id and the payload (JSON
text) are properties. The class description records the vectro codec for `import_`.
No Weaviate runs on this machine: the tests run against a local stand-in of this REST subset.
"""

from __future__ import annotations

import json
import os
import re
import uuid

import numpy as np

from ...codecs.base import Codec, make_codec
from ...errors import VectroError
from . import _common
from ._common import Adapter, Records
from ._http import Http

VECTOR = "vectro"
DISTANCES = {"cosine": "cosine", "ip": "dot", "l2": "l2-squared"}
NAME = re.compile(r"^[A-Z][A-Za-z0-9_]{0,254}$")


def compression_for(codec: Codec | str | None) -> dict:
    """Weaviate's HNSW compression settings for a vectro codec ({} when the vectors stay float)."""
    codec = make_codec(codec) if isinstance(codec, str) else codec
    stage = getattr(codec, "quantiser", codec) if codec is not None else None
    name = stage.name if stage is not None else "float32"
    if name in ("float32", "float16", "bf16", "int16"):
        return {}
    if name == "binary":
        return {"bq": {"enabled": True}}
    if name in ("pq", "opq"):
        return {"pq": {"enabled": True, "segments": stage.subquantizers, "centroids": 2 ** stage.bits}}
    if name == "rq" and stage.bits in (1, 8):
        return {"rq": {"enabled": True, "bits": stage.bits}}
    return {"sq": {"enabled": True}}


def object_id(record_id) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"vectro:{type(record_id).__name__}:{record_id}"))


class WeaviateAdapter(Adapter):
    def __init__(self, http: Http, collection: str):
        self.http, self.collection = http, collection

    def _class(self) -> dict | None:
        return self.http("GET", f"/v1/schema/{self.collection}", missing_ok=True)

    def _meta(self) -> dict:
        described = self._class() or {}
        try:
            return json.loads(described.get("description", ""))["vectro"]
        except (ValueError, KeyError) as exc:
            raise VectroError(f"Weaviate class {self.collection!r} was not written by vectro") from exc

    def exists(self) -> bool:
        return self._class() is not None

    def create(self, records: Records) -> None:
        meta = {"codec": records.codec.spec if records.codec else "float32", "metric": records.metric,
                "dim": records.dim, "id_kind": records.id_kind}
        index = {"distance": DISTANCES[records.metric], **compression_for(records.codec)}
        self.http("POST", "/v1/schema", {
            "class": self.collection, "description": json.dumps({"vectro": meta}),
            "vectorConfig": {VECTOR: {"vectorizer": {"none": {}}, "vectorIndexType": "hnsw", "vectorIndexConfig": index}},
            "properties": [{"name": "vectro_id", "dataType": ["text" if records.id_kind == "str" else "int"]},
                           {"name": "vectro_payload", "dataType": ["text"]}]})

    def drop(self) -> None:
        self.http("DELETE", f"/v1/schema/{self.collection}")

    def count(self) -> int:
        answer = self.http("POST", "/v1/graphql", {"query": f"{{Aggregate{{{self.collection}{{meta{{count}}}}}}}}"})
        return int(answer["data"]["Aggregate"][self.collection][0]["meta"]["count"])

    def missing(self, ids: np.ndarray) -> list:
        return [i for i in ids.tolist()
                if self.http("GET", f"/v1/objects/{self.collection}/{object_id(i)}", missing_ok=True) is None]

    def write(self, ids, vectors, payloads) -> None:
        objects = [{"class": self.collection, "id": object_id(i), "vectors": {VECTOR: v},
                    "properties": {"vectro_id": i, "vectro_payload": None if p is None else json.dumps(p)}}
                   for i, v, p in zip(ids.tolist(), vectors.tolist(), payloads)]
        answers = self.http("POST", "/v1/batch/objects", {"objects": objects})
        errors = [a["result"]["errors"] for a in answers or [] if (a.get("result") or {}).get("errors")]
        if errors:
            raise VectroError(f"Weaviate refused {len(errors)} objects of the batch; first: {errors[0]}")

    def read(self, batch_size: int):
        kind = object if self._meta()["id_kind"] == "str" else np.int64
        after = None
        while True:
            path = f"/v1/objects?class={self.collection}&limit={batch_size}&include=vector"
            got = self.http("GET", path + (f"&after={after}" if after else ""))["objects"] or []
            if not got:
                return
            payloads = [o["properties"].get("vectro_payload") for o in got]
            yield (np.array([o["properties"]["vectro_id"] for o in got], dtype=kind),
                   np.array([o["vectors"][VECTOR] for o in got], dtype=np.float32),
                   [None if p is None else json.loads(p) for p in payloads])
            after = got[-1]["id"]


    def search(self, queries: np.ndarray, k: int) -> list:
        metric = self.stored_metric()
        hits = []
        for q in queries.tolist():
            query = (f"{{Get{{{self.collection}(nearVector:{{vector:{json.dumps(q)}, targetVectors:[\"{VECTOR}\"]}}, "
                     f"limit:{k}){{vectro_id _additional{{distance}}}}}}}}")
            rows = self.http("POST", "/v1/graphql", {"query": query})["data"]["Get"][self.collection]
            hits.append([(r["vectro_id"], _score(metric, r["_additional"]["distance"])) for r in rows])
        return hits


def _score(metric: str, distance: float) -> float:
    """Weaviate distance -> higher-is-better: cosine 1 - d, dot -d (Weaviate's dot distance is -x.y), l2 -d."""
    return 1.0 - distance if metric == "cosine" else -distance


def connect(target, collection: str) -> WeaviateAdapter:
    """The adapter for weaviate://HOST:PORT or weaviate+https://HOST."""
    if not isinstance(collection, str) or not NAME.match(collection):
        raise VectroError(f"Weaviate class names start with a capital letter, then letters, digits or _; got {collection!r}")
    scheme, _, rest = str(target).partition("://")
    if scheme not in ("weaviate", "weaviate+http", "weaviate+https"):
        raise VectroError(f"not a Weaviate target: {target!r}; use weaviate://HOST:PORT")
    key = os.environ.get("WEAVIATE_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return WeaviateAdapter(Http(("https://" if scheme == "weaviate+https" else "http://") + rest, headers), collection)


def export(data, target, collection: str, *, ids=None, payloads=None, metric: str | None = None,
           batch_size: int = 500, if_exists: str = "resume", progress=None) -> dict:
    """Batch-import vectro data into a Weaviate class compressed the way the codec maps; resumable."""
    records = _common.as_records(data, ids, payloads, metric)
    return _common.run_export(connect(target, collection), records, batch_size, if_exists, progress)


def import_(source, collection: str, *, out: str = "index", codec=None, batch_size: int = 500, progress=None):
    """Read a Weaviate class back: a vectro.Index (ids and payloads kept) or a Compressed ordered by id."""
    return _common.run_import(connect(source, collection), out, codec, batch_size, progress)


def search(target, collection: str, queries, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """nearVector search through Weaviate; (ids, scores), each (nq, k), higher better."""
    return _common.run_search(connect(target, collection), queries, k)