"""`vectro.Index`: vectors kept compressed in memory and on disk, searched on their codes.

    index = vectro.Index(384, codec="binary", rerank="int8")
    ids = index.add(X)                                   # int or string ids; upsert by id
    ids, scores = index.search(Q, k=10, oversampling=10) # (nq, 10) each, higher score is better
    index.save("docs.vxi"); index = vectro.Index.load("docs.vxi")

Search scores every live code (brute force, exact on the codes) or, with `ann="hnsw"`, walks an
HNSW graph for candidates (vectro's own over the codes, or FAISS's: see `index/ann.py`); either
way the top `k * oversampling` candidates are re-scored with the finer `rerank` representation
when one is kept. Scores: cosine, inner product, or negative squared L2.

`metric="hamming"` (codec "binary" only) ranks by the Hamming distance between the sign bits of
the query and the stored bits, a popcount scan over 64-bit words; the score is minus the
distance (higher is better, as for every metric), ties go to the row added first. With a
`rerank` codec the Hamming scan is the first stage only: its candidates are re-ranked, and
scored, by cosine similarity on the finer representation (sign bits estimate angles).

Training is explicit, as in FAISS: a codec that learns from data (`int8-dim`, `pca:D+...`,
`rq:B`, `pq:M`, ...) must be fitted by `index.train(X)` on representative vectors before the
first `add()`, so no accident of the first batch decides the fit; `train()` on an index that
already holds vectors is refused, because refitting would silently change what their stored
codes mean. Data-free codecs (`int8`, `binary`, `float16`, ...) need no training. A codec
object passed in is never changed: a fitted one is used as it is, an unfitted one is cloned.

Threads: any number of threads may search while one or more threads add, remove or compact
(writers take turns on a lock). Each search works on the snapshot of the index published by
the last completed write when it started: it sees every vector of that write and none of a
later one, and never a half-finished write. An id filter resolves ids against the newest id
map, so an id removed or replaced after the search began counts as absent.
"""

from __future__ import annotations

import datetime as _dt
import math
import threading
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .. import kernels
from .._validation import as_matrix, as_vector_or_matrix
from ..codecs.base import BLOCK_ROWS, Codec, own_codec
from ..compressed import METRICS, _check_metric
from ..errors import FormatError, VectroError
from ..format import container, remote
from ..metrics.evaluate import prepare_for_metric
from ..metrics.ranking import metric_scores, top_k
from .ann import HNSW
from .store import IdMap, IdView, PayloadStore, RowStore, as_mask

INDEX_FORMAT = "vectro-index"
# scores held at once while scanning (queries x rows of one block): 16 MB
SCORES_PER_BLOCK = 4 << 20
# the deepest top-k a one-pass scan keeps (a heap per query and thread); deeper ones go block by block
FUSED_DEPTH = 4096
# Index metrics: the float ones, and Hamming distance on a binary codec's bits
INDEX_METRICS = METRICS + ("hamming",)


class _Snapshot(NamedTuple):
    """What one search reads: arrays that no later write changes (see RowStore and IdView)."""

    codes: np.ndarray  # uint8 (rows, bytes per vector)
    sq_norms: np.ndarray  # float32 (rows,): |x_hat|^2 of the primary codes
    rerank: np.ndarray | None  # uint8 (rows, re-rank bytes per vector)
    rerank_sq_norms: np.ndarray | None
    ids: IdView
    graph: object  # the graph (ann.Links or a FAISS index) holding these rows (and maybe later ones), or None
    payloads: dict  # row -> payload; later writes add rows, and compaction publishes a new dict
    graph_rows: tuple | None  # the codes as vectro's graph walks them (HNSW.rows), or None


class Index:
    """A searchable set of compressed vectors with ids; see the module docstring."""

    def __init__(self, dim: int, codec: str | Codec = "int8", metric: str = "cosine", rerank: str | Codec | None = None,
                 ann: str | None = None, hnsw_m: int = 32, ef_construction: int = 80, ef_search: int = 64):
        if np.ndim(dim) == 2:  # Index(X): the vectors where the dimension goes
            raise VectroError(f"Index takes the dimension, not the vectors: Index({np.shape(dim)[1]}, codec=...), "
                              "then index.train(X) for a codec that learns from data, and index.add(X)")
        if not isinstance(dim, (int, np.integer)) or dim < 1:
            raise VectroError(f"dim must be a positive integer, got {dim!r}")
        self.dim, self.metric = int(dim), _check_metric(metric, INDEX_METRICS)
        # codecs given fitted are used as they are, also by train(): it fits only what is not fitted
        self._given_fitted = (isinstance(codec, Codec) and codec.is_fitted,
                              isinstance(rerank, Codec) and rerank.is_fitted)
        self.codec = self._own(codec)
        if self.metric == "hamming" and self.codec.spec != "binary":
            raise VectroError(f"metric 'hamming' compares sign bits: it needs codec='binary', not "
                              f"{self.codec.spec!r}; use metric 'cosine', 'ip' or 'l2' with this codec")
        self.rerank_codec = None if rerank is None else self._own(rerank)
        if ann not in (None, "hnsw"):
            raise VectroError(f"unknown ann mode {ann!r}; use None (brute force) or 'hnsw'")
        self.ann = HNSW(self.dim, self.codec, metric, hnsw_m, ef_construction, ef_search) if ann else None
        self._codes = RowStore(width=self.codec.bytes_per_vector(self.dim))
        self._sq_norms = RowStore(width=1, dtype=np.float32)  # |x_hat|^2 per row (cosine and L2 scores)
        fine = self.rerank_codec
        self._rerank = RowStore(spill=fine is not None and fine.spec == "float32",
                                width=fine.bytes_per_vector(self.dim) if fine else 0)
        self._rerank_sq_norms = RowStore(width=1, dtype=np.float32)  # the same for the re-rank representation
        self._ids = IdMap()
        self._payloads = PayloadStore()
        self._write_lock = threading.RLock()  # one writer at a time
        self._graph_lock = threading.Lock()  # FAISS graphs are not safe to search while they grow
        self._unverified: dict = {}  # memory-mapped sections whose checksum is checked on first use
        self._path: Path | None = None
        self._publish()

    def _own(self, codec) -> Codec:
        """The caller's codec, never changed: fitted ones as they are, others cloned; data-free ones get d."""
        codec = own_codec(codec, self.dim)
        if not codec.is_fitted and not codec.trainable:
            codec.fit(np.zeros((1, self.dim), dtype=np.float32))  # records the dimension only
        return codec

    def _publish(self) -> None:
        """Make the current state what new searches read (called by writers holding the lock)."""
        fine = self.rerank_codec is not None
        codes, sq_norms = self._codes.view(), self._sq_norms.view()[:, 0]
        self._snap = _Snapshot(codes, sq_norms, self._rerank.view() if fine else None,
                               self._rerank_sq_norms.view()[:, 0] if fine else None,
                               self._ids.view(), self.ann.index if self.ann else None, self._payloads.by_row,
                               self.ann.rows(codes, sq_norms) if self.ann and self.ann.own else None)

    def _snapshot(self, lookup: bool = False) -> _Snapshot:
        """The published snapshot; with `lookup`, one whose id map can resolve ids (built once, under the lock)."""
        if self._unverified:
            self._verify_sections()
        snap = self._snap
        if lookup and snap.ids.lookup is None:
            with self._write_lock:
                self._snap = snap = snap._replace(ids=self._ids.view(lookup=True))
        return snap

    def _verify_sections(self) -> None:
        """Check the CRC-32 of the large sections `load` left unread (once; a mismatch raises FormatError)."""
        with self._write_lock:
            for name in list(self._unverified):
                container.check_section(self._path, self._unverified[name])
                del self._unverified[name]

    # ----- size and memory ---------------------------------------------------------------------
    def __len__(self) -> int:
        return self._snap.ids.live_count

    def __repr__(self) -> str:
        rerank = f", rerank={self.rerank_codec.spec!r}" if self.rerank_codec else ""
        ann = ", ann='hnsw'" if self.ann else ""
        return f"Index(dim={self.dim}, codec={self.codec.spec!r}, metric={self.metric!r}{rerank}{ann}, n={len(self)})"

    def memory_usage(self) -> dict:
        """Bytes held in RAM and in memory-mapped files, by part."""
        parts = {"codes": self._codes, "rerank": self._rerank, "norms": self._sq_norms,
                 "rerank_norms": self._rerank_sq_norms}
        ram = {name: store.ram_bytes for name, store in parts.items()}
        disk = {name: store.mapped_bytes for name, store in parts.items()}
        ram["ids"] = self._ids.nbytes
        ram["ann"] = self.ann.nbytes if self.ann else 0
        rows = max(self._codes.rows, 1)
        return {"ram_bytes": sum(ram.values()), "mapped_bytes": sum(disk.values()), "ram": ram, "mapped": disk,
                "ram_bytes_per_vector": sum(ram.values()) / rows}

    # ----- writing --------------------------------------------------------------------------
    @property
    def _vector_metric(self) -> str:
        """The metric float scores use: Hamming's re-rank stage scores by cosine (unit vectors)."""
        return "cosine" if self.metric == "hamming" else self.metric

    def _prepare(self, vectors, name="vectors") -> np.ndarray:
        return prepare_for_metric(as_matrix(vectors, name, self.dim), self._vector_metric)

    @property
    def is_trained(self) -> bool:
        """Whether vectors can be added: every codec fitted (FAISS's is_trained)."""
        return self.codec.is_fitted and (self.rerank_codec is None or self.rerank_codec.is_fitted)

    def train(self, vectors, seed: int = 0, progress=None) -> "Index":
        """Fit the codecs (and the HNSW graph's quantiser) on representative vectors (n, d), before any add().

        Refused once the index holds vectors: their codes were made by the current fit. A codec that was
        given fitted stays as it was (only the graph learns). `progress(done, total)` follows the
        codec's fit steps (see Codec.fit).
        """
        X = self._prepare(vectors)
        with self._write_lock:
            if self._codes.rows:
                raise VectroError(
                    f"this index already holds {self._codes.rows} encoded vectors; training again would change "
                    "what their codes mean. Train before the first add(), or build a new Index, train it and "
                    "add the vectors again"
                )
            if not self._given_fitted[0]:
                self.codec = self.codec.clone().fit(X, seed=seed, progress=progress)  # a copy: the caller's stays
            if self.rerank_codec is not None and not self._given_fitted[1]:
                self.rerank_codec = self.rerank_codec.clone().fit(X, seed=seed)
            if self.ann is not None:
                self.ann.train(X, self.codec)
            self._publish()
        return self

    def add(self, vectors, ids=None, payloads=None) -> np.ndarray:
        """Add vectors (n, d); `ids` (n,) ints or strings, default consecutive ints. Existing ids are replaced.

        payloads: optional list of n JSON-serialisable values (dicts, usually) kept with the vectors.
        """
        X = self._prepare(vectors)
        payloads = PayloadStore.check(payloads, len(X))
        if not self.is_trained:
            untrained = self.codec if not self.codec.is_fitted else self.rerank_codec
            raise VectroError(
                f"codec {untrained.spec!r} learns from data: call index.train(X) on representative vectors "
                "(a sample of 10,000 or more is typical) before add()"
            )
        codes = self.codec.encode(X)  # encoding needs no lock: fitted codecs are never changed
        norms = _decoded_sq_norms(self.codec, codes)
        fine = fine_norms = None
        if self.rerank_codec is not None:
            fine = self.rerank_codec.encode(X)
            fine_norms = _decoded_sq_norms(self.rerank_codec, fine)
        return self._append(ids, codes, norms, fine, fine_norms, payloads, X)

    def add_codes(self, codes, ids=None) -> np.ndarray:
        """Add vectors already encoded by this index's fitted codec: uint8 (n, bytes_per_vector).

        The bytes are stored as given (no decode and re-encode), so codes read from another tool
        (FAISS, Parquet) keep their exact values. Indexes with a re-rank codec need the float
        vectors: use `add`.
        """
        if self.rerank_codec is not None:
            raise VectroError("add_codes needs an index without a re-rank codec (it has no float vectors to encode)")
        if not self.is_trained:
            raise VectroError(f"codec {self.codec.spec!r} is not fitted: codes need the fitted codec that made them")
        codes = self.codec._check_codes(codes)
        graph_input = self.codec.decode(codes) if self.ann is not None else None
        return self._append(ids, codes, _decoded_sq_norms(self.codec, codes), None, None, None, graph_input)

    def _append(self, ids, codes, norms, fine, fine_norms, payloads, X) -> np.ndarray:
        """Store encoded rows (and their re-rank rows, payloads, graph entries) and publish them: one write.

        X: float32 (n, d) the HNSW graph learns the rows from (None without a graph)."""
        with self._write_lock:
            self._verify_sections()
            ids = self._ids.normalise(ids, len(codes))
            first_row = self._codes.rows
            self._codes.append(codes)
            self._sq_norms.append(norms)
            if fine is not None:
                self._rerank.append(fine)
                self._rerank_sq_norms.append(fine_norms)
            self._ids.assign(ids, np.arange(first_row, first_row + len(codes)))
            self._payloads.append(payloads, first_row)
            if self.ann is not None:
                with self._graph_lock:
                    self.ann.add(X, codes, self._codes.view(), self._sq_norms.view()[:, 0])
            self._publish()
        return ids

    def remove(self, ids) -> int:
        """Remove vectors by id (their rows become tombstones until `compact`); returns how many."""
        with self._write_lock:
            self._verify_sections()
            removed = self._ids.remove(ids)
            self._publish()
        return removed

    def compact(self) -> None:
        """Drop tombstoned rows, reclaiming their space (and rebuilding the HNSW graph)."""
        with self._write_lock:
            self._verify_sections()
            live = self._ids.live_rows()
            self._codes.keep(live)
            self._sq_norms.keep(live)
            if self.rerank_codec is not None:
                self._rerank.keep(live)
                self._rerank_sq_norms.keep(live)
            self._ids.renumber(live)
            self._payloads.keep(live)
            if self.ann is not None:
                with self._graph_lock:
                    self.ann.rebuild(self._codes.view(), self._sq_norms.view()[:, 0], live)
            self._publish()

    # ----- reading --------------------------------------------------------------------------
    def get(self, ids) -> np.ndarray:
        """Decompressed vectors (n, d) for ids, from the finest representation kept."""
        snap = self._snapshot(lookup=True)
        rows = snap.ids.rows_of(ids)
        if self.rerank_codec is not None:
            self._rerank.prefetch(rows)  # rows of a remote index are fetched when first read
            return self.rerank_codec.decode(np.asarray(snap.rerank[rows]))
        return self.codec.decode(np.asarray(snap.codes[rows]))

    def payloads(self, ids) -> list:
        """The payloads stored with ids (None where a vector was added without one)."""
        snap = self._snapshot(lookup=True)
        return [snap.payloads.get(int(row)) for row in snap.ids.rows_of(ids)]

    def __contains__(self, item) -> bool:
        return self._snapshot(lookup=True).ids.contains(item)

    def search(self, queries, k: int = 10, oversampling: float = 1.0, filter=None, ef: int | None = None):
        """Top-k (ids, scores) for one query (d,) -> shapes (k,), or a batch (nq, d) -> (nq, k).

        filter: an allow-list of ids, or a boolean mask over the index's rows in insertion order
        (`index.ids()` order); applied before the top-k, so k hits come back whenever k allowed
        vectors exist (with or without the HNSW graph). Missing places hold id -1 (None for
        string ids) and score -inf. Safe to call from many threads while others write.
        """
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise VectroError(f"k must be a positive integer, got {k!r}")
        if not oversampling >= 1:
            raise VectroError(f"oversampling must be >= 1, got {oversampling!r}")
        Q, single = as_vector_or_matrix(queries, "queries", self.dim)
        Q = prepare_for_metric(Q, self._vector_metric)
        mask = None if filter is None else as_mask(filter)
        if mask is not None:
            filter = mask
        snap = self._snapshot(lookup=filter is not None and mask is None)
        allowed = snap.ids.allowed_rows(filter)  # None: every row
        n_allowed = snap.ids.rows if allowed is None else int(allowed.sum())
        depth = max(k, math.ceil(k * oversampling)) if self.rerank_codec is not None or self.ann else k
        if snap.graph is not None and self.ann.worth_using(n_allowed, depth):
            rows, scores = self._graph_candidates(snap, Q, depth, allowed, ef, min(k, n_allowed))
            if self.rerank_codec is None and scores is None:
                scores = self._rescore(self.codec, snap.codes, snap.sq_norms, Q, rows)
        else:
            rows, scores = self._scan(snap, Q, depth, allowed)
        if self.rerank_codec is not None and rows.shape[1]:
            self._rerank.prefetch(rows[rows >= 0])  # a remote index fetches just the candidates' rows
            scores = self._rescore(self.rerank_codec, snap.rerank, snap.rerank_sq_norms, Q, rows)
        rows, scores = kernels.best_candidates(rows, scores, k)
        if self.metric == "l2":
            scores = scores - np.einsum("ij,ij->i", Q, Q)[:, None]  # -|q - x|^2 exactly
        if rows.shape[1] < k:
            pad = k - rows.shape[1]
            rows = np.hstack([rows, np.full((len(rows), pad), -1)])
            scores = np.hstack([scores, np.full((len(scores), pad), -np.inf, np.float32)])
        ids = snap.ids.ids_of_rows(rows)
        return (ids[0], scores[0]) if single else (ids, scores)

    def _graph_candidates(self, snap: _Snapshot, Q, depth: int, allowed, ef, need: int) -> tuple:
        """Candidate rows (nq, depth) from the HNSW graph, -1 where missing, and their scores on the codes
        (None: the graph does not score the codes).

        The walk never returns rows added after the snapshot; a query the graph gives fewer than `need`
        usable rows (a selective filter strands the walk) is answered by an exact scan instead.
        vectro's graph is walked without the graph lock (see `ann.Links`); FAISS's is not safe to search
        while it grows.
        """
        args = (Q, depth, allowed, ef, snap.graph, snap.graph_rows, snap.ids.rows)
        if self.ann.own:
            rows, scores = self.ann.search(*args)
        else:
            with self._graph_lock:
                rows, scores = self.ann.search(*args)
        short = (rows >= 0).sum(axis=1) < need if rows.min() < 0 else None
        if short is not None and short.any():
            exact, exact_scores = self._scan(snap, Q[short], depth, allowed)
            at = (np.flatnonzero(short)[:, None], np.arange(exact.shape[1]))
            rows[short] = -1
            rows[at] = exact
            if scores is not None:
                scores[short] = -np.inf
                scores[at] = exact_scores
        return rows, scores

    def _scan(self, snap: _Snapshot, Q: np.ndarray, depth: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-depth over the allowed codes, block by block (never an nq x n matrix).

        A selective filter gathers just the allowed rows, so its cost follows the allowed count.
        """
        codes, sq_norms = snap.codes, snap.sq_norms
        if self.metric == "hamming":  # one compiled popcount scan with its own top-k, no score matrix
            rows, distances = kernels.hamming_top_k(self.codec.encode(Q), np.asarray(codes), depth, allowed)
            return rows, np.where(rows >= 0, -distances, -np.inf).astype(np.float32)
        fused = self._fused_scan(snap, Q, depth, allowed)
        if fused is not None:
            return fused
        candidates = None if allowed is None else np.flatnonzero(allowed)
        contiguous = candidates is None or len(candidates) > 0.5 * len(allowed)
        best_rows = np.full((len(Q), 0), -1, dtype=np.int64)
        best_scores = np.full((len(Q), 0), -np.inf, dtype=np.float32)
        total = len(codes) if contiguous else len(candidates)
        # few queries: large blocks (one kernel call, one top-k); many: blocks the BLAS product fits
        block = max(BLOCK_ROWS, SCORES_PER_BLOCK // len(Q))
        for start in range(0, total, block):
            if contiguous:
                rows = np.arange(start, min(start + block, total))
                block_codes = np.asarray(codes[start : start + block])
            else:
                rows = candidates[start : start + block]
                block_codes = np.asarray(codes[rows])
            S = metric_scores(self.codec.inner_products(Q, block_codes), sq_norms[rows], self.metric)
            if contiguous and allowed is not None:
                S[:, ~allowed[rows]] = -np.inf
            local, scores = top_k(S, min(depth, len(rows)))
            found = np.where(np.isfinite(scores), rows[local], -1)
            best_rows, best_scores = _merge(best_rows, best_scores, found, scores, depth)
        return best_rows, best_scores

    def _fused_scan(self, snap: _Snapshot, Q: np.ndarray, depth: int, allowed: np.ndarray | None) -> tuple | None:
        """`_scan`'s answer from one compiled pass that scores and selects (`kernels.scan_top_k`), for a
        few queries over codes a kernel scores in place, kept in one contiguous array (`coded_rows` would
        copy others); None: `_scan` does it block by block."""
        if len(Q) > kernels.IN_PLACE_QUERIES or depth > FUSED_DEPTH or not kernels.native():
            return None
        kernel = self.codec.row_kernel()
        codes = np.asarray(snap.codes)
        if kernel is None or not codes.flags.c_contiguous:
            return None
        Q = Q if kernel.prepare is None else kernel.prepare(Q)
        return kernels.scan_top_k(kernels.coded_rows(kernel, codes, snap.sq_norms, self.metric), Q, depth, allowed)

    def _rescore(self, codec: Codec, codes: np.ndarray, sq_norms: np.ndarray, Q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Scores of each query against its own candidate rows (nq, c); rows of -1 score -inf."""
        if not rows.shape[1]:
            return np.zeros(rows.shape, dtype=np.float32)
        missing = rows.min() < 0
        safe = np.where(rows >= 0, rows, 0) if missing else rows
        if self.metric == "hamming" and codec is self.codec:  # graph candidates of a Hamming index
            query_words = kernels.as_words(codec.encode(Q))[:, None, :]
            distances = kernels.popcount(kernels.as_words(np.asarray(codes[safe.ravel()])).reshape(
                *safe.shape, -1) ^ query_words).sum(axis=2)
            scores = -distances.astype(np.float32)
        else:
            scores = metric_scores(codec.score_candidates(Q, codes, safe), sq_norms[safe], self._vector_metric)
        if missing:
            scores[rows < 0] = -np.inf
        return scores.astype(np.float32, copy=False)

    def ids(self) -> np.ndarray:
        """Live ids in insertion order."""
        view = self._snap.ids
        return view.ids_of_rows(view.live_rows()[None, :])[0]

    def mask(self, ids) -> np.ndarray:
        """Boolean mask over the live vectors in `ids()` order, True for those of `ids` the index holds: a
        search filter to reuse while the index does not change (an id list is looked up anew on every
        search, a dictionary lookup an id)."""
        if ids is None or as_mask(ids) is not None:
            raise VectroError("Index.mask takes ids (a list, set or array of them)")
        return self._snapshot(lookup=True).ids.live_mask(ids)

    def codes(self) -> np.ndarray:
        """The primary codes of the live vectors, uint8 (len(self), bytes_per_vector), in `ids()` order."""
        snap = self._snapshot()
        return np.asarray(snap.codes[snap.ids.live_rows()])

    # ----- persistence ------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the index atomically to one file (codes, ids, rerank data, HNSW graph); `path` may
        be an fsspec URL (s3://...), written locally and then uploaded."""
        meta, arrays = self.to_container()
        if remote.is_url(path):
            with remote.local_then_upload(str(path)) as local:
                container.write_container(local, meta, arrays)
            return path
        path = Path(path)
        container.write_container(path, meta, arrays)
        return path

    def to_container(self) -> tuple[dict, dict]:
        """(header metadata, {section name: array}) of the index, for `container.write_container`;
        callers may add sections of their own (the index ignores unknown ones when loading)."""
        from .. import __version__

        with self._write_lock:  # writers wait; searches go on
            self._verify_sections()
            arrays = {"codes": np.asarray(self._codes.view()), "sq_norms": np.asarray(self._sq_norms.view()),
                      **self._ids.to_arrays()}
            for prefix, codec in (("codec", self.codec), ("rerank_codec", self.rerank_codec)):
                if codec is not None and codec.is_fitted:
                    arrays.update({f"{prefix}/{k}": v for k, v in codec.state()["arrays"].items()})
            arrays.update(self._payloads.to_arrays())
            if self.rerank_codec is not None:
                arrays["rerank"] = np.asarray(self._rerank.view())
                arrays["rerank_sq_norms"] = np.asarray(self._rerank_sq_norms.view())
            if self.ann is not None:
                with self._graph_lock:
                    arrays["ann"] = self.ann.serialise()
            meta = {
                "format": INDEX_FORMAT, "dim": self.dim, "metric": self.metric, "rows": self._codes.rows,
                "codec": {"spec": self.codec.spec, "dim": self.codec.dim_},
                "rerank_codec": None if self.rerank_codec is None else
                {"spec": self.rerank_codec.spec, "dim": self.rerank_codec.dim_},
                "ann": None if self.ann is None else self.ann.params(),
                "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "vectro_version": __version__,
            }
        return meta, arrays

    @classmethod
    def load(cls, path, mmap: bool = True, verify: bool = True) -> "Index":
        """Open a saved index; codes and rerank data stay memory-mapped (copied on the first write).

        verify: check every section's CRC-32; memory-mapped codes are checked on the first search
        or write instead of at load (a FormatError then), so opening a large index reads little.
        `path` may be an fsspec URL (s3://...): the codes are fetched by range requests and the
        re-rank vectors only for the candidates each search re-scores."""
        if remote.is_url(path):
            header, arrays = remote.read_container(str(path), lazy=("rerank",), verify=verify)
            return cls._from_parts(path, header, arrays)
        path = Path(path)
        if not path.is_file():
            raise VectroError(f"index file {path} does not exist")
        # memory-mapped, the large row sections are checked on first use rather than read through now
        header, arrays, unverified = container.read_container(path, mmap=mmap, verify=verify,
                                                              lazy=("codes", "rerank") if mmap else ())
        try:
            index = cls._from_parts(path, header, arrays)
            index._unverified, index._path = unverified, path
            return index
        except FormatError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:  # a header naming wrong parts
            raise FormatError(f"{path} is not a readable vectro index: {type(exc).__name__}: {exc}") from exc

    @classmethod
    def from_container(cls, header: dict, arrays: dict) -> "Index":
        """The index `to_container` described (arrays may be memory maps or lazily read rows)."""
        return cls._from_parts("the index", header, arrays)

    @classmethod
    def _from_parts(cls, path, header: dict, arrays: dict) -> "Index":
        if header.get("format") != INDEX_FORMAT:
            raise FormatError(f"{path} is a .vectro file but not an index (format {header.get('format')!r})")
        ann = header.get("ann")
        index = cls(header["dim"], header["codec"]["spec"], header["metric"],
                    rerank=(header["rerank_codec"] or {}).get("spec"), ann="hnsw" if ann else None,
                    **(ann or {}))
        for prefix, codec in (("codec", index.codec), ("rerank_codec", index.rerank_codec)):
            spec = header.get(prefix)
            if codec is not None and spec and spec["dim"] is not None:
                if spec["dim"] != index.dim:
                    raise FormatError(f"{path}: the {prefix} was fitted on {spec['dim']} dimensions, the index has {index.dim}")
                codec._load_state(spec["dim"], {k.split("/", 1)[1]: v for k, v in arrays.items()
                                                if k.startswith(prefix + "/")})
        n = len(arrays["alive"])
        parts = [("codes", index.codec, index._codes)]
        if index.rerank_codec is not None:
            parts.append(("rerank", index.rerank_codec, index._rerank))
        for name, codec, store in parts:
            expected = (n, codec.bytes_per_vector(index.dim))
            if arrays[name].shape != expected or arrays[name].dtype != np.uint8:
                raise FormatError(f"{path}: section {name!r} is {arrays[name].dtype} {arrays[name].shape}, "
                                  f"expected uint8 {expected}")
        for name in ("sq_norms",) + (("rerank_sq_norms",) if index.rerank_codec is not None else ()):
            if arrays[name].shape != (n, 1):
                raise FormatError(f"{path}: section {name!r} has shape {arrays[name].shape}, expected {(n, 1)}")
        index._codes = RowStore.wrap(arrays["codes"])
        index._sq_norms = RowStore.wrap(arrays["sq_norms"])
        if index.rerank_codec is not None:
            index._rerank = RowStore.wrap(arrays["rerank"], spill=index._rerank.spill)
            index._rerank_sq_norms = RowStore.wrap(arrays["rerank_sq_norms"])
        index._ids = IdMap.from_arrays(arrays)
        index._payloads = PayloadStore.from_arrays(arrays)
        if index.ann is not None:
            index.ann.deserialise(np.asarray(arrays["ann"]), n)
        index._publish()
        return index


def _decoded_sq_norms(codec: Codec, codes: np.ndarray) -> np.ndarray:
    """|x_hat|^2 of each encoded row, as a (n, 1) column for a RowStore."""
    decoded = codec.decode(codes)
    return np.einsum("ij,ij->i", decoded, decoded)[:, None]


def _merge(rows_a, scores_a, rows_b, scores_b, depth):
    return kernels.best_candidates(np.hstack([rows_a, rows_b]), np.hstack([scores_a, scores_b]), depth)


__all__ = ["Index", "METRICS"]
