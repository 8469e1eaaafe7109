"""`evaluate`: what a codec lost on your data, measured against exact search on the originals."""

from __future__ import annotations

import numpy as np

from .._validation import as_matrix
from ..codecs.base import BLOCK_ROWS
from ..compressed import Compressed, _check_metric
from ..errors import VectroError
from ..sampling import sample_rows
from .ranking import mrr_at_k, ndcg_at_k, recall_at_k, top_k

DEFAULT_QUERIES = 1000
# bytes of one (queries x n) score block; keeps evaluation of a million vectors within memory
SCORE_BLOCK_BYTES = 256 << 20


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


def _rank(score_fn, Q, n, k, metric, sq_norms, self_ids):
    """Top-k (ids int64 (nq, k), scores float32 (nq, k)) by metric from score_fn(Q_block) -> inner products (nb, n).

    self_ids[i]: a row to skip for query i (ignored where outside 0..n-1, as for a query from another shard).
    """
    rows = max(1, SCORE_BLOCK_BYTES // (4 * max(n, 1)))
    ids = np.empty((len(Q), k), dtype=np.int64)
    best = np.empty((len(Q), k), dtype=np.float32)
    for start in range(0, len(Q), rows):
        S = score_fn(Q[start : start + rows])
        if metric == "cosine":
            S /= np.sqrt(np.where(sq_norms == 0, 1, sq_norms))
        elif metric == "l2":
            S = 2 * S - sq_norms  # -|q-x|^2 up to the per-query constant |q|^2
        if self_ids is not None:
            own = self_ids[start : start + rows]
            inside = (own >= 0) & (own < n)
            S[np.flatnonzero(inside), own[inside]] = -np.inf
        ids[start : start + rows], best[start : start + rows] = top_k(S, k)
    return ids, best


def merge_top_k(parts: list[tuple], k: int) -> tuple:
    """Merge per-shard top lists (ids (nq, m), scores (nq, m), *aligned arrays) into the global top k.

    Ids must already be dataset rows. Ties go to the lower id, as in `top_k`, so merging the
    parts of any split gives what one pass over all rows gives.
    """
    if len(parts) == 1:
        return tuple(a[:, :k] for a in parts[0])
    joined = [np.hstack(arrays) for arrays in zip(*parts)]
    order = np.lexsort((joined[0], -joined[1]), axis=1)[:, :k]
    return tuple(np.take_along_axis(a, order, axis=1) for a in joined)


def exact_search(X, Q, k: int = 10, metric: str = "cosine", exclude: np.ndarray | None = None) -> np.ndarray:
    """Exact top-k ids (nq, k) of queries Q over X by cosine, inner product or L2; `exclude[i]` is skipped."""
    X = as_matrix(X, "X")
    Q = prepare_for_metric(as_matrix(Q, "queries", X.shape[1]), metric)
    sq = np.einsum("ij,ij->i", X, X)
    return _rank(lambda q: q @ X.T, Q, len(X), k, metric, sq, exclude)[0]


def evaluate(original, compressed, queries=None, k: int = 10, metric: str = "cosine",
             n_queries: int = DEFAULT_QUERIES, seed: int = 0, rerank: int | None = None,
             truth: np.ndarray | None = None) -> dict:
    """Measure retrieval quality and fidelity of `compressed` against the `original` vectors.

    original: float (n, d). compressed: a `Compressed` (queries are scored against its codes,
    asymmetrically) or a float (n, d) reconstruction. queries: float (nq, d); if None,
    `n_queries` seeded rows of the original are used and each one's own row is excluded.

    Returns recall@k, ndcg@k, mrr@k (the exact top-k is the truth), overlap@k (the same, with the
    queries compressed too, as when both sides are stored compressed), mean/min/p5 cosine between
    each original row and its reconstruction, worst (ids of the 10 lowest cosines), bytes.
    """
    _check_metric(metric)
    X = as_matrix(original, "original")
    n, dim = X.shape
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
        self_ids = sample_rows(n, n_queries, seed)
        Q = X[self_ids]
    else:
        Q = as_matrix(queries, "queries", dim)
    if truth is not None and (truth.shape[0] != len(Q) or truth.shape[1] < k):
        raise VectroError(f"truth must hold >= {k} ids for each of the {len(Q)} queries, got shape {truth.shape}")
    plan = EvalPlan(Q, metric, k, n, codec, self_ids, rerank, with_truth=truth is None)
    return plan.report(plan.part(X, codes, 0), stored_bytes, bytes_per_vector, truth)


class EvalPlan:
    """One evaluation split into parts: `part` measures a block of rows, `merge` joins parts, `report` scores.

    Everything in a plan is the same for every block (queries, codec, settings), so a cluster
    broadcasts it once and each worker measures its shards (`vectro.metrics.sharded`); merging
    the parts of any split equals one pass over all rows. `codec` None: `codes` are float rows.
    """

    def __init__(self, Q: np.ndarray, metric: str, k: int, n: int, codec=None, self_ids: np.ndarray | None = None,
                 rerank: int | None = None, with_truth: bool = True):
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise VectroError(f"k must be a positive integer, got {k!r}")
        candidates = n - (self_ids is not None)
        if k > candidates:
            raise VectroError(f"k={k} but only {candidates} candidate vectors exist")
        if rerank is not None and not (isinstance(rerank, (int, np.integer)) and rerank >= k):
            raise VectroError(f"rerank must be an integer >= k={k} (candidates re-scored), got {rerank!r}")
        self.Q, self.metric, self.k, self.n, self.codec = Q, metric, int(k), n, codec
        self.self_ids, self.rerank, self.with_truth = self_ids, rerank, with_truth
        self.depth = min(max(k, rerank or 0), candidates)  # a shortlist never longer than the candidates
        self.Qp = prepare_for_metric(Q, metric)
        Q_roundtrip = codec.decode(codec.encode(self.Qp)) if codec is not None else self.Qp
        self.Q_roundtrip = prepare_for_metric(Q_roundtrip, metric)

    def part(self, X: np.ndarray, codes: np.ndarray, offset: int) -> dict:
        """Measure rows offset.. of the dataset: X float32 (m, d) and their codes (m, bytes) or float rows."""
        codec, metric, m = self.codec, self.metric, len(X)
        decode_block = codec.decode if codec is not None else (lambda block: block)
        # one pass over the codes: reconstruction fidelity and the norms ranking needs
        cosines = np.empty(m)
        approx_sq = np.empty(m, dtype=np.float32)
        for start in range(0, m, BLOCK_ROWS):
            decoded = decode_block(codes[start : start + BLOCK_ROWS])
            cosines[start : start + len(decoded)] = row_cosines(X[start : start + BLOCK_ROWS], decoded)
            approx_sq[start : start + len(decoded)] = np.einsum("ij,ij->i", decoded, decoded)
        own = None if self.self_ids is None else self.self_ids - offset
        part = {"cosines": cosines, "truth": None}
        if self.with_truth:
            sq = np.einsum("ij,ij->i", X, X)
            part["truth"] = _shift(_rank(lambda q: q @ X.T, self.Qp, m, self.k, metric, sq, own), offset)
        if codec is not None:
            score = lambda q: codec.score(q, codes)  # noqa: E731
        else:
            score = lambda q: q @ codes.T  # noqa: E731
        ids, scores = _rank(score, self.Qp, m, self.depth, metric, approx_sq, own)
        shortlist = (ids, scores)
        if self.rerank is not None:  # re-scored exactly with the original vectors, here where they are
            candidates = X[np.where(ids >= 0, ids, 0)]  # (nq, depth, d)
            exact = np.einsum("qd,qcd->qc", self.Qp, candidates)
            sq = np.einsum("qcd,qcd->qc", candidates, candidates)
            if metric == "cosine":
                exact /= np.sqrt(np.where(sq == 0, 1, sq))
            elif metric == "l2":
                exact = 2 * exact - sq
            exact[ids < 0] = -np.inf
            shortlist += (exact,)
        part["shortlist"] = _shift(shortlist, offset)
        part["symmetric"] = _shift(_rank(score, self.Q_roundtrip, m, self.k, metric, approx_sq, own), offset)
        return part

    def merge(self, parts: list[dict]) -> dict:
        """One part for the rows of all `parts`, given in dataset order."""
        if len(parts) == 1:
            return parts[0]
        return {"cosines": np.concatenate([p["cosines"] for p in parts]),
                "truth": merge_top_k([p["truth"] for p in parts], self.k) if self.with_truth else None,
                "shortlist": merge_top_k([p["shortlist"] for p in parts], self.depth),
                "symmetric": merge_top_k([p["symmetric"] for p in parts], self.k)}

    def report(self, part: dict, stored_bytes: int, bytes_per_vector: int, truth: np.ndarray | None = None) -> dict:
        """The `evaluate` report from the merged part of every row."""
        k, cosines, n, dim = self.k, part["cosines"], self.n, self.Q.shape[1]
        truth = part["truth"][0] if truth is None else truth
        shortlist = part["shortlist"][0]
        found = shortlist[:, :k]
        symmetric = part["symmetric"][0]
        worst = np.argsort(cosines, kind="stable")[:10]
        reranked = {}
        if self.rerank is not None:
            order = np.argsort(-part["shortlist"][2], axis=1, kind="stable")[:, :k]
            best = np.take_along_axis(shortlist, order, axis=1)
            reranked = {f"recall@{k}_rerank": recall_at_k(best, truth, k), f"ndcg@{k}_rerank": ndcg_at_k(best, truth, k),
                        "rerank": int(self.rerank)}
        return {
            f"recall@{k}": recall_at_k(found, truth, k),
            f"ndcg@{k}": ndcg_at_k(found, truth, k),
            f"mrr@{k}": mrr_at_k(found, truth, k),
            f"overlap@{k}": recall_at_k(symmetric, truth, k),
            "mean_cosine": float(cosines.mean()),
            "min_cosine": float(cosines.min()),
            "p5_cosine": float(np.percentile(cosines, 5)),
            "worst": [int(i) for i in worst],
            "bytes_per_vector": int(bytes_per_vector),
            "original_bytes": int(n * dim * 4),
            "compressed_bytes": int(stored_bytes),
            "compression_ratio": float(n * dim * 4 / stored_bytes),
            "n": int(n),
            "dim": int(dim),
            "queries": int(len(self.Q)),
            "k": int(k),
            "metric": self.metric,
            "codec": self.codec.spec if self.codec is not None else "float32 (reconstruction)",
            **reranked,
        }


def _shift(top: tuple, offset: int) -> tuple:
    """Block-local ids of a top list -> dataset rows (padding -1 stays -1)."""
    ids = np.where(top[0] >= 0, top[0] + offset, -1)
    return (ids, *top[1:])


def evaluate_index(original, index, queries=None, k: int = 10, oversampling: float = 1.0,
                   n_queries: int = DEFAULT_QUERIES, seed: int = 0) -> dict:
    """Recall@k, nDCG@k and MRR@k of `index.search` against exact search over `original`.

    The index must hold the rows of `original` under their row numbers as ids (the default ids
    of `Index.add`). Without queries, sampled rows of `original` are used and their own id is
    dropped from the results.
    """
    import time

    X = as_matrix(original, "original", index.dim)
    ids = index.ids()
    if len(ids) != len(X) or index._ids.kind != "int" or not np.array_equal(np.sort(ids), np.arange(len(X))):
        raise VectroError(f"the index must hold the {len(X)} rows of the original under ids 0..{len(X) - 1}")
    self_ids = None
    if queries is None:
        self_ids = sample_rows(len(X), n_queries, seed)
        Q = X[self_ids]
    else:
        Q = as_matrix(queries, "queries", index.dim)
    truth = exact_search(X, Q, k, index.metric, self_ids)
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
