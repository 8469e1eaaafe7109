"""What every database adapter shares: the records to move, the batched resumable export, the import.

An adapter (one class per database) knows how to create a collection, write one batch, count,
check which ids exist, read everything back in batches and search. `export` and `import_` here
drive any adapter the same way:

- export: `Records` (from a `Compressed`, an `Index` or floats with ids and payloads) are written in
  batches of `batch_size`. Each batch is committed before the next starts, so an interrupted
  export leaves whole batches behind; running the same export again counts what is there, checks
  that the last committed batch holds this export's ids, and continues from the next batch.
- import_: the adapter's batches become a `vectro.Index` (ids and payloads kept), or a
  `Compressed` ordered by id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ..._validation import as_matrix
from ...codecs.base import Codec, make_codec
from ...compressed import Compressed, _check_metric
from ...errors import VectroError

Progress = Callable[[int, int], None]
IF_EXISTS = ("resume", "replace", "fail")


@dataclass
class Records:
    """Vectors to export with their ids (int64 or str objects) and payloads (list or None).

    `codec` is the vectro codec the vectors went through (None for plain floats): it picks the
    database's own quantisation. `vectors(start, stop)` decodes one batch, float32 (rows, dim).
    """

    ids: np.ndarray
    payloads: list | None
    dim: int
    metric: str
    codec: Codec | None
    _block: Callable[[int, int], np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def id_kind(self) -> str:
        return "str" if self.ids.dtype == object else "int"

    def vectors(self, start: int, stop: int) -> np.ndarray:
        return self._block(start, stop)

    def payload_slice(self, start: int, stop: int) -> list:
        return [None] * (min(stop, len(self)) - start) if self.payloads is None else self.payloads[start:stop]


def as_records(data, ids=None, payloads=None, metric: str | None = None) -> Records:
    """Normalise what `export` accepts: a `Compressed` (row numbers as ids), an `Index` (its ids and
    payloads), or float vectors (n, d) with optional ids (n,) and payloads (a list of n dicts)."""
    from ...index.core import Index
    from ...index.store import IdMap, PayloadStore

    if isinstance(data, Index):
        if ids is not None:
            raise VectroError("an Index brings its own ids; do not pass ids=")
        index_ids = data.ids()
        kept = data.payloads(index_ids) if payloads is None else PayloadStore.check(payloads, len(index_ids))
        return Records(index_ids, kept if any(p is not None for p in kept) else None, data.dim,
                       metric or data.metric, data.codec, lambda a, b: data.get(index_ids[a:b]))
    if isinstance(data, Compressed):
        n = len(data)
        record_ids = IdMap().normalise(ids, n)
        return Records(record_ids, PayloadStore.check(payloads, n), data.dim, metric or data.metric,
                       data.codec, lambda a, b: data.codec.decode(np.asarray(data.codes[a:b])))
    X = as_matrix(data, "vectors")
    record_ids = IdMap().normalise(ids, len(X))
    return Records(record_ids, PayloadStore.check(payloads, len(X)), X.shape[1], metric or "cosine", None,
                   lambda a, b: X[a:b])


class Adapter:
    """One collection in one database. Subclasses implement the methods that raise here."""

    #: the extra that installs this database's client, for error messages
    extra = ""

    def exists(self) -> bool:
        raise NotImplementedError

    def create(self, records: Records) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        raise NotImplementedError

    def _meta(self) -> dict:
        """What vectro recorded with the collection when it created it: codec, metric, dim, ..."""
        raise NotImplementedError

    def dim(self) -> int:
        """The vector size of the existing collection."""
        return int(self._meta()["dim"])

    def count(self) -> int:
        raise NotImplementedError

    def missing(self, ids: np.ndarray) -> list:
        """Those of `ids` the collection does not hold."""
        raise NotImplementedError

    def write(self, ids: np.ndarray, vectors: np.ndarray, payloads: list) -> None:
        """Write one batch and return once it is committed (durable and counted)."""
        raise NotImplementedError

    def finish(self) -> None:
        """After the last batch: build indexes, flush. Default: nothing."""

    def read(self, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray, list]]:
        """Every record as batches of (ids, float32 vectors (rows, dim), payloads)."""
        raise NotImplementedError

    def stored_codec(self) -> str | None:
        """The vectro codec matching the collection's own quantisation (None: keep floats)."""
        return self._meta()["codec"]

    def stored_metric(self) -> str:
        return self._meta()["metric"]

    def search(self, queries: np.ndarray, k: int, **options) -> list:
        """Per query, [(id, score)] best first through the database's own search; higher score better."""
        raise NotImplementedError

    def close(self) -> None:
        pass


def run_export(adapter: Adapter, records: Records, batch_size: int, if_exists: str,
               progress: Progress | None) -> dict:
    """Write `records` through `adapter` in committed batches, resuming a partial export; see the module doc."""
    n, start = len(records), 0
    try:
        if if_exists not in IF_EXISTS:
            raise VectroError(f"if_exists must be one of {', '.join(IF_EXISTS)}, got {if_exists!r}")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise VectroError(f"batch_size must be a positive integer, got {batch_size!r}")
        if adapter.exists():
            if if_exists == "fail":
                raise VectroError(f"collection {adapter.collection!r} already exists; pass if_exists='resume' or 'replace'")
            if if_exists == "replace":
                adapter.drop()
                adapter.create(records)
            else:
                start = _resume_point(adapter, records, batch_size)
        else:
            adapter.create(records)
        if progress and start:
            progress(start, n)
        for begin in range(start, n, batch_size):
            end = min(begin + batch_size, n)
            adapter.write(records.ids[begin:end], records.vectors(begin, end), records.payload_slice(begin, end))
            if progress:
                progress(end, n)
        adapter.finish()
    finally:
        adapter.close()
    return {"collection": adapter.collection, "written": n - start, "resumed_at": start, "n": n}


def _resume_point(adapter: Adapter, records: Records, batch_size: int) -> int:
    """The first row still to write: whole committed batches are kept once their ids are checked."""
    if adapter.dim() != records.dim:
        raise VectroError(f"collection {adapter.collection!r} holds {adapter.dim()}-d vectors, these are "
                          f"{records.dim}-d; pass if_exists='replace' to overwrite it")
    held = adapter.count()
    start = min(held // batch_size * batch_size, len(records) // batch_size * batch_size)
    if start:
        absent = adapter.missing(records.ids[start - batch_size : start])
        if absent or held > len(records):
            raise VectroError(f"collection {adapter.collection!r} holds {held} records that are not a part of this "
                              "export; pass if_exists='replace' to overwrite it")
    return start


def run_import(adapter: Adapter, out: str = "index", codec: str | Codec | None = None, batch_size: int = 1000,
               progress: Progress | None = None, fit_rows: int = 20000):
    """Read a whole collection into a `vectro.Index` (out="index") or a `Compressed` ordered by id
    (out="compressed"); `codec` defaults to the vectro codec matching the collection's quantisation.

    A trainable codec (pq, pca, ...) learns from the first `fit_rows` records, which are held until
    then; after that memory holds one batch of floats at a time.
    """
    if out not in ("index", "compressed"):
        raise VectroError(f"out must be 'index' or 'compressed', got {out!r}")
    try:
        if not adapter.exists():
            raise VectroError(f"collection {adapter.collection!r} does not exist")
        sink = _Sink(out, make_codec(codec or adapter.stored_codec() or "float32"),
                     _check_metric(adapter.stored_metric()))
        total, done, held = adapter.count(), 0, []
        for batch in adapter.read(batch_size):
            held.append(batch)
            if sink.fitted or sum(len(b[0]) for b in held) >= fit_rows:
                sink.add_all(held)
                held = []
            done += len(batch[0])
            if progress:
                progress(done, total)
        sink.add_all(held)
    finally:
        adapter.close()
    if not sink.ids:
        raise VectroError(f"collection {adapter.collection!r} is empty")
    return sink.result()


class _Sink:
    """Where imported batches go: an Index, or codes collected for a `Compressed` ordered by id."""

    def __init__(self, out: str, codec: Codec, metric: str):
        self.out, self.codec, self.metric = out, codec, metric
        self.fitted = False
        self.index = None
        self.ids, self.codes = [], []

    def add_all(self, batches: list) -> None:
        if not batches:
            return
        ids = np.concatenate([b[0] for b in batches])
        vectors = np.vstack([b[1] for b in batches])
        payloads = [p for b in batches for p in b[2]]
        if not self.fitted:
            self.fitted = True
            if self.out == "index":
                from ...index.core import Index

                self.index = Index(vectors.shape[1], self.codec, self.metric)
                if self.codec.trainable:
                    self.index.train(vectors)
            else:
                self.codec.fit(vectors if self.codec.trainable else vectors[:1])
        self.ids.append(ids)
        if self.out == "index":
            self.index.add(vectors, ids, payloads if any(p is not None for p in payloads) else None)
        else:
            self.codes.append(self.codec.encode(vectors))

    def result(self):
        if self.out == "index":
            return self.index
        ids = np.concatenate(self.ids)
        order = np.argsort(ids.astype(str) if ids.dtype == object else ids, kind="stable")
        return Compressed(self.codec, np.vstack(self.codes)[order], {"metric": self.metric})


FLAT_VALUES = (str, int, float, bool)


def flat_metadata(payload, database: str) -> dict | None:
    """A payload as flat metadata (Chroma, Pinecone): values str, int, float, bool or lists of them;
    None for no payload or an empty one."""
    if payload is None or payload == {}:
        return None
    if not isinstance(payload, dict):
        raise VectroError(f"{database} metadata is a flat dict; got a payload of type {type(payload).__name__}")
    for key, value in payload.items():
        if not (isinstance(value, FLAT_VALUES) or
                (isinstance(value, list) and all(isinstance(v, FLAT_VALUES) for v in value))):
            raise VectroError(f"payload field {key!r} holds a {type(value).__name__}; {database} metadata values "
                              "are str, int, float, bool or lists of them")
    return payload


def sign_bits(vectors: np.ndarray) -> np.ndarray:
    """Sign bits of float rows (n, d), packed high bit first (the bit order of pgvector, Milvus, Lance)."""
    return np.packbits(vectors > 0, axis=1)


def sign_vectors(bits: np.ndarray, dim: int) -> np.ndarray:
    """Packed sign bits (n, ceil(d/8)) -> +-1/sqrt(d) float32 (n, d): the binary codec's decoded vectors."""
    return (np.unpackbits(bits, axis=1, count=dim).astype(np.float32) * 2 - 1) / np.float32(np.sqrt(dim))


def rescore_signs(query: np.ndarray, ids: list, bits: np.ndarray, metric: str, k: int) -> list:
    """Re-rank Hamming candidates by the float query against their signs (vectro's asymmetric binary
    score): [(id, score)] best first, at most k."""
    if not len(ids):
        return []
    q = query / max(float(np.linalg.norm(query)), 1e-30) if metric == "cosine" else query
    scores = sign_vectors(bits, len(query)) @ q
    order = np.argsort(-scores, kind="stable")[:k]
    return [(ids[i], float(scores[i])) for i in order]


def run_search(adapter: Adapter, queries, k: int, **options) -> tuple[np.ndarray, np.ndarray]:
    """Search through the database itself: `adapter.search(Q, k, **options)` gives per-query
    [(id, score)] lists; returns (ids, scores), each (nq, k), higher score better, padded."""
    try:
        hits = adapter.search(as_matrix(queries, "queries", adapter.dim()), k, **options)
    finally:
        adapter.close()
    return hits_to_arrays(hits, k)


def hits_to_arrays(rows: list, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-query lists of (id, score) -> ids and scores (nq, k); -1 (int ids) or None and -inf pad."""
    strings = any(isinstance(i, str) for row in rows for i, _ in row)
    ids = np.full((len(rows), k), None if strings else -1, dtype=object if strings else np.int64)
    scores = np.full((len(rows), k), -np.inf, dtype=np.float32)
    for q, row in enumerate(rows):
        for j, (record_id, score) in enumerate(row[:k]):
            ids[q, j], scores[q, j] = record_id, score
    return ids, scores


def chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
