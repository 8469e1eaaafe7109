"""`vectro.Index`: vectors kept compressed in memory and on disk, searched on their codes.

    index = vectro.Index(384, codec="binary", rerank="int8")
    ids = index.add(X)                                   # int or string ids; upsert by id
    ids, scores = index.search(Q, k=10, oversampling=10) # (nq, 10) each, higher score is better
    index.save("docs.vxi"); index = vectro.Index.load("docs.vxi")

Search scores every live code (brute force, exact on the codes) or, with `ann="hnsw"`, walks a
FAISS HNSW graph for candidates; either way the top `k * oversampling` candidates are re-scored
with the finer `rerank` representation when one is kept. Scores: cosine, inner product, or
negative squared L2.
"""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path

import numpy as np

from .._validation import as_matrix, as_vector_or_matrix
from ..codecs.base import BLOCK_ROWS, Codec, make_codec
from ..compressed import METRICS, _check_metric
from ..errors import FormatError, VectroError
from ..format import container, remote
from ..metrics.evaluate import prepare_for_metric
from ..metrics.ranking import top_k
from .ann import HNSW
from .store import IdMap, RowStore

INDEX_FORMAT = "vectro-index"
# scores held at once while scanning (queries x rows of one block): 16 MB
SCORES_PER_BLOCK = 4 << 20


class Index:
    """A searchable set of compressed vectors with ids; see the module docstring."""

    def __init__(self, dim: int, codec: str | Codec = "int8", metric: str = "cosine", rerank: str | None = None,
                 ann: str | None = None, hnsw_m: int = 32, ef_construction: int = 80, ef_search: int = 64):
        if not isinstance(dim, (int, np.integer)) or dim < 1:
            raise VectroError(f"dim must be a positive integer, got {dim!r}")
        self.dim, self.metric = int(dim), _check_metric(metric)
        self.codec = make_codec(codec)
        self.rerank_codec = None if rerank is None else make_codec(rerank)
        if ann not in (None, "hnsw"):
            raise VectroError(f"unknown ann mode {ann!r}; use None (brute force) or 'hnsw'")
        self.ann = HNSW(self.dim, self.codec, metric, hnsw_m, ef_construction, ef_search) if ann else None
        self._codes = RowStore()
        self._rerank = RowStore(spill=self.rerank_codec is not None and self.rerank_codec.spec == "float32")
        self._sq_norms = RowStore()  # |x_hat|^2 per row (for cosine and L2 scores), primary codes
        self._rerank_sq_norms = RowStore()  # the same for the re-rank representation
        self._ids = IdMap()

    # ----- size and memory ---------------------------------------------------------------------
    def __len__(self) -> int:
        return self._ids.live_count

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
    def _prepare(self, vectors, name="vectors") -> np.ndarray:
        return prepare_for_metric(as_matrix(vectors, name, self.dim), self.metric)

    def train(self, vectors) -> "Index":
        """Fit trainable codecs (pca, int8-dim, ...) on representative vectors before adding."""
        X = self._prepare(vectors)
        self.codec.fit(X)
        if self.rerank_codec is not None:
            self.rerank_codec.fit(X)
        return self

    def add(self, vectors, ids=None) -> np.ndarray:
        """Add vectors (n, d); `ids` (n,) ints or strings, default consecutive ints. Existing ids are replaced."""
        X = self._prepare(vectors)
        ids = self._ids.normalise(ids, len(X))
        for codec in (self.codec, self.rerank_codec):
            if codec is not None and codec.dim_ is None:  # first add: trainable codecs learn from it
                codec.fit(X if codec.trainable else X[:1])
        codes = self.codec.encode(X)
        fine = None if self.rerank_codec is None else self.rerank_codec.encode(X)
        self._append(codes, ids, X, fine)
        return ids

    def add_codes(self, codes, ids=None) -> np.ndarray:
        """Add vectors already encoded by this index's (fitted) codec: uint8 (n, bytes_per_vector).

        The bytes are stored as given (no decode and re-encode), so codes read from another tool
        (FAISS, Parquet) keep their exact values. Indexes with a re-rank codec need the float
        vectors: use `add`.
        """
        if self.rerank_codec is not None:
            raise VectroError("add_codes needs an index without a re-rank codec (it has no float vectors to encode)")
        codes = self.codec._check_codes(codes)
        ids = self._ids.normalise(ids, len(codes))
        self._append(codes, ids, self.codec.decode(codes) if self.ann is not None else None, None)
        return ids

    def _append(self, codes: np.ndarray, ids: np.ndarray, X: np.ndarray | None, fine: np.ndarray | None) -> None:
        first_row = self._codes.rows
        self._codes.append(codes)
        self._sq_norms.append(_decoded_sq_norms(self.codec, codes))
        if fine is not None:
            self._rerank.append(fine)
            self._rerank_sq_norms.append(_decoded_sq_norms(self.rerank_codec, fine))
        self._ids.assign(ids, np.arange(first_row, first_row + len(codes)))
        if self.ann is not None:
            self.ann.add(X, codes)

    def remove(self, ids) -> int:
        """Remove vectors by id (their rows become tombstones until `compact`); returns how many."""
        return self._ids.remove(ids)

    def compact(self) -> None:
        """Drop tombstoned rows, reclaiming their space (and rebuilding the HNSW graph)."""
        live = self._ids.live_rows()
        self._codes.keep(live)
        self._sq_norms.keep(live)
        if self.rerank_codec is not None:
            self._rerank.keep(live)
            self._rerank_sq_norms.keep(live)
        self._ids.renumber(live)
        if self.ann is not None:
            self.ann.rebuild(self._codes.view(), self.codec, live)

    # ----- reading --------------------------------------------------------------------------
    def get(self, ids) -> np.ndarray:
        """Decompressed vectors (n, d) for ids, from the finest representation kept."""
        rows = self._ids.rows_of(ids)
        if self.rerank_codec is not None:
            self._rerank.prefetch(rows)
            return self.rerank_codec.decode(np.asarray(self._rerank.view()[rows]))
        return self.codec.decode(np.asarray(self._codes.view()[rows]))

    def __contains__(self, item) -> bool:
        return self._ids.contains(item)

    def search(self, queries, k: int = 10, oversampling: float = 1.0, filter=None, ef: int | None = None):
        """Top-k (ids, scores) for one query (d,) -> shapes (k,), or a batch (nq, d) -> (nq, k).

        filter: an allow-list of ids, or a boolean mask over the index's rows in insertion order
        (`index.ids()` order); applied before the top-k, so k hits come back whenever k allowed
        vectors exist. Missing places hold id -1 (None for string ids) and score -inf.
        """
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise VectroError(f"k must be a positive integer, got {k!r}")
        if not oversampling >= 1:
            raise VectroError(f"oversampling must be >= 1, got {oversampling!r}")
        Q, single = as_vector_or_matrix(queries, "queries", self.dim)
        Q = prepare_for_metric(Q, self.metric)
        allowed = self._ids.allowed_rows(filter, self._codes.rows)  # None: every row
        n_allowed = self._codes.rows if allowed is None else int(allowed.sum())
        depth = max(k, math.ceil(k * oversampling)) if self.rerank_codec is not None or self.ann else k
        if self.ann is not None and self.ann.worth_using(n_allowed, depth):
            rows = self.ann.search(Q, depth, allowed, ef)
            if self.rerank_codec is None:
                scores = self._rescore(self.codec, self._codes, self._sq_norms, Q, rows)
        else:
            rows, scores = self._scan(Q, depth, allowed)
        if self.rerank_codec is not None:
            scores = self._rescore(self.rerank_codec, self._rerank, self._rerank_sq_norms, Q, rows)
        order = np.lexsort((rows, -scores), axis=1)[:, :k]
        picked = np.arange(len(rows))[:, None], order
        rows, scores = rows[picked], scores[picked]
        if self.metric == "l2":
            scores = scores - np.einsum("ij,ij->i", Q, Q)[:, None]  # -|q - x|^2 exactly
        if rows.shape[1] < k:
            pad = k - rows.shape[1]
            rows = np.hstack([rows, np.full((len(rows), pad), -1)])
            scores = np.hstack([scores, np.full((len(scores), pad), -np.inf, np.float32)])
        ids = self._ids.ids_of_rows(rows)
        return (ids[0], scores[0]) if single else (ids, scores)

    def _metric_scores(self, inner: np.ndarray, sq_norms: np.ndarray) -> np.ndarray:
        """Inner products -> the metric's higher-is-better score, given |x_hat|^2 of each column."""
        if self.metric == "l2":
            return 2 * inner - sq_norms  # -|q - x|^2 + |q|^2: the same order for each query
        if self.metric == "cosine":
            return inner / np.sqrt(np.maximum(sq_norms, 1e-30))
        return inner

    def _scan(self, Q: np.ndarray, depth: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-depth over the allowed codes, block by block (never an nq x n matrix).

        A selective filter gathers just the allowed rows, so its cost follows the allowed count.
        """
        codes, sq_norms = self._codes.view(), self._sq_norms.view()[:, 0] if self._codes.rows else None
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
            S = self._metric_scores(self.codec.score(Q, block_codes), sq_norms[rows])
            if contiguous and allowed is not None:
                S[:, ~allowed[rows]] = -np.inf
            local, scores = top_k(S, min(depth, len(rows)))
            found = np.where(np.isfinite(scores), rows[local], -1)
            best_rows, best_scores = _merge(best_rows, best_scores, found, scores, depth)
        return best_rows, best_scores

    def _rescore(self, codec: Codec, store: RowStore, sq_norms: RowStore, Q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Scores of each query against its own candidate rows (nq, c); rows of -1 score -inf."""
        safe = np.where(rows >= 0, rows, 0)
        store.prefetch(safe)
        inner = codec.score_candidates(Q, store.view(), safe)
        scores = self._metric_scores(inner, sq_norms.view()[safe, 0])
        scores[rows < 0] = -np.inf
        return scores.astype(np.float32, copy=False)

    def ids(self) -> np.ndarray:
        """Live ids in insertion order."""
        return self._ids.ids_of_rows(self._ids.live_rows()[None, :])[0]

    def codes(self) -> np.ndarray:
        """The primary codes of the live vectors, uint8 (len(self), bytes_per_vector), in `ids()` order."""
        return np.asarray(self._codes.view()[self._ids.live_rows()])

    # ----- persistence ------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the index atomically to one file (codes, ids, rerank data, HNSW graph)."""
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

        arrays = {"codes": np.asarray(self._codes.view()), "sq_norms": np.asarray(self._sq_norms.view()),
                  **self._ids.to_arrays()}
        for prefix, codec in (("codec", self.codec), ("rerank_codec", self.rerank_codec)):
            if codec is not None and codec.dim_ is not None:
                arrays.update({f"{prefix}/{k}": v for k, v in codec.state()["arrays"].items()})
        if self.rerank_codec is not None:
            arrays["rerank"] = np.asarray(self._rerank.view())
            arrays["rerank_sq_norms"] = np.asarray(self._rerank_sq_norms.view())
        if self.ann is not None:
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

        `path` may be an fsspec URL (s3://...): the codes are fetched by range requests and the
        re-rank vectors only for the candidates each search re-scores.
        """
        if remote.is_url(path):
            header, arrays = remote.read_container(str(path), lazy=("rerank",), verify=verify)
        else:
            path = Path(path)
            if not path.is_file():
                raise VectroError(f"index file {path} does not exist")
            header, arrays = container.read_container(path, mmap=mmap, verify=verify)
        if header.get("format") != INDEX_FORMAT:
            raise FormatError(f"{path} is a .vectro file but not an index (format {header.get('format')!r})")
        return cls.from_container(header, arrays)

    @classmethod
    def from_container(cls, header: dict, arrays: dict) -> "Index":
        """The index `to_container` described (arrays may be memory maps or lazily read rows)."""
        ann = header.get("ann")
        index = cls(header["dim"], header["codec"]["spec"], header["metric"],
                    rerank=(header["rerank_codec"] or {}).get("spec"), ann="hnsw" if ann else None,
                    **(ann or {}))
        for prefix, codec in (("codec", index.codec), ("rerank_codec", index.rerank_codec)):
            spec = header.get(prefix)
            if codec is not None and spec and spec["dim"] is not None:
                codec._load_state(spec["dim"], {k.split("/", 1)[1]: v for k, v in arrays.items()
                                                if k.startswith(prefix + "/")})
        index._codes = RowStore.wrap(arrays["codes"])
        index._sq_norms = RowStore.wrap(arrays["sq_norms"])
        if index.rerank_codec is not None:
            index._rerank = RowStore.wrap(arrays["rerank"], spill=index._rerank.spill)
            index._rerank_sq_norms = RowStore.wrap(arrays["rerank_sq_norms"])
        index._ids = IdMap.from_arrays(arrays)
        if index.ann is not None:
            index.ann.deserialise(np.asarray(arrays["ann"]))
        return index


def _decoded_sq_norms(codec: Codec, codes: np.ndarray) -> np.ndarray:
    """|x_hat|^2 of each encoded row, as a (n, 1) column for a RowStore."""
    decoded = codec.decode(codes)
    return np.einsum("ij,ij->i", decoded, decoded)[:, None]


def _merge(rows_a, scores_a, rows_b, scores_b, depth):
    rows = np.hstack([rows_a, rows_b])
    scores = np.hstack([scores_a, scores_b])
    order = np.lexsort((rows, -scores), axis=1)[:, :depth]
    return np.take_along_axis(rows, order, 1), np.take_along_axis(scores, order, 1)


__all__ = ["Index", "METRICS"]
