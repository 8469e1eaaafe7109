"""Pinecone over its REST API: upsert batches into an index, query it, list and fetch it back;
and `write_bulk_import`, the Parquet layout of Pinecone's bulk import.

    from vectro.integrations.databases import pinecone
    pinecone.export(packed, "pinecone://api.pinecone.io", "docs")   # PINECONE_API_KEY from the environment
    ids, scores = pinecone.search("pinecone://api.pinecone.io", "docs", queries, k=10)
    pinecone.write_bulk_import(packed, "out/")                     # out/<namespace>/part-00000.parquet

Targets: `pinecone://CONTROL_HOST` (https; api.pinecone.io for Pinecone's cloud) or
`pinecone+http://HOST:PORT` (e.g. Pinecone Local). The control plane creates and describes the
index (serverless spec from PINECONE_CLOUD / PINECONE_REGION, default aws / us-east-1); the data
plane at the index's host takes `/vectors/upsert`, `/query`, `/vectors/fetch`, `/vectors/list`
and `/describe_index_stats`. Pinecone has no quantisation setting: vectors go in decoded
(float32) and the index's tags record the vectro codec for `import_`. Ids are strings (int ids are
written as decimal text); metadata must be flat, as Pinecone's is. No Pinecone runs on this machine:
the tests run against a local stand-in of this REST subset.
"""

from __future__ import annotations

import json
import os
import re
import time
from urllib.parse import urlencode

import numpy as np

from ...errors import VectroError, require
from . import _common
from ._common import Adapter, Records
from ._http import Http

METRICS = {"cosine": "cosine", "ip": "dotproduct", "l2": "euclidean"}
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,44}$")
API_VERSION = "2025-04"


class PineconeAdapter(Adapter):
    def __init__(self, control: Http, collection: str, namespace: str = ""):
        self.control, self.collection, self.namespace = control, collection, namespace
        self._data = None

    def _describe(self) -> dict | None:
        return self.control("GET", f"/indexes/{self.collection}", missing_ok=True)

    @property
    def data(self) -> Http:
        if self._data is None:
            host = self._describe()["host"]
            scheme = "" if "://" in host else self.control.base.split("://")[0] + "://"
            self._data = Http(scheme + host, self.control.headers)
        return self._data

    def _meta(self) -> dict:
        tags = (self._describe() or {}).get("tags") or {}
        if "vectro_codec" not in tags:
            raise VectroError(f"Pinecone index {self.collection!r} was not written by vectro (no vectro tags)")
        return {"codec": tags["vectro_codec"], "metric": tags["vectro_metric"], "id_kind": tags["vectro_id_kind"]}

    def exists(self) -> bool:
        return self._describe() is not None

    def create(self, records: Records) -> None:
        spec = {"serverless": {"cloud": os.environ.get("PINECONE_CLOUD", "aws"),
                               "region": os.environ.get("PINECONE_REGION", "us-east-1")}}
        tags = {"vectro_codec": records.codec.spec if records.codec else "float32",
                "vectro_metric": records.metric, "vectro_id_kind": records.id_kind}
        self.control("POST", "/indexes", {"name": self.collection, "dimension": records.dim,
                                          "metric": METRICS[records.metric], "spec": spec, "tags": tags})
        for _ in range(600):  # an index takes a moment to become ready
            if ((self._describe() or {}).get("status") or {}).get("ready"):
                return
            time.sleep(0.5)
        raise VectroError(f"Pinecone index {self.collection!r} did not become ready")

    def drop(self) -> None:
        self.control("DELETE", f"/indexes/{self.collection}")
        self._data = None

    def dim(self) -> int:
        return int(self._describe()["dimension"])

    def count(self) -> int:
        stats = self.data("POST", "/describe_index_stats", {})
        return int(((stats.get("namespaces") or {}).get(self.namespace) or {}).get("vectorCount", 0))

    def _fetch(self, ids: list) -> dict:
        query = urlencode([("namespace", self.namespace)] + [("ids", i) for i in ids])
        return self.data("GET", f"/vectors/fetch?{query}")["vectors"] or {}

    def missing(self, ids: np.ndarray) -> list:
        found = {}
        for part in _common.chunks(ids.tolist(), 100):
            found.update(self._fetch([str(i) for i in part]))
        return [i for i in ids.tolist() if str(i) not in found]

    def write(self, ids, vectors, payloads) -> None:
        rows = []
        for i, v, p in zip(ids.tolist(), vectors.tolist(), payloads):
            row = {"id": str(i), "values": v}
            if _common.flat_metadata(p, "Pinecone") is not None:
                row["metadata"] = p
            rows.append(row)
        for part in _common.chunks(rows, 1000):  # Pinecone takes at most 1000 vectors (2 MB) a request
            self.data("POST", "/vectors/upsert", {"vectors": part, "namespace": self.namespace})

    def _ids_in(self, raw: list, kind: str) -> np.ndarray:
        return np.array(raw, dtype=object) if kind == "str" else np.array([int(i) for i in raw], dtype=np.int64)

    def read(self, batch_size: int):
        kind = self._meta()["id_kind"]
        token = None
        while True:
            query = [("namespace", self.namespace), ("limit", min(batch_size, 100))]
            page = self.data("GET", "/vectors/list?" + urlencode(query + ([("paginationToken", token)] if token else [])))
            listed = [v["id"] for v in page.get("vectors") or []]
            if listed:
                fetched = self._fetch(listed)
                yield (self._ids_in(listed, kind), np.array([fetched[i]["values"] for i in listed], dtype=np.float32),
                       [fetched[i].get("metadata") for i in listed])
            token = (page.get("pagination") or {}).get("next")
            if not token:
                return


    def search(self, queries: np.ndarray, k: int) -> list:
        meta = self._meta()
        hits = []
        for q in queries.tolist():
            answer = self.data("POST", "/query", {"vector": q, "topK": k, "namespace": self.namespace,
                                                  "includeValues": False, "includeMetadata": False})
            ids = self._ids_in([m["id"] for m in answer["matches"]], meta["id_kind"]).tolist()
            # cosine and dotproduct scores are similarities; euclidean is the squared distance
            scores = [m["score"] if meta["metric"] != "l2" else -m["score"] for m in answer["matches"]]
            hits.append(list(zip(ids, scores)))
        return hits


def connect(target, collection: str, namespace: str = "") -> PineconeAdapter:
    """The adapter for pinecone://CONTROL_HOST or pinecone+http://HOST:PORT."""
    if not isinstance(collection, str) or not NAME.match(collection):
        raise VectroError(f"Pinecone index names are lower-case letters, digits and -, at most 45; got {collection!r}")
    scheme, _, rest = str(target).partition("://")
    if scheme not in ("pinecone", "pinecone+http", "pinecone+https"):
        raise VectroError(f"not a Pinecone target: {target!r}; use pinecone://api.pinecone.io or pinecone+http://HOST:PORT")
    headers = {"Api-Key": os.environ.get("PINECONE_API_KEY", ""), "X-Pinecone-API-Version": API_VERSION}
    base = ("http://" if scheme == "pinecone+http" else "https://") + rest
    return PineconeAdapter(Http(base, headers), collection, namespace)


def export(data, target, collection: str, *, ids=None, payloads=None, metric: str | None = None,
           batch_size: int = 1000, if_exists: str = "resume", progress=None, namespace: str = "") -> dict:
    """Upsert vectro data (decoded, float32) into a Pinecone index in batches; resumable."""
    records = _common.as_records(data, ids, payloads, metric)
    return _common.run_export(connect(target, collection, namespace), records, batch_size, if_exists, progress)


def import_(source, collection: str, *, out: str = "index", codec=None, batch_size: int = 100, progress=None,
            namespace: str = ""):
    """Read a Pinecone index back (list, then fetch): a vectro.Index or a Compressed ordered by id."""
    return _common.run_import(connect(source, collection, namespace), out, codec, batch_size, progress)


def search(target, collection: str, queries, k: int = 10, namespace: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Query through Pinecone; (ids, scores), each (nq, k), higher better."""
    return _common.run_search(connect(target, collection, namespace), queries, k)


def write_bulk_import(data, folder, *, ids=None, payloads=None, namespace: str = "", rows_per_file: int = 100_000,
                      progress=None) -> list:
    """Write vectro data in the Parquet layout of Pinecone's bulk import: FOLDER/NAMESPACE/part-NNNNN.parquet
    with columns id (string), values (list<float32>) and metadata (JSON string). Returns the files."""
    from pathlib import Path

    pa = require("pyarrow", "parquet")
    parquet = require("pyarrow.parquet", "parquet")
    records = _common.as_records(data, ids, payloads)
    target = Path(folder) / (namespace or "__default__")
    target.mkdir(parents=True, exist_ok=True)
    files = []
    for number, start in enumerate(range(0, len(records), rows_per_file)):
        stop = min(start + rows_per_file, len(records))
        vectors = records.vectors(start, stop)
        table = pa.table({
            "id": pa.array([str(i) for i in records.ids[start:stop].tolist()], pa.string()),
            "values": pa.array(list(vectors), pa.list_(pa.float32())),
            "metadata": pa.array([None if p is None else json.dumps(_common.flat_metadata(p, "Pinecone"))
                                  for p in records.payload_slice(start, stop)], pa.string())})
        path = target / f"part-{number:05d}.parquet"
        tmp = path.with_suffix(".parquet.tmp")
        parquet.write_table(table, tmp)
        tmp.replace(path)  # whole files only: a rerun rewrites, never leaves half a file
        files.append(path)
        if progress:
            progress(stop, len(records))
    return files
