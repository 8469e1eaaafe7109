"""`evaluate`: what a codec lost on your data, measured against exact search on the originals."""

from __future__ import annotations

import numpy as np

from .._util import sample_rows
from .._validation import as_matrix, check_finite
from ..codecs.base import BLOCK_ROWS
from ..compressed import Compressed, _check_metric
from ..errors import VectroError
from .ranking import metric_scores, mrr_at_k, ndcg_at_k, recall_at_k, top_k

DEFAULT_QUERIES = 1000


def mean_cosine_similarity(a, b) -> float:
    """Mean row-wise cosine of a and b (n, d); all-zero on both sides counts 1.0, on one side 0.0."""
    return float(np.mean(row_cosines(as_matrix(a, "a"), as_matrix(b, "b", allow_empty=True))))


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of each row pair, float64 (n,), with the zero-vector conventions above."""
    if a.shape != b.shape:
        raise VectroError(f"cannot compare arrays of shapes {a.shape} and {b.shape}")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    na, nb = np.linalg.norm(a64, axis=1), np.linalg.norm(b64, axis=1)
    dots = np.einsum("ij,ij->i", a64, b64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = dots / (na * nb)
    cos[(na == 0) & (nb == 0)] = 1.0
    cos[(na == 0) ^ (nb == 0)] = 0.0
    return np.clip(cos, -1.0, 1.0)


def prepare_for_metric(X: np.ndarray, metric: str) -> np.ndarray:
    """Rows as the metric compares them: unit length for cosine (zero rows stay zero), else as given."""
    if metric != "cosine":
        return X
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms == 0, 1, norms)


# scores held at once while ranking one block of rows for every query
SCORE_BLOCK_BYTES = 32 << 20
# p5 cosine comes from a histogram of log10(1 - cosine): this many bins over [1e-12, 2]
P5_BINS = 8192


def _source(original, dim: int | None = None):
    """Any (n, d) input as a block reader; arrays and memory maps are validated block by block, not copied."""
    from ..format.inputs import ArraySource, VectorSource

    if isinstance(original, VectorSource):
        source = original
    elif isinstance(original, np.ndarray) and original.ndim == 2 and original.size and original.dtype.kind in "fiu":
        source = ArraySource("original", original)
    else:
        source = ArraySource("original", as_matrix(original, "original"))
    if dim is not None and source.dim != dim:
        raise VectroError(f"original has {source.dim} dimensions, expected {dim}")
    return source


def _gather(source, rows: np.ndarray) -> np.ndarray:
    """float32 rows (len(rows), d) of a source by row number (sorted unique rows read in one scan)."""
    from ..format.inputs import ArraySource

    if isinstance(source, ArraySource):
        block = np.ascontiguousarray(source.array[rows], dtype=np.float32)
        check_finite(block, str(source.path))
        return block
    unique, inverse = np.unique(rows, return_inverse=True)
    out, filled = np.empty((len(unique), source.dim), dtype=np.float32), 0
    for start, block in source.blocks():
        local = unique[(unique >= start) & (unique < start + len(block))] - start
        out[filled : filled + len(local)] = block[local]
        filled += len(local)
    return out[inverse]


def _block_rows(n_queries: int, block_rows: int | None) -> int:
    return block_rows or int(np.clip(SCORE_BLOCK_BYTES // (4 * max(n_queries, 1)), 256, BLOCK_ROWS))


class _TopK:
    """The running top-k ids per query over blocks of rows (ties: lower id first), as `top_k` on all rows.

    `extra` (nq, k) travels with the ids (the exact re-scoring scores of a shortlist); two _TopK
    over any split of the rows merge into what one pass over all of them gives.
    """

    def __init__(self, n_queries: int, k: int, metric: str, exclude: np.ndarray | None):
        self.k, self.metric, self.exclude = k, metric, exclude
        self.ids = np.full((n_queries, k), -1, dtype=np.int64)
        self.scores = np.full((n_queries, k), -np.inf, dtype=np.float32)
        self.extra = np.full((n_queries, k), -np.inf, dtype=np.float32)

    def add(self, inner: np.ndarray, sq_norms: np.ndarray, first_row: int, rescore=None) -> None:
        """inner: inner products (nq, rows) of the queries with rows first_row.., whose |x|^2 is sq_norms.
        rescore(local ids (nq, c)) -> (nq, c): the extra scores of this block's candidates."""
        inner = metric_scores(inner, sq_norms, self.metric)
        if self.exclude is not None:
            inside = (self.exclude >= first_row) & (self.exclude < first_row + inner.shape[1])
            inner[np.flatnonzero(inside), self.exclude[inside] - first_row] = -np.inf
        ids, scores = top_k(inner, self.k)
        extra = rescore(ids) if rescore is not None else np.full(ids.shape, -np.inf, dtype=np.float32)
        self.merge(np.where(ids >= 0, ids + first_row, -1), scores, extra)

    def merge(self, ids: np.ndarray, scores: np.ndarray, extra: np.ndarray) -> None:
        """Fold in another top list of dataset rows (ids -1: padding)."""
        all_ids, all_scores = np.hstack([self.ids, ids]), np.hstack([self.scores, scores])
        order = np.lexsort((np.where(all_ids < 0, np.iinfo(np.int64).max, all_ids), -all_scores), axis=1)[:, : self.k]
        self.ids = np.take_along_axis(all_ids, order, axis=1)
        self.scores = np.take_along_axis(all_scores, order, axis=1)
        self.extra = np.take_along_axis(np.hstack([self.extra, extra]), order, axis=1)


class _CosineStats:
    """Mean, min, p5 and the 10 worst of per-row cosines, kept in memory independent of n."""

    # the sum of cosines is kept exactly, in fixed point, so any split of the rows gives the same mean
    SCALE = 2**40

    def __init__(self):
        self.n, self.total, self.minimum = 0, 0, np.inf
        self.worst_ids, self.worst = np.zeros(0, np.int64), np.zeros(0)
        self.histogram = np.zeros(P5_BINS + 1, dtype=np.int64)  # bin 0: 1 - cos <= 1e-12

    def add(self, cosines: np.ndarray, first_row: int) -> None:
        self.n += len(cosines)
        for start in range(0, len(cosines), 1 << 20):
            self.total += int(np.rint(cosines[start : start + (1 << 20)] * self.SCALE).astype(np.int64).sum())
        self.minimum = min(self.minimum, float(cosines.min()))
        ids = np.concatenate([self.worst_ids, np.arange(first_row, first_row + len(cosines))])
        values = np.concatenate([self.worst, cosines])
        keep = np.lexsort((ids, values))[:10]
        self.worst_ids, self.worst = ids[keep], values[keep]
        np.add.at(self.histogram, self._bins(cosines), 1)

    def merge(self, other: "_CosineStats") -> None:
        """Fold in the statistics of other rows."""
        self.n, self.total = self.n + other.n, self.total + other.total
        self.minimum = min(self.minimum, other.minimum)
        ids, values = np.concatenate([self.worst_ids, other.worst_ids]), np.concatenate([self.worst, other.worst])
        keep = np.lexsort((ids, values))[:10]
        self.worst_ids, self.worst = ids[keep], values[keep]
        self.histogram += other.histogram

    @property
    def mean(self) -> float:
        return self.total / self.SCALE / self.n

    @staticmethod
    def _bins(cosines):
        log_gap = np.log10(np.maximum(1.0 - cosines, 1e-12))  # -12 .. log10(2)
        return np.where(1.0 - cosines <= 1e-12, 0,
                        1 + np.minimum(((log_gap + 12) / (12 + np.log10(2)) * P5_BINS).astype(np.int64), P5_BINS - 1))

    def percentile(self, q: float) -> float:
        """The q-th percentile of the cosines, to within one histogram bin (0.4% of 1 - cosine)."""
        rank = q / 100 * (self.n - 1)
        # cosine ascending = bins descending
        below = np.cumsum(self.histogram[::-1])
        b = P5_BINS - int(np.searchsorted(below, rank, side="right"))
        if b == 0:
            return 1.0
        width = (12 + np.log10(2)) / P5_BINS
        return float(1.0 - 10 ** (-12 + (b - 0.5) * width))


def exact_search(X, Q, k: int = 10, metric: str = "cosine", exclude: np.ndarray | None = None,
                 block_rows: int | None = None, progress=None) -> np.ndarray:
    """Exact top-k ids (nq, k) of queries Q over X by cosine, inner product or L2; `exclude[i]` is skipped.

    X: float (n, d) array, memory map or `open_vectors` source, read block by block: memory is
    bounded by the queries and one block of scores, whatever n. progress(done, n) after each block.
    """
    source = _source(X)
    Qp = prepare_for_metric(as_matrix(Q, "queries", source.dim), metric)
    ranked = _TopK(len(Qp), k, metric, exclude)
    for start, block in source.blocks(_block_rows(len(Qp), block_rows)):
        ranked.add(Qp @ block.T, np.einsum("ij,ij->i", block, block), start)
        if progress:
            progress(start + len(block), source.n)
    return ranked.ids


def evaluate(original, compressed, queries=None, k: int = 10, metric: str = "cosine",
             n_queries: int = DEFAULT_QUERIES, seed: int = 0, shortlist: int | None = None,
             truth: np.ndarray | None = None, block_rows: int | None = None, progress=None) -> dict:
    """Measure retrieval quality and fidelity of `compressed` against the `original` vectors.

    original: float (n, d): an array, a memory map (np.load(..., mmap_mode="r")) or an
    `open_vectors` source. It is read block by block, so peak memory does not grow with n.
    compressed: a `Compressed` (queries are scored against its codes, asymmetrically) or a float
    (n, d) reconstruction. queries: float (nq, d); if None, `n_queries` seeded rows of the
    original are held out: each is scored against the other n - 1, never all n against all n.

    Returns recall@k, ndcg@k, mrr@k (the exact top-k is the truth), overlap@k (the same, with the
    queries compressed too, as when both sides are stored compressed), mean/min/p5 cosine between
    each original row and its reconstruction (p5 to within 0.4% of 1 - cosine), worst (ids of the
    10 lowest cosines), and bytes: original_bytes as read (float64 input counts 8 bytes a value),
    compression_ratio against float32.
    progress(done, total) is called as blocks of rows are done (one pass: truth and codes together).
    """
    _check_metric(metric)
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise VectroError(f"k must be a positive integer, got {k!r}")
    source = _source(original)
    n, dim = source.n, source.dim
    if isinstance(compressed, Compressed):
        if compressed.dim != dim or len(compressed) != n:
            raise VectroError(
                f"compressed holds {len(compressed)} x {compressed.dim} vectors, original {n} x {dim}"
            )
        codec, codes = compressed.codec, compressed.codes
        stored_bytes, bytes_per_vector = compressed.nbytes, compressed.bytes_per_vector
    else:
        recon = as_matrix(compressed, "compressed", dim)
        if len(recon) != n:
            raise VectroError(f"compressed has {len(recon)} rows, original {n}")
        codec, codes = None, recon
        stored_bytes, bytes_per_vector = recon.nbytes, 4 * dim

    self_ids = None
    if queries is None:
        self_ids = sample_rows(n, min(n_queries, n), seed)
        Q = _gather(source, self_ids)
    else:
        Q = as_matrix(queries, "queries", dim)
    plan = EvalPlan(Q, metric, k, n, codec, self_ids, shortlist, with_truth=truth is None, block_rows=block_rows)
    if truth is not None and (truth.shape[0] != len(Q) or truth.shape[1] < k):
        raise VectroError(f"truth must hold >= {k} ids for each of the {len(Q)} queries, got shape {truth.shape}")
    total = plan.start()
    for start, block in source.blocks(plan.rows):
        plan.add(total, block, codes[start : start + len(block)], start)
        if progress:
            progress(start + len(block), n)
    return plan.report(total, stored_bytes, bytes_per_vector, truth, source.dtype)


class EvalPart:
    """What `EvalPlan` measured on some rows: running top-k lists and cosine statistics (mergeable)."""

    def __init__(self, plan: "EvalPlan"):
        nq = len(plan.Q)
        self.truth = _TopK(nq, plan.k, plan.metric, plan.self_ids) if plan.with_truth else None
        self.shortlist = _TopK(nq, plan.depth, plan.metric, plan.self_ids)
        self.symmetric = _TopK(nq, plan.k, plan.metric, plan.self_ids)
        self.cosines = _CosineStats()

    def merge(self, other: "EvalPart") -> None:
        for mine, theirs in ((self.truth, other.truth), (self.shortlist, other.shortlist),
                             (self.symmetric, other.symmetric)):
            if mine is not None:
                mine.merge(theirs.ids, theirs.scores, theirs.extra)
        self.cosines.merge(other.cosines)


class EvalPlan:
    """One evaluation split into parts: `part` measures rows, `merge` joins parts, `report` scores.

    Everything in a plan is the same for every block (queries, codec, settings), so a cluster
    broadcasts it once and each worker measures its shards (`vectro.metrics.sharded`); merging
    the parts of any split equals one streaming pass over all rows (`evaluate` is that pass).
    `codec` None: `codes` are float rows.
    """

    def __init__(self, Q: np.ndarray, metric: str, k: int, n: int, codec=None, self_ids: np.ndarray | None = None,
                 shortlist: int | None = None, with_truth: bool = True, block_rows: int | None = None):
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise VectroError(f"k must be a positive integer, got {k!r}")
        candidates = n - (self_ids is not None)
        if k > candidates:
            raise VectroError(f"k={k} but only {candidates} candidate vectors exist")
        if shortlist is not None and not (isinstance(shortlist, (int, np.integer)) and shortlist >= k):
            raise VectroError(f"shortlist must be an integer >= k={k} (candidates re-scored), got {shortlist!r}")
        self.Q, self.metric, self.k, self.n, self.codec = Q, metric, int(k), n, codec
        self.self_ids, self.shortlist, self.with_truth = self_ids, shortlist, with_truth
        self.depth = min(max(k, shortlist or 0), candidates)  # a shortlist never longer than the candidates
        self.rows = _block_rows(len(Q), block_rows)
        self.Qp = prepare_for_metric(Q, metric)
        self.Q_roundtrip = prepare_for_metric(codec.decode(codec.encode(self.Qp)), metric) if codec is not None else self.Qp

    def start(self) -> EvalPart:
        """An empty part, to `add` blocks to."""
        return EvalPart(self)

    def add(self, part: EvalPart, X: np.ndarray, codes: np.ndarray, first_row: int) -> None:
        """Measure one block: X float32 (m, d), dataset rows first_row.., and their codes (or float rows)."""
        codec, metric = self.codec, self.metric
        decoded = codec.decode(codes) if codec is not None else codes
        part.cosines.add(row_cosines(X, decoded), first_row)
        if part.truth is not None:
            part.truth.add(self.Qp @ X.T, np.einsum("ij,ij->i", X, X), first_row)
        approx_sq = np.einsum("ij,ij->i", decoded, decoded)
        score = codec.score if codec is not None else (lambda q, block: q @ block.T)
        rescore = None
        if self.shortlist is not None:  # re-scored exactly with the original rows, here where they are

            def rescore(ids):
                candidates = X[np.where(ids >= 0, ids, 0)]  # (nq, c, d)
                sq = np.einsum("qcd,qcd->qc", candidates, candidates)
                exact = metric_scores(np.einsum("qd,qcd->qc", self.Qp, candidates), sq, metric)
                return np.where(ids >= 0, exact, -np.inf).astype(np.float32)

        part.shortlist.add(score(self.Qp, codes), approx_sq, first_row, rescore)
        part.symmetric.add(score(self.Q_roundtrip, codes), approx_sq, first_row)

    def part(self, X: np.ndarray, codes: np.ndarray, offset: int) -> EvalPart:
        """Measure rows offset.. of the dataset (X float (m, d) and their codes), block by block."""
        part = self.start()
        for start in range(0, len(X), self.rows):
            block = np.ascontiguousarray(X[start : start + self.rows], dtype=np.float32)
            self.add(part, block, codes[start : start + self.rows], offset + start)
        return part

    def merge(self, parts: list[EvalPart]) -> EvalPart:
        """One part for the rows of all `parts` (any order, any split)."""
        total = self.start()
        for part in parts:
            total.merge(part)
        return total

    def report(self, part: EvalPart, stored_bytes: int, bytes_per_vector: int, truth: np.ndarray | None = None,
               original_dtype: str = "float32") -> dict:
        """The `evaluate` report from the merged part of every row."""
        k, n, dim, cosines = self.k, self.n, self.Q.shape[1], part.cosines
        truth = part.truth.ids if truth is None else truth
        found = part.shortlist.ids[:, :k]
        rescored = {}
        if self.shortlist is not None:
            order = np.argsort(-part.shortlist.extra, axis=1, kind="stable")[:, :k]
            best = np.take_along_axis(part.shortlist.ids, order, axis=1)
            rescored = {f"recall@{k}_rescored": recall_at_k(best, truth, k),
                        f"ndcg@{k}_rescored": ndcg_at_k(best, truth, k), "shortlist": int(self.shortlist)}
        return {
            f"recall@{k}": recall_at_k(found, truth, k),
            f"ndcg@{k}": ndcg_at_k(found, truth, k),
            f"mrr@{k}": mrr_at_k(found, truth, k),
            f"overlap@{k}": recall_at_k(part.symmetric.ids, truth, k),
            "mean_cosine": cosines.mean,
            "min_cosine": cosines.minimum,
            "p5_cosine": cosines.percentile(5),
            "worst": [int(i) for i in cosines.worst_ids],
            "bytes_per_vector": int(bytes_per_vector),
            "original_dtype": original_dtype,
            "original_bytes": int(n * dim * np.dtype(original_dtype).itemsize),
            "compressed_bytes": int(stored_bytes),
            "compression_ratio": float(n * dim * 4 / stored_bytes),  # against float32, whatever was read
            "n": int(n),
            "dim": int(dim),
            "queries": int(len(self.Q)),
            "k": int(k),
            "metric": self.metric,
            "codec": self.codec.spec if self.codec is not None else "float32 (reconstruction)",
            **rescored,
        }


def evaluate_index(original, index, queries=None, k: int = 10, oversampling: float = 1.0,
                   n_queries: int = DEFAULT_QUERIES, seed: int = 0, progress=None) -> dict:
    """Recall@k, nDCG@k and MRR@k of `index.search` against exact search over `original`.

    The index must hold the rows of `original` under their row numbers as ids (the default ids
    of `Index.add`). Without queries, sampled rows of `original` are used and their own id is
    dropped from the results.
    """
    import time

    source = _source(original, index.dim)
    n = source.n
    ids = index.ids()
    if len(ids) != n or index._ids.kind != "int" or not np.array_equal(np.sort(ids), np.arange(n)):
        raise VectroError(f"the index must hold the {n} rows of the original under ids 0..{n - 1}")
    self_ids = None
    if queries is None:
        self_ids = sample_rows(n, min(n_queries, n), seed)
        Q = _gather(source, self_ids)
    else:
        Q = as_matrix(queries, "queries", index.dim)
    if k > n - (self_ids is not None):
        raise VectroError(f"k={k} but only {n - (self_ids is not None)} candidate vectors exist")
    truth = exact_search(source, Q, k, index.metric, self_ids, progress=progress)
    started = time.perf_counter()
    found, _ = index.search(Q, k + (self_ids is not None), oversampling=oversampling)
    seconds = time.perf_counter() - started
    if self_ids is not None:
        keep = found != self_ids[:, None]
        found = np.array([row[mask][:k] for row, mask in zip(found, keep)])
    memory = index.memory_usage()
    return {
        f"recall@{k}": recall_at_k(found, truth, k), f"ndcg@{k}": ndcg_at_k(found, truth, k),
        f"mrr@{k}": mrr_at_k(found, truth, k), "queries": int(len(Q)), "k": int(k),
        "queries_per_second": len(Q) / max(seconds, 1e-9), "oversampling": oversampling,
        "ram_bytes_per_vector": memory["ram_bytes_per_vector"], "mapped_bytes": memory["mapped_bytes"],
        "codec": index.codec.spec, "rerank": index.rerank_codec.spec if index.rerank_codec else None,
        "metric": index.metric,
    }
