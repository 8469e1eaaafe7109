"""One collection's in-RAM search state: a `vectro.Index` of codes and a `PayloadIndex`.

The writer thread is the only mutator, and it changes this state only inside `lock.write()`
after the SQLite commit (a payload path indexed for a filter is published inside the transaction
that reads it: it changes no record); searches hold `lock.read()` (shared with other searches) while they use
the Index, so they see either the state before a batch or after it, never half of one. This does
not rely on `Index` being thread-safe itself. Searches also keep the rows of recent filters
(`filter_mask`, under a lock of its own), which every write drops as it takes the write lock.

What is stored per record (the `vector` blob in SQLite) is what RAM is rebuilt from:
- keep_originals float32/float16: the original, little-endian. The Index is fed that rounded
  vector, so a rebuild gives the same codes and the same scores; search re-scores its shortlist
  exactly against these originals read back from disk.
- keep_originals false: the codes alone (data-free codecs only); the Index is fed their decoding.
Trainable codecs (pq, opq, int8-dim, pca, learned...) are fitted once the collection holds
`fit_rows` records (or on optimize); until then the Index holds float32, so search is exact.
"""

from __future__ import annotations

import functools
import io
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np

from ..codecs.base import Codec, make_codec
from ..compressed import FIT_ROWS
from ..index.ann import needs_faiss
from ..index.core import Index
from ..metrics.evaluate import prepare_for_metric
from .filters import PayloadIndex

#: the rows of recent search filters a collection keeps until its next write (bits, one per record): at
#: most this many filters, and this many bytes
FILTER_CACHE_ENTRIES = 64
FILTER_CACHE_BYTES = 16 << 20


def _filter_key(flt) -> str | None:
    """The filter's canonical JSON, or None where JSON would not give it back as it is (a tuple, a
    non-string key, from a Python caller): such a filter is matched every time."""
    try:
        key = json.dumps(flt, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    return key if json.loads(key) == flt else None


#: the API's metric names -> vectro.Index's
METRIC_NAMES = {"cosine": "cosine", "dot": "ip", "l2": "l2"}


@dataclass
class CollectionConfig:
    """What a collection is created with; stored as JSON in the collections table."""

    name: str
    dimension: int
    metric: str = "cosine"
    codec: str = "int8"
    keep_originals: str | None = "float32"  # "float32", "float16" or None (codes only)
    rescore: bool = True
    ann: str | None = None
    fit_rows: int = 5000
    oversampling: float = 4.0  # shortlist = k x this, re-scored on the originals
    model: str | None = None  # the embedding model that makes its vectors (for text routes)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "CollectionConfig":
        return cls(**json.loads(text))

    @property
    def trainable(self) -> bool:
        return make_codec(self.codec).trainable

    @property
    def learns(self) -> bool:
        """Whether something is fitted at fit_rows: a trainable codec, or a FAISS graph's quantiser (vectro's own
        graph, for codecs with a row kernel, learns nothing: it grows from the first batch)."""
        return _learns(self.codec, self.dimension, self.ann)


@functools.lru_cache(maxsize=256)
def _learns(codec: str, dimension: int, ann: str | None) -> bool:
    made = make_codec(codec)
    return made.trainable or (ann is not None and needs_faiss(made, dimension))


class RWLock:
    """Many readers or one writer. Readers wait only while a writer publishes a committed batch."""

    def __init__(self):
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def read(self):
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self):
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._writing = True  # new readers wait from here on
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


def codec_state_blob(codec: Codec) -> bytes:
    """A fitted codec's learned arrays as .npz bytes (its spec and dim live in the config)."""
    state = codec.state()
    buf = io.BytesIO()
    np.savez(buf, __dim__=np.array(state["dim"]), **state["arrays"])
    return buf.getvalue()


def codec_from_blob(spec: str, blob: bytes) -> Codec:
    with np.load(io.BytesIO(blob)) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "__dim__"}
        dim = int(npz["__dim__"])
    return Codec.from_state({"spec": spec, "dim": dim, "arrays": arrays})


class Collection:
    """In-RAM state of one collection (see the module docstring)."""

    def __init__(self, cid: int, config: CollectionConfig, codec_state: bytes | None = None,
                 payload_paths: Iterable[str] = ()):
        self.cid, self.config = cid, config
        self.metric = METRIC_NAMES[config.metric]
        self.lock = RWLock()
        self.fitted_codec = codec_from_blob(config.codec, codec_state) if codec_state else None
        self.index = self.new_index(self.fitted_codec)
        self.payloads = PayloadIndex(lambda: self.index.ids().tolist(), payload_paths)  # the Index in effect
        self.disk_bytes = 0  # bytes of vectors and payloads in SQLite
        self.tombstones = 0  # replaced or deleted rows still in the Index (reclaimed by compaction)
        self.checkpoint: str | None = None  # the checkpoint file this Index equals (loaded from or saved to it)
        self.consistent = True  # False once publishing a write failed: the Index may not hold what the records do
        # keep_originals false: codes are made by this codec (data-free, so its state is its spec)
        self.storage_codec = None if config.keep_originals else make_codec(config.codec)
        # canonical filter -> (packed mask over the Index's live rows, or None: every record; records matched)
        self._filter_masks: OrderedDict[str, tuple[np.ndarray | None, int]] = OrderedDict()
        self._filter_masks_lock = threading.Lock()  # searches share the read lock, so they fill it side by side

    # ----- what the Index holds ----------------------------------------------------------------
    @property
    def awaiting_fit(self) -> bool:
        """A trainable codec or a graph not fitted yet: the Index holds float32 and search is exact."""
        return self.config.learns and self.fitted_codec is None

    def new_index(self, codec: Codec | None) -> Index:
        """The Index for `codec` (fitted, or data-free): float32 and no graph while the collection awaits its fit."""
        if codec is None and self.config.learns:
            return Index(self.config.dimension, "float32", metric=self.metric)
        return Index(self.config.dimension, codec or self.config.codec, metric=self.metric, ann=self.config.ann)

    @property
    def codec_in_effect(self) -> Codec:
        return self.index.codec

    # ----- stored blobs <-> vectors --------------------------------------------------------
    def to_blobs(self, X: np.ndarray) -> tuple[list[bytes], np.ndarray]:
        """Stored blobs for float32 (n, d) vectors, and float32 (n, d) of what the Index is fed."""
        if self.config.keep_originals:
            stored = X.astype("<" + ("f2" if self.config.keep_originals == "float16" else "f4"))
            return [row.tobytes() for row in stored], stored.astype(np.float32)
        codes = self.storage_codec.encode(prepare_for_metric(X, self.metric))
        return [row.tobytes() for row in codes], self.storage_codec.decode(codes)

    def from_blobs(self, blobs: list[bytes]) -> np.ndarray:
        """float32 (n, d) for stored blobs: the originals, or the decoded codes."""
        raw = b"".join(blobs)
        if self.config.keep_originals:
            dtype = "<f2" if self.config.keep_originals == "float16" else "<f4"
            return np.frombuffer(raw, dtype=dtype).reshape(len(blobs), self.config.dimension).astype(np.float32)
        codec = self.storage_codec
        if codec.dim_ is None:
            codec.fit(np.zeros((1, self.config.dimension), np.float32))  # data-free: records the dimension
        codes = np.frombuffer(raw, dtype=np.uint8).reshape(len(blobs), codec.bytes_per_vector(self.config.dimension))
        return codec.decode(codes)

    # ----- publishing (writer thread only) ------------------------------------------------
    @contextmanager
    def _exclusive(self):
        """The write lock, the filters' rows dropped first: a write that fails part way leaves none behind."""
        with self.lock.write():
            self._filter_masks.clear()
            yield

    @contextmanager
    def changing(self):
        """Around the making of committed records searchable: one that raises part way leaves the Index
        unlike the records until it is rebuilt (a restart, or a fit), so it is not checkpointed meanwhile."""
        try:
            yield
        except BaseException:
            self.consistent = False
            raise

    def publish_upsert(self, ids: list[str], X: np.ndarray, payloads: list, replaced: dict, disk_delta: int) -> None:
        """Make a committed batch searchable. X: float32 (n, d) as stored; replaced: id -> the payload it held,
        for the ids that existed before."""
        with self._exclusive():
            self.index.add(X, ids=np.array(ids, dtype=object))
            for id_, payload in zip(ids, payloads):
                self.payloads.add(id_, payload, replaced.get(id_))
            self.tombstones += len(replaced)
            self.disk_bytes += disk_delta
            self._maybe_compact()

    def publish_delete(self, removed: dict, disk_delta: int) -> None:
        """Drop committed deletions; removed: id -> the payload it held."""
        with self._exclusive():
            if removed:
                self.index.remove(np.array(list(removed), dtype=object))
            for id_, payload in removed.items():
                self.payloads.remove(id_, payload)
            self.tombstones += len(removed)
            self.disk_bytes += disk_delta
            self._maybe_compact()

    def publish_paths(self, built) -> None:
        """Take in payload paths indexed from every record held now (`PayloadIndex.build`)."""
        with self._exclusive():
            self.payloads.adopt(built)

    def publish_index(self, index: Index, fitted_codec: Codec | None) -> None:
        """Swap in an Index rebuilt elsewhere (after fitting a codec)."""
        with self._exclusive():
            self.index, self.fitted_codec, self.tombstones, self.checkpoint = index, fitted_codec, 0, None
            self.consistent = True  # made from every record

    def _maybe_compact(self) -> None:
        if self.tombstones > max(4096, len(self.index)):
            self._compact()

    def _compact(self) -> None:
        self.index.compact()
        self.tombstones, self.checkpoint = 0, None  # no record changed: the next stop saves the compacted Index
        _ = "" in self.index  # rebuilds the Index's id lookup here, under the write lock, not in a reader

    def compact(self) -> None:
        with self._exclusive():
            self._compact()

    # ----- reading -------------------------------------------------------------------------
    def filter_mask(self, flt: dict, match: Callable[[], set]) -> tuple[np.ndarray | None, int]:
        """(boolean mask over the Index's live rows in `ids()` order of the records filter `flt` matches, or None
        where it matches every record; how many it matches), `match()` giving the ids. Call under the read lock.

        The rows of the most recently used filters are kept, as bits, until the next write: turning a
        filter's ids into rows costs a dictionary lookup an id, which a search that repeats a filter (a
        tenant, a category) then does not pay again. In a scratch timing at 1M records, a search with
        10,000 matching ids took 11.4 ms by its ids and 0.9 ms by the kept bits; with 100, 0.7 ms either way."""
        key = _filter_key(flt)
        with self._filter_masks_lock:
            kept = self._filter_masks.get(key)
            if kept is not None:
                self._filter_masks.move_to_end(key)
        if kept is not None:
            packed, count = kept
            return (None if packed is None else np.unpackbits(packed, count=self.count()).view(bool)), count
        ids = match()
        if not ids:
            return np.zeros(self.count(), dtype=bool), 0
        mask = None if len(ids) == self.count() else self.index.mask(ids)
        size = self.count() // 8 + 1
        if key is not None and size <= FILTER_CACHE_BYTES:
            with self._filter_masks_lock:
                self._filter_masks[key] = (None if mask is None else np.packbits(mask), len(ids))
                while len(self._filter_masks) > min(FILTER_CACHE_ENTRIES, FILTER_CACHE_BYTES // size):
                    self._filter_masks.popitem(last=False)
        return mask, len(ids)

    def filter_cache_bytes(self) -> int:
        """RAM the kept filter rows take."""
        with self._filter_masks_lock:
            return sum(0 if packed is None else packed.nbytes for packed, _ in self._filter_masks.values())

    def count(self) -> int:
        return len(self.index)

    def memory(self) -> dict:
        usage = self.index.memory_usage()
        return {"ram_bytes": int(usage["ram_bytes"]) + self.filter_cache_bytes(), "disk_bytes": int(self.disk_bytes)}

    def fit_sample(self, X: np.ndarray) -> np.ndarray:
        """At most FIT_ROWS seeded rows of X for fitting a codec."""
        if len(X) <= FIT_ROWS:
            return X
        rows = np.sort(np.random.default_rng(0).choice(len(X), FIT_ROWS, replace=False))
        return X[rows]
