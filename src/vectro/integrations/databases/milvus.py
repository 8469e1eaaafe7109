"""Milvus (and Milvus Lite): a collection with the Milvus index type that matches the vectro codec.

    from vectro.integrations.databases import milvus
    milvus.export(packed, "milvus://./vectors.db", "docs")        # Milvus Lite, a local file
    ids, scores = milvus.search("milvus://./vectors.db", "docs", queries, k=10)

Targets: `milvus://FILE.db` (Milvus Lite, in-process), `milvus+http://HOST:PORT` or
`milvus+https://...` (a Milvus server; MILVUS_TOKEN is sent when set), or a `MilvusClient` object.
`index_for` maps the codec to Milvus's own quantised indexes: int8-like codecs -> IVF_SQ8, pq:M ->
IVF_PQ (m=M), rq:B -> IVF_RABITQ (RaBitQ, rotation + 1-bit codes; refined with SQ8 above 1 bit),
binary -> a BINARY_VECTOR field with BIN_IVF_FLAT and Hamming distance, float16/bf16 ->
FLOAT16/BFLOAT16_VECTOR fields with HNSW, float32 -> HNSW. Milvus Lite stores FLOAT_VECTOR fields
and builds HNSW, HNSW_SQ, IVF_FLAT and IVF_SQ8 only: there binary and float16 data go in as decoded
floats (IVF_FLAT / HNSW), pq and rq fall back to IVF_SQ8; int8 gets IVF_SQ8 as on a server. The collection property `vectro`
records the vectro codec for `import_`.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from ...codecs.base import Codec, make_codec
from ...errors import VectroError, require
from . import _common
from ._common import Adapter, Records, sign_bits, sign_vectors

EXTRA = "milvus"
METRICS = {"cosine": "COSINE", "ip": "IP", "l2": "L2"}


def index_for(codec: Codec | str | None, n: int, metric: str = "cosine", lite: bool = False) -> dict:
    """Milvus field type, index type, build params and search params for a vectro codec and n vectors."""
    codec = make_codec(codec) if isinstance(codec, str) else codec
    stage = getattr(codec, "quantiser", codec) if codec is not None else None
    name = stage.name if stage is not None else "float32"
    nlist = max(1, min(4096, int(4 * math.sqrt(max(n, 1)))))
    ivf = {"field": "FLOAT_VECTOR", "metric": METRICS[metric], "search": {"nprobe": max(8, nlist // 8)}}
    hnsw = {"field": "FLOAT_VECTOR", "metric": METRICS[metric], "index": "HNSW",
            "params": {"M": 16, "efConstruction": 100}, "search": {"ef": 64}}
    if name in ("float32", "int16"):
        return hnsw
    if name in ("float16", "bf16"):
        return hnsw if lite else {**hnsw, "field": "FLOAT16_VECTOR" if name == "float16" else "BFLOAT16_VECTOR"}
    if name == "binary":
        if lite:
            return {**ivf, "index": "IVF_FLAT", "params": {"nlist": nlist}}
        return {"field": "BINARY_VECTOR", "metric": "HAMMING", "index": "BIN_IVF_FLAT", "params": {"nlist": nlist},
                "search": ivf["search"]}
    if lite and name in ("pq", "opq", "rq"):  # Lite builds HNSW, HNSW_SQ, IVF_FLAT and IVF_SQ8 only
        return {**ivf, "index": "IVF_SQ8", "params": {"nlist": nlist}}
    if name in ("pq", "opq"):
        return {**ivf, "index": "IVF_PQ", "params": {"nlist": nlist, "m": stage.subquantizers, "nbits": stage.bits}}
    if name == "rq":
        refine = {} if stage.bits == 1 else {"refine": True, "refine_type": "SQ8"}
        return {**ivf, "index": "IVF_RABITQ", "params": {"nlist": nlist, **refine}}
    return {**ivf, "index": "IVF_SQ8", "params": {"nlist": nlist}}


class MilvusAdapter(Adapter):
    extra = EXTRA

    def __init__(self, client, collection: str, owned: bool, lite: bool):
        self.pymilvus = require("pymilvus", EXTRA)
        self.client, self.collection, self.owned, self.lite = client, collection, owned, lite

    def _meta(self) -> dict:
        properties = self.client.describe_collection(self.collection).get("properties") or {}
        try:
            return json.loads(properties["vectro"])
        except (ValueError, KeyError) as exc:
            raise VectroError(f"collection {self.collection!r} was not written by vectro") from exc

    def exists(self) -> bool:
        return self.client.has_collection(self.collection)

    def create(self, records: Records) -> None:
        DataType = self.pymilvus.DataType
        plan = index_for(records.codec, len(records), records.metric, self.lite)
        meta = {"codec": records.codec.spec if records.codec else "float32", "metric": records.metric,
                "dim": records.dim, "field": plan["field"], "search": plan["search"]}
        schema = self.pymilvus.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        if records.id_kind == "str":
            schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=1024)
        else:
            schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", getattr(DataType, plan["field"]), dim=records.dim)
        schema.add_field("payload", DataType.JSON, nullable=True)
        params = self.client.prepare_index_params()
        params.add_index(field_name="vector", index_type=plan["index"], metric_type=plan["metric"], params=plan["params"])
        self.client.create_collection(self.collection, schema=schema, index_params=params)
        self.client.alter_collection_properties(self.collection, properties={"vectro": json.dumps(meta)})

    def drop(self) -> None:
        self.client.drop_collection(self.collection)

    def count(self) -> int:
        return int(self.client.query(self.collection, filter="", output_fields=["count(*)"])[0]["count(*)"])

    def missing(self, ids: np.ndarray) -> list:
        wanted = ids.tolist()
        found = {r["id"] for r in self.client.get(self.collection, ids=wanted, output_fields=["id"])}
        return [i for i in wanted if i not in found]

    def write(self, ids, vectors, payloads) -> None:
        field = self._meta()["field"]
        if field == "BINARY_VECTOR":
            values = [bytes(b) for b in sign_bits(vectors)]
        elif field in ("FLOAT16_VECTOR", "BFLOAT16_VECTOR"):
            values = list(vectors.astype(np.float16))
        else:
            values = vectors.tolist()
        self.client.upsert(self.collection, [{"id": i, "vector": v, "payload": p}
                                             for i, v, p in zip(ids.tolist(), values, payloads)])

    def finish(self) -> None:
        self.client.flush(self.collection)

    def read(self, batch_size: int):
        meta = self._meta()
        iterator = self.client.query_iterator(self.collection, batch_size=batch_size, filter="",
                                              output_fields=["id", "vector", "payload"])
        try:
            while rows := iterator.next():
                ids = [r["id"] for r in rows]
                yield (np.array(ids, dtype=object if isinstance(ids[0], str) else np.int64),
                       np.stack([_vector_in(meta, r["vector"]) for r in rows]), [r.get("payload") for r in rows])
        finally:
            iterator.close()


    def search(self, queries: np.ndarray, k: int) -> list:
        meta = self._meta()
        metric = meta["metric"]
        if meta["field"] == "BINARY_VECTOR":
            data = [bytes(b) for b in sign_bits(queries)]
            search_metric = "HAMMING"
        else:
            data, search_metric = queries.tolist(), METRICS[metric]
        results = self.client.search(self.collection, data=data, limit=k,
                                     search_params={"metric_type": search_metric, "params": meta["search"]})
        # COSINE and IP are similarities already; L2 and HAMMING are distances
        sign = -1.0 if search_metric in ("L2", "HAMMING") else 1.0
        return [[(hit["id"], sign * float(hit["distance"])) for hit in row] for row in results]

    def close(self) -> None:
        if self.owned:
            self.client.close()


def _vector_in(meta: dict, value) -> np.ndarray:
    if meta["field"] == "BINARY_VECTOR":
        raw = value[0] if isinstance(value, list) else value
        return sign_vectors(np.frombuffer(raw, np.uint8)[None], meta["dim"])[0]
    if isinstance(value, (bytes, bytearray)):
        return np.frombuffer(value, np.float16).astype(np.float32)
    return np.asarray(value, dtype=np.float32)


def connect(target, collection: str) -> MilvusAdapter:
    """The adapter for milvus://FILE.db (Lite), milvus+http(s)://HOST:PORT or a MilvusClient object."""
    if not isinstance(collection, str) or not collection.replace("_", "a").isalnum() or collection[0].isdigit():
        raise VectroError(f"Milvus collection names are letters, digits and _, not starting with a digit; got {collection!r}")
    if not isinstance(target, (str, os.PathLike)):
        return MilvusAdapter(target, collection, owned=False, lite=False)
    pymilvus = require("pymilvus", EXTRA)
    url = str(target)
    scheme, _, rest = url.partition("://")
    if scheme == "milvus":
        require("milvus_lite", EXTRA)
        return MilvusAdapter(pymilvus.MilvusClient(rest), collection, owned=True, lite=True)
    if scheme in ("milvus+http", "milvus+https"):
        client = pymilvus.MilvusClient(uri=url.replace("milvus+", "", 1), token=os.environ.get("MILVUS_TOKEN", ""))
        return MilvusAdapter(client, collection, owned=True, lite=False)
    raise VectroError(f"not a Milvus target: {url!r}; use milvus://FILE.db or milvus+http://HOST:PORT")


def export(data, target, collection: str, *, ids=None, payloads=None, metric: str | None = None,
           batch_size: int = 1000, if_exists: str = "resume", progress=None) -> dict:
    """Upsert vectro data into a Milvus collection indexed the way the codec maps; resumable."""
    records = _common.as_records(data, ids, payloads, metric)
    return _common.run_export(connect(target, collection), records, batch_size, if_exists, progress)


def import_(source, collection: str, *, out: str = "index", codec=None, batch_size: int = 1000, progress=None):
    """Read a Milvus collection back: a vectro.Index (ids and payloads kept) or a Compressed ordered by id."""
    return _common.run_import(connect(source, collection), out, codec, batch_size, progress)


def search(target, collection: str, queries, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Search through Milvus's own index; (ids, scores), each (nq, k), higher better (-distance for L2/Hamming)."""
    return _common.run_search(connect(target, collection), queries, k)