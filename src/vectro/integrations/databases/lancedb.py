"""LanceDB: a Lance table with a fixed-size-list vector column and the Lance index matching the codec.

    from vectro.integrations.databases import lancedb
    lancedb.export(packed, "lancedb://./lance-data", "docs")
    ids, scores = lancedb.search("lancedb://./lance-data", "docs", queries, k=10)

Targets: `lancedb://DIR` or a `lancedb` connection object. The table is `(id int64|string,
vector fixed_size_list, payload string (JSON))`; the schema metadata records the vectro codec.
`index_for` picks the index, built with `create_index(column, config=...)`: int8-like codecs ->
IVF_HNSW_SQ (`HnswSq`, 8-bit scalar), pq:M -> IVF_PQ (`IvfPq`, M sub-vectors), rq:B -> IVF_RQ
(`IvfRq`, RaBitQ with B bits), binary -> a `fixed_size_list<uint8>[d/8]` column of the sign bits
with IVF_FLAT on Hamming distance, candidates then rescored here with the float query against
their signs; float16 -> a float16 column with IVF_FLAT; float32 -> IVF_FLAT. Quantised indexes
rescore with the stored vectors (`refine_factor`).
"""

from __future__ import annotations

import json
import os

import numpy as np

from ...codecs.base import Codec, make_codec
from ...errors import VectroError, require
from . import _common
from ._common import Adapter, Records, sign_bits, sign_vectors

EXTRA = "lancedb"
DISTANCES = {"cosine": "cosine", "ip": "dot", "l2": "l2"}


def index_for(codec: Codec | str | None) -> dict:
    """Column element type ("float32", "float16" or "bits") and the LanceDB index config name and args."""
    codec = make_codec(codec) if isinstance(codec, str) else codec
    stage = getattr(codec, "quantiser", codec) if codec is not None else None
    name = stage.name if stage is not None else "float32"
    if name == "binary":
        return {"column": "bits", "index": "IvfFlat", "args": {"distance_type": "hamming"}}
    if name in ("float16", "bf16"):
        return {"column": "float16", "index": "IvfFlat", "args": {}}
    if name in ("float32", "int16"):
        return {"column": "float32", "index": "IvfFlat", "args": {}}
    if name in ("pq", "opq"):
        return {"column": "float32", "index": "IvfPq", "args": {"num_sub_vectors": stage.subquantizers,
                                                                "num_bits": stage.bits}}
    if name == "rq":
        return {"column": "float32", "index": "IvfRq", "args": {"num_bits": stage.bits}}
    return {"column": "float32", "index": "HnswSq", "args": {"m": 16, "ef_construction": 100}}


class LanceAdapter(Adapter):
    extra = EXTRA

    def __init__(self, db, collection: str):
        self.pa = require("pyarrow", EXTRA)
        self.db, self.collection = db, collection
        self._table = None

    @property
    def table(self):
        if self._table is None:
            self._table = self.db.open_table(self.collection)
        return self._table

    def _meta(self) -> dict:
        return json.loads(self.table.schema.metadata[b"vectro"])

    def exists(self) -> bool:
        listed = self.db.list_tables()
        names = getattr(listed, "tables", listed)
        return self.collection in names

    def _schema(self, id_kind: str, dim: int, column: str, meta: dict):
        pa = self.pa
        element, width = {"float32": (pa.float32(), dim), "float16": (pa.float16(), dim),
                          "bits": (pa.uint8(), -(-dim // 8))}[column]
        return pa.schema([pa.field("id", pa.string() if id_kind == "str" else pa.int64(), nullable=False),
                          pa.field("vector", pa.list_(element, width)), pa.field("payload", pa.string())],
                         metadata={"vectro": json.dumps(meta)})

    def create(self, records: Records) -> None:
        plan = index_for(records.codec)
        meta = {"codec": records.codec.spec if records.codec else "float32", "metric": records.metric,
                "dim": records.dim, "id_kind": records.id_kind, **plan}
        self._table = self.db.create_table(self.collection, schema=self._schema(records.id_kind, records.dim,
                                                                                plan["column"], meta))

    def drop(self) -> None:
        self.db.drop_table(self.collection)
        self._table = None

    def count(self) -> int:
        return int(self.table.count_rows())

    def _where_ids(self, ids: list) -> str:
        if self._meta()["id_kind"] == "str":
            return "id IN (" + ", ".join("'" + str(i).replace("'", "''") + "'" for i in ids) + ")"
        return "id IN (" + ", ".join(str(int(i)) for i in ids) + ")"

    def missing(self, ids: np.ndarray) -> list:
        wanted = ids.tolist()
        found = set(self.table.search().where(self._where_ids(wanted)).select(["id"]).limit(len(wanted))
                    .to_arrow()["id"].to_pylist())
        return [i for i in wanted if i not in found]

    def write(self, ids, vectors, payloads) -> None:
        pa, meta = self.pa, self._meta()
        column = meta["column"]
        values = {"bits": lambda: sign_bits(vectors), "float16": lambda: vectors.astype(np.float16)}.get(
            column, lambda: vectors.astype(np.float32))()
        width = values.shape[1]
        batch = pa.table({"id": pa.array(ids.tolist()),
                          "vector": pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), width),
                          "payload": pa.array([None if p is None else json.dumps(p) for p in payloads], pa.string())},
                         schema=self.table.schema)
        # one merge-insert = one committed Lance version: upsert by id
        self.table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(batch)

    def finish(self) -> None:
        meta = self._meta()
        index = getattr(require("lancedb.index", EXTRA), meta["index"])
        args = {"distance_type": DISTANCES[meta["metric"]], **meta["args"]}
        if self.count() >= 256:  # Lance trains IVF partitions and codebooks: too few rows cannot
            self.table.create_index("vector", config=index(**args), replace=True)

    def read(self, batch_size: int):
        meta = self._meta()
        for start in range(0, self.count(), batch_size):
            got = self.table.search().offset(start).limit(batch_size).select(["id", "vector", "payload"]).to_arrow()
            vectors = np.asarray(got["vector"].combine_chunks().flatten(), dtype=np.uint8 if meta["column"] == "bits"
                                 else np.float32).reshape(len(got), -1)
            if meta["column"] == "bits":
                vectors = sign_vectors(vectors, meta["dim"])
            ids = got["id"].to_pylist()
            yield (np.array(ids, dtype=object if meta["id_kind"] == "str" else np.int64), vectors.astype(np.float32),
                   [None if p is None else json.loads(p) for p in got["payload"].to_pylist()])


    def search(self, queries: np.ndarray, k: int, oversampling: float = 4.0, nprobes: int = 20) -> list:
        meta = self._meta()
        metric, bits = meta["metric"], meta["column"] == "bits"
        depth = max(k, int(np.ceil(k * oversampling))) if bits else k
        hits = []
        for q in queries:
            query = self.table.search(sign_bits(q[None])[0] if bits else q, vector_column_name="vector")
            query = query.distance_type("hamming" if bits else DISTANCES[metric]).limit(depth).nprobes(nprobes)
            if meta["index"] in ("HnswSq", "IvfPq", "IvfRq"):
                query = query.refine_factor(max(1, int(np.ceil(oversampling))))  # rescore with the stored floats
            got = query.select(["id", "vector"] if bits else ["id"]).to_arrow()
            ids = got["id"].to_pylist()
            if bits:  # Hamming candidates rescored with the float query against their signs
                codes = np.asarray(got["vector"].combine_chunks().flatten(), dtype=np.uint8).reshape(len(got), -1)
                hits.append(_common.rescore_signs(q, ids, codes, metric, k))
            else:
                hits.append([(i, _score(metric, d)) for i, d in zip(ids, got["_distance"].to_pylist())])
        return hits


def _score(metric: str, distance: float) -> float:
    """Lance distance -> higher-is-better score: cosine 1 - d, dot 1 - d, l2 -d (squared)."""
    return -distance if metric == "l2" else 1.0 - distance


def connect(target, collection: str) -> LanceAdapter:
    """The adapter for lancedb://DIR or a lancedb connection object."""
    if not isinstance(collection, str) or not collection or not collection.replace("_", "a").replace("-", "a").isalnum():
        raise VectroError(f"LanceDB table names are letters, digits, _ and -; got {collection!r}")
    if not isinstance(target, (str, os.PathLike)):
        return LanceAdapter(target, collection)
    url = str(target)
    scheme, _, rest = url.partition("://")
    if scheme != "lancedb":
        raise VectroError(f"not a LanceDB target: {url!r}; use lancedb://DIR")
    return LanceAdapter(require("lancedb", EXTRA).connect(rest), collection)


def export(data, target, collection: str, *, ids=None, payloads=None, metric: str | None = None,
           batch_size: int = 5000, if_exists: str = "resume", progress=None) -> dict:
    """Merge-insert vectro data into a Lance table batch by batch, then build the matching index; resumable."""
    records = _common.as_records(data, ids, payloads, metric)
    return _common.run_export(connect(target, collection), records, batch_size, if_exists, progress)


def import_(source, collection: str, *, out: str = "index", codec=None, batch_size: int = 5000, progress=None):
    """Read a Lance table back: a vectro.Index (ids and payloads kept) or a Compressed ordered by id."""
    return _common.run_import(connect(source, collection), out, codec, batch_size, progress)


def search(target, collection: str, queries, k: int = 10, *, oversampling: float = 4.0,
           nprobes: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Search through LanceDB's index (rescored with the stored vectors, or with the float query for bits)."""
    return _common.run_search(connect(target, collection), queries, k, oversampling=oversampling, nprobes=nprobes)