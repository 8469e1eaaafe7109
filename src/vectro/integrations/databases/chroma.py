"""Chroma: a collection of float vectors behind Chroma's HNSW, with payloads as Chroma metadata.

    from vectro.integrations.databases import chroma
    chroma.export(packed, "chroma://./chroma-data", "docs")
    ids, scores = chroma.search("chroma://./chroma-data", "docs", queries, k=10)

Targets: `chroma://DIR` (a `chromadb.PersistentClient` folder), `chroma+http://HOST:PORT` (a Chroma
server), or a chromadb client object. Chroma stores float32 vectors and searches them with HNSW;
it has no quantisation of its own, so the vectors go in decoded and the collection's metadata
records the vectro codec (`vectro:codec`) that `import_` re-encodes with. Ids are strings in
Chroma (int ids are written as their decimal text and read back as ints); payloads must be flat
(str, int, float, bool, or lists of them), as Chroma's metadata is.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlparse

import numpy as np

from ...errors import VectroError, require
from . import _common
from ._common import Adapter, Records

EXTRA = "chroma"
SPACES = {"cosine": "cosine", "ip": "ip", "l2": "l2"}
NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$")


class ChromaAdapter(Adapter):
    extra = EXTRA

    def __init__(self, client, collection: str, owned: bool):
        self.client, self.collection, self.owned = client, collection, owned
        self._col = None

    @property
    def col(self):
        if self._col is None:
            self._col = self.client.get_collection(self.collection, embedding_function=None)
        return self._col

    def exists(self) -> bool:
        return self.collection in [c if isinstance(c, str) else c.name for c in self.client.list_collections()]

    def create(self, records: Records) -> None:
        meta = {"vectro:codec": records.codec.spec if records.codec else "float32", "vectro:metric": records.metric,
                "vectro:dim": records.dim, "vectro:id_kind": records.id_kind}
        self._col = self.client.create_collection(self.collection, metadata=meta, embedding_function=None,
                                                  configuration={"hnsw": {"space": SPACES[records.metric]}})

    def drop(self) -> None:
        self.client.delete_collection(self.collection)
        self._col = None

    def _meta(self) -> dict:
        meta = {k[len("vectro:"):]: v for k, v in (self.col.metadata or {}).items() if k.startswith("vectro:")}
        if "codec" not in meta:
            raise VectroError(f"Chroma collection {self.collection!r} was not written by vectro")
        return meta

    def count(self) -> int:
        return int(self.col.count())

    def missing(self, ids: np.ndarray) -> list:
        wanted = [str(i) for i in ids.tolist()]
        found = set(self.col.get(ids=wanted, include=[])["ids"])
        return [i for i, w in zip(ids.tolist(), wanted) if w not in found]

    def write(self, ids, vectors, payloads) -> None:
        metadatas = [_common.flat_metadata(p, "Chroma") for p in payloads]
        self.col.upsert(ids=[str(i) for i in ids.tolist()], embeddings=vectors,
                        metadatas=metadatas if any(m is not None for m in metadatas) else None)

    def _ids_in(self, raw: list) -> np.ndarray:
        if self._meta()["id_kind"] == "str":
            return np.array(raw, dtype=object)
        return np.array([int(i) for i in raw], dtype=np.int64)

    def read(self, batch_size: int):
        batch_size = min(batch_size, self.client.get_max_batch_size())
        for offset in range(0, self.count(), batch_size):
            got = self.col.get(limit=batch_size, offset=offset, include=["embeddings", "metadatas"])
            yield self._ids_in(got["ids"]), np.asarray(got["embeddings"], dtype=np.float32), list(got["metadatas"])

    def search(self, queries: np.ndarray, k: int) -> list:
        got = self.col.query(query_embeddings=queries, n_results=k, include=["distances"])
        metric = self.stored_metric()
        # Chroma's distances: cosine 1 - cos, ip 1 - ip, l2 squared distance
        to_score = (lambda d: -d) if metric == "l2" else (lambda d: 1.0 - d)
        return [list(zip(self._ids_in(ids).tolist(), [to_score(d) for d in dists]))
                for ids, dists in zip(got["ids"], got["distances"])]


def connect(target, collection: str) -> ChromaAdapter:
    """The adapter for chroma://DIR, chroma+http://HOST:PORT or a chromadb client object."""
    if not isinstance(collection, str) or not NAME.match(collection):
        raise VectroError(f"Chroma collection names are 3-512 of [a-zA-Z0-9._-], starting and ending with a "
                          f"letter or digit; got {collection!r}")
    if not isinstance(target, (str, os.PathLike)):
        return ChromaAdapter(target, collection, owned=False)
    chromadb = require("chromadb", EXTRA)
    url = str(target)
    scheme, _, rest = url.partition("://")
    if scheme == "chroma":
        client = chromadb.PersistentClient(path=rest)
    elif scheme in ("chroma+http", "chroma+https"):
        parsed = urlparse(url)
        client = chromadb.HttpClient(host=parsed.hostname, port=parsed.port or 8000, ssl=scheme == "chroma+https")
    else:
        raise VectroError(f"not a Chroma target: {url!r}; use chroma://DIR or chroma+http://HOST:PORT")
    return ChromaAdapter(client, collection, owned=True)


def export(data, target, collection: str, *, ids=None, payloads=None, metric: str | None = None,
           batch_size: int = 1000, if_exists: str = "resume", progress=None) -> dict:
    """Upsert vectro data (decoded to float32) into a Chroma collection, batch by batch; resumable."""
    records = _common.as_records(data, ids, payloads, metric)
    return _common.run_export(connect(target, collection), records, batch_size, if_exists, progress)


def import_(source, collection: str, *, out: str = "index", codec=None, batch_size: int = 1000, progress=None):
    """Read a Chroma collection back: a vectro.Index (ids and payloads kept) or a Compressed ordered by id."""
    return _common.run_import(connect(source, collection), out, codec, batch_size, progress)


def search(target, collection: str, queries, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Search through Chroma's HNSW; (ids, scores), each (nq, k), higher score better."""
    return _common.run_search(connect(target, collection), queries, k)