"""Qdrant: export vectro data into a collection quantised the Qdrant way, search it there, import it back.

    from vectro.integrations.databases import qdrant
    qdrant.export(packed, "qdrant-edge://./shards", collection="docs")     # the Qdrant engine in-process
    ids, scores = qdrant.search("qdrant-edge://./shards", "docs", queries, k=10)
    index = qdrant.import_("qdrant-edge://./shards", "docs")               # back into a vectro.Index

Targets: `qdrant://HOST:PORT` (a server, through qdrant-client; QDRANT_API_KEY is sent when set),
`qdrant-local://DIR` (qdrant-client's local mode), `qdrant-edge://DIR` (qdrant-edge-py: the shard
lives in DIR/COLLECTION), or a `QdrantClient` object (e.g. `QdrantClient(":memory:")`).

Qdrant keeps the float vectors (on disk) and its own quantised copy (in RAM) that it searches
first, then rescores the best `oversampling * k` with the floats. The vectro codec picks the
quantisation (`quantization_for`): int8-like codecs -> scalar int8, binary -> binary, rq:1/2/4
-> TurboQuant of those bits, pq -> product quantisation at the nearest compression ratio,
float16 -> float16 storage. String ids become UUIDs (uuid5), the original id kept in the payload
under `_vectro_id`. Local mode (qdrant-client without a server) searches exactly and ignores
quantisation; it is there for tests and notebooks.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from ...codecs.base import Codec, make_codec
from ...errors import VectroError, require
from . import _common
from ._common import Adapter, Records

EXTRA = "qdrant"
ID_KEY = "_vectro_id"
DISTANCES = {"cosine": "Cosine", "ip": "Dot", "l2": "Euclid"}
TURBO_BITS = {1: "bits1", 2: "bits2", 4: "bits4", 8: "bits8"}
PQ_RATIOS = (4, 8, 16, 32, 64)


def quantization_for(codec: Codec | str | None, dim: int) -> dict:
    """Qdrant's storage settings for a vectro codec, in Qdrant's REST form:
    {"quantization": {...} or None, "datatype": "float32" | "float16"}."""
    if codec is None:
        return {"quantization": None, "datatype": "float32"}
    codec = make_codec(codec) if isinstance(codec, str) else codec
    stage = getattr(codec, "quantiser", codec)  # a composite's last stage decides
    name = stage.name
    if name in ("float32", "int16"):
        return {"quantization": None, "datatype": "float32"}
    if name in ("float16", "bf16"):
        return {"quantization": None, "datatype": "float16"}
    if name == "binary":
        return {"quantization": {"binary": {"always_ram": True}}, "datatype": "float32"}
    if name == "rq" and stage.bits in TURBO_BITS:
        return {"quantization": {"turbo": {"bits": TURBO_BITS[stage.bits], "always_ram": True}}, "datatype": "float32"}
    if name in ("pq", "opq"):
        ratio = 4 * dim / stage.bytes_per_vector(dim)
        nearest = min(PQ_RATIOS, key=lambda r: abs(np.log(r / ratio)))
        return {"quantization": {"product": {"compression": f"x{nearest}", "always_ram": True}}, "datatype": "float32"}
    # int8, int8:g, int8-dim, int4, nf4, int2, rq:3, spectral: Qdrant's closest is scalar int8
    return {"quantization": {"scalar": {"type": "int8", "always_ram": True}}, "datatype": "float32"}


def codec_for(quantization: dict | None, datatype: str | None, dim: int) -> str:
    """The vectro codec matching a collection's Qdrant quantisation (the reverse of `quantization_for`)."""
    if quantization:
        if "scalar" in quantization:
            return "int8"
        if "binary" in quantization:
            return "binary"
        if "turbo" in quantization:
            bits = {v: k for k, v in TURBO_BITS.items()}.get((quantization["turbo"] or {}).get("bits") or "bits4", 4)
            return f"rq:{bits}"
        if "product" in quantization:
            ratio = int(str(quantization["product"]["compression"]).lower().lstrip("x"))
            m = 4 * dim // ratio
            return f"pq:{m}" if m and dim % m == 0 else "int8"
    return "float16" if datatype == "float16" else "float32"


def point_id(record_id):
    """Qdrant ids are unsigned ints or UUIDs: a string id maps to a stable uuid5."""
    if isinstance(record_id, str):
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "vectro:" + record_id))
    return int(record_id)


def _payload_out(record_id, payload) -> dict | None:
    if isinstance(record_id, str):
        return {**(payload or {}), ID_KEY: record_id}
    return payload


def _record_in(point_id_, payload) -> tuple[object, dict | None]:
    payload = dict(payload) if payload else None
    if payload and ID_KEY in payload:
        original = payload.pop(ID_KEY)
        return original, payload or None
    return point_id_, payload


def _hits(rows: list, metric: str) -> list:
    """Qdrant's scored points -> [(vectro id, score)]; its Euclid score is the distance, made -distance^2."""
    def score(value: float) -> float:
        return -value * value if metric == "l2" else value

    return [[(_record_in(p.id, p.payload)[0], score(p.score)) for p in row] for row in rows]


def _check_payloads(records: Records) -> None:
    if records.payloads is not None:
        for payload in records.payloads:
            if payload is not None and not isinstance(payload, dict):
                raise VectroError(f"Qdrant payloads are JSON objects (dicts); got {type(payload).__name__}")


def _batch_out(ids, payloads) -> tuple[list, list]:
    return [point_id(i) for i in ids.tolist()], [_payload_out(i, p) for i, p in zip(ids.tolist(), payloads)]


def _batch_in(points) -> tuple[np.ndarray, np.ndarray, list]:
    ids, payloads, vectors = [], [], []
    for point in points:
        record_id, payload = _record_in(point.id, point.payload)
        ids.append(record_id)
        payloads.append(payload)
        vectors.append(point.vector[""] if isinstance(point.vector, dict) else point.vector)
    kind = object if ids and isinstance(ids[0], str) else np.int64
    return np.array(ids, dtype=kind), np.asarray(vectors, dtype=np.float32), payloads


class EdgeAdapter(Adapter):
    """A Qdrant Edge shard (qdrant-edge-py) in DIR/COLLECTION."""

    extra = EXTRA

    def __init__(self, folder, collection: str, hnsw_m: int = 16, ef_construct: int = 100):
        self.q = require("qdrant_edge", EXTRA)
        self.collection = collection
        self.path = Path(folder) / collection
        self.hnsw = (hnsw_m, ef_construct)
        self._shard = None

    @property
    def shard(self):
        if self._shard is None:
            self._shard = self.q.EdgeShard.load(str(self.path))
        return self._shard

    def _config(self) -> dict:
        return json.loads((self.path / "edge_config.json").read_text())["vectors"][""]

    def exists(self) -> bool:
        return (self.path / "edge_config.json").is_file()

    def create(self, records: Records) -> None:
        q = self.q
        _check_payloads(records)
        storage = quantization_for(records.codec, records.dim)
        params = q.EdgeVectorParams(
            size=records.dim, distance=getattr(q.Distance, DISTANCES[records.metric]), on_disk=True,
            datatype=q.VectorStorageDatatype.Float16 if storage["datatype"] == "float16" else None,
            quantization_config=_edge_quantization(q, storage["quantization"]),
            hnsw_config=q.HnswIndexConfig(m=self.hnsw[0], ef_construct=self.hnsw[1], full_scan_threshold=10))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._shard = q.EdgeShard.create(str(self.path), q.EdgeConfig(vectors=params))

    def drop(self) -> None:
        import shutil

        self.close()
        shutil.rmtree(self.path)

    def dim(self) -> int:
        return int(self._config()["size"])

    def count(self) -> int:
        return int(self.shard.count(self.q.CountRequest(exact=True)))

    def missing(self, ids: np.ndarray) -> list:
        wanted = [point_id(i) for i in ids.tolist()]
        found = {str(r.id) for r in self.shard.retrieve(wanted, with_payload=False, with_vector=False)}
        return [i for i, p in zip(ids.tolist(), wanted) if str(p) not in found]

    def write(self, ids, vectors, payloads) -> None:
        q = self.q
        pids, outs = _batch_out(ids, payloads)
        points = [q.Point(id=p, vector=v, payload=o) for p, v, o in zip(pids, vectors.tolist(), outs)]
        self.shard.update(q.UpdateOperation.upsert_points(points))
        self.shard.flush()  # committed: a later resume counts this batch

    def finish(self) -> None:
        self.shard.optimize()  # builds the HNSW graph and the quantised segments

    def read(self, batch_size: int):
        offset = None
        while True:
            points, offset = self.shard.scroll(self.q.ScrollRequest(offset=offset, limit=batch_size,
                                                                     with_payload=True, with_vector=True))
            if points:
                yield _batch_in(points)
            if offset is None:
                return

    def stored_codec(self) -> str:
        config = self._config()
        return codec_for(config.get("quantization_config"), config.get("datatype"), int(config["size"]))

    def stored_metric(self) -> str:
        return {v: k for k, v in DISTANCES.items()}[self._config()["distance"]]

    def search(self, queries: np.ndarray, k: int, rescore: bool = True, oversampling: float = 2.0,
               ef: int | None = None) -> list:
        q = self.q
        params = q.SearchParams(hnsw_ef=ef, quantization=q.QuantizationSearchParams(rescore=rescore,
                                                                                     oversampling=oversampling))
        return _hits([self.shard.search(q.SearchRequest(query=q.Query.Nearest(v), limit=k, params=params,
                                                          with_payload=True)) for v in queries.tolist()],
                     self.stored_metric())

    def close(self) -> None:
        if self._shard is not None:
            self._shard.close()
            self._shard = None


def _edge_quantization(q, quantization: dict | None):
    if quantization is None:
        return None
    (kind, params), = quantization.items()
    if kind == "scalar":
        return q.ScalarQuantizationConfig(type=q.ScalarType.Int8, always_ram=True)
    if kind == "binary":
        return q.BinaryQuantizationConfig(always_ram=True)
    if kind == "turbo":
        bits = {"bits1": "Bits1", "bits2": "Bits2", "bits4": "Bits4", "bits8": "Bits8"}[params["bits"]]
        return q.TurboQuantQuantizationConfig(bits=getattr(q.TurboQuantBitSize, bits), always_ram=True)
    return q.ProductQuantizationConfig(compression=getattr(q.CompressionRatio, params["compression"].upper()),
                                       always_ram=True)


class ClientAdapter(Adapter):
    """A collection reached through qdrant-client: a server, local mode on a folder, or a client object."""

    extra = EXTRA

    def __init__(self, client, collection: str, owned: bool):
        self.models = require("qdrant_client.models", EXTRA)
        self.client, self.collection, self.owned = client, collection, owned

    def exists(self) -> bool:
        return self.client.collection_exists(self.collection)

    def create(self, records: Records) -> None:
        m = self.models
        _check_payloads(records)
        storage = quantization_for(records.codec, records.dim)
        vectors = m.VectorParams(size=records.dim, distance=getattr(m.Distance, DISTANCES[records.metric].upper()),
                                 on_disk=True, datatype=m.Datatype(storage["datatype"]))
        quantization = storage["quantization"]
        config = None
        if quantization is not None:
            (kind, params), = quantization.items()
            config = {"scalar": m.ScalarQuantization, "binary": m.BinaryQuantization, "turbo": m.TurboQuantization,
                      "product": m.ProductQuantization}[kind].model_validate({kind: params})
        self.client.create_collection(self.collection, vectors_config=vectors, quantization_config=config)

    def drop(self) -> None:
        self.client.delete_collection(self.collection)

    def _params(self):
        info = self.client.get_collection(self.collection)
        return info.config.params.vectors, info.config.quantization_config

    def dim(self) -> int:
        return int(self._params()[0].size)

    def count(self) -> int:
        return int(self.client.count(self.collection, exact=True).count)

    def missing(self, ids: np.ndarray) -> list:
        wanted = [point_id(i) for i in ids.tolist()]
        found = {str(r.id) for r in self.client.retrieve(self.collection, wanted, with_payload=False, with_vectors=False)}
        return [i for i, p in zip(ids.tolist(), wanted) if str(p) not in found]

    def write(self, ids, vectors, payloads) -> None:
        pids, outs = _batch_out(ids, payloads)
        self.client.upsert(self.collection, points=self.models.Batch(ids=pids, vectors=vectors.tolist(),
                                                                     payloads=[o or {} for o in outs]),
                           wait=True)

    def read(self, batch_size: int):
        offset = None
        while True:
            points, offset = self.client.scroll(self.collection, limit=batch_size, offset=offset,
                                                with_payload=True, with_vectors=True)
            if points:
                yield _batch_in(points)
            if offset is None:
                return

    def stored_codec(self) -> str:
        vectors, quantization = self._params()
        datatype = vectors.datatype.value if vectors.datatype is not None else None
        return codec_for(quantization.model_dump(exclude_none=True) if quantization else None, datatype,
                         int(vectors.size))

    def stored_metric(self) -> str:
        return {v.upper(): k for k, v in DISTANCES.items()}[self._params()[0].distance.name]

    def search(self, queries: np.ndarray, k: int, rescore: bool = True, oversampling: float = 2.0,
               ef: int | None = None) -> list:
        m = self.models
        params = m.SearchParams(hnsw_ef=ef, quantization=m.QuantizationSearchParams(rescore=rescore,
                                                                                     oversampling=oversampling))
        requests = [m.QueryRequest(query=v, limit=k, params=params, with_payload=True) for v in queries.tolist()]
        return _hits([r.points for r in self.client.query_batch_points(self.collection, requests)],
                     self.stored_metric())

    def close(self) -> None:
        if self.owned:
            self.client.close()


def connect(target, collection: str) -> Adapter:
    """The adapter for a target URL (see the module doc) or a QdrantClient object."""
    if not isinstance(collection, str) or not collection:
        raise VectroError(f"collection must be a non-empty name, got {collection!r}")
    if not isinstance(target, (str, os.PathLike)):
        return ClientAdapter(target, collection, owned=False)
    url = str(target)
    scheme, _, rest = url.partition("://")
    if scheme == "qdrant-edge":
        return EdgeAdapter(rest, collection)
    qdrant_client = require("qdrant_client", EXTRA)
    if scheme == "qdrant-local":
        return ClientAdapter(qdrant_client.QdrantClient(path=rest), collection, owned=True)
    if scheme in ("qdrant", "qdrant+https", "http", "https"):
        parsed = urlparse(url)
        https = scheme in ("qdrant+https", "https")
        client = qdrant_client.QdrantClient(host=parsed.hostname, port=parsed.port or 6333, https=https,
                                            api_key=os.environ.get("QDRANT_API_KEY"))
        return ClientAdapter(client, collection, owned=True)
    raise VectroError(f"not a Qdrant target: {url!r}; use qdrant://HOST:PORT, qdrant-local://DIR or qdrant-edge://DIR")


def export(data, target, collection: str, *, ids=None, payloads=None, metric: str | None = None,
           batch_size: int = 1000, if_exists: str = "resume", progress=None) -> dict:
    """Write vectro data (Compressed, Index, or floats with ids and payloads) into a Qdrant collection
    whose quantisation matches the codec. Resumes an interrupted export (if_exists="resume")."""
    records = _common.as_records(data, ids, payloads, metric)
    return _common.run_export(connect(target, collection), records, batch_size, if_exists, progress)


def import_(source, collection: str, *, out: str = "index", codec=None, batch_size: int = 1000, progress=None):
    """Read a Qdrant collection back: a vectro.Index (ids and payloads kept) or a Compressed ordered by id."""
    return _common.run_import(connect(source, collection), out, codec, batch_size, progress)


def search(target, collection: str, queries, k: int = 10, *, rescore: bool = True, oversampling: float = 2.0,
           ef: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Search through Qdrant itself (its quantised index, then rescoring with its floats).

    Returns (ids, scores), each (nq, k), higher score better (-distance^2 for l2); -1 / None and
    -inf pad missing places.
    """
    return _common.run_search(connect(target, collection), queries, k, rescore=rescore, oversampling=oversampling,
                              ef=ef)


class QdrantCompressor:
    """The seed Vectro's helper: compress with a vectro codec, then index in Qdrant quantised to match.

        compressor = QdrantCompressor()                   # an in-memory qdrant-client, or target=URL
        compressor.compress_and_index(embeddings, "docs")
        ids, scores = compressor.search(queries, "docs", k=10)
    """

    def __init__(self, target=None, codec: str = "int8", metric: str = "cosine"):
        if target is None:
            target = require("qdrant_client", EXTRA).QdrantClient(":memory:")
        self.target, self.codec, self.metric = target, codec, metric

    def compress_and_index(self, embeddings, collection_name: str, ids=None, payloads=None, progress=None) -> dict:
        """Compress embeddings (n, d) with the codec and upload them; returns the export summary."""
        import vectro

        packed = vectro.compress(embeddings, self.codec, metric=self.metric)
        return export(packed, self.target, collection_name, ids=ids, payloads=payloads, progress=progress)

    def search(self, queries, collection_name: str, k: int = 10, oversampling: float = 2.0):
        return search(self.target, collection_name, queries, k, oversampling=oversampling)
