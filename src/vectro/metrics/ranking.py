"""Ranking metrics on id lists: the definitions every number vectro reports is computed with.

All functions take `found` and `truth` as int arrays (nq, >= k) of ids, best first.
    recall@k   |found[:k] & truth[:k]| / k                         (mean over queries)
    ndcg@k     DCG of found[:k] with graded gains k - r for the item of exact rank r < k
               (0 outside the exact top k), divided by the DCG of the exact order
    mrr@k      1 / (position of the exact nearest neighbour in found[:k]), 0 if absent
"""

from __future__ import annotations

import numpy as np

from .. import kernels

#: |x|^2 at or below which a row counts as the zero vector when cosine divides by |x|: its score is 0
ZERO_SQ_NORM = 1e-30


def metric_scores(inner: np.ndarray, sq_norms: np.ndarray, metric: str) -> np.ndarray:
    """The one conversion of inner products q.x to a metric's higher-is-better score.

    inner: (nq, n) inner products of prepared queries (unit length for cosine) with the vectors;
    sq_norms: |x|^2, (n,) or (nq, n). cosine: q.x / |x|; ip: q.x; l2: 2 q.x - |x|^2, which is
    |q|^2 - |q - x|^2 and so ranks each query's vectors as -|q - x|^2 does.
    """
    if metric == "cosine":
        return inner / np.sqrt(np.maximum(sq_norms, ZERO_SQ_NORM))
    if metric == "l2":
        return 2 * inner - sq_norms
    return inner


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids and scores of the k highest scores per row, best first (ties: lower id first).

    scores: float32 (nq, n). Returns ids int64 (nq, k) and scores float32 (nq, k); when n < k the
    missing places hold id -1 and score -inf.
    """
    nq, n = scores.shape
    kk = min(k, n)
    fast = kernels.top_k(scores, kk) if 0 < kk < n and kernels.available() else None  # C: one pass, a heap of k
    if fast is not None:
        ids, best = fast
    else:
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk] if kk < n else np.tile(np.arange(n), (nq, 1))
        part_scores = np.take_along_axis(scores, part, axis=1)
        order = np.lexsort((part, -part_scores), axis=1)
        ids = np.take_along_axis(part, order, axis=1).astype(np.int64)
        best = np.take_along_axis(part_scores, order, axis=1).astype(np.float32)
    if kk < k:
        ids = np.hstack([ids, np.full((nq, k - kk), -1, dtype=np.int64)])
        best = np.hstack([best, np.full((nq, k - kk), -np.inf, dtype=np.float32)])
    return ids, best


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    hits = [len(np.intersect1d(f[:k], t[:k])) for f, t in zip(found, truth)]
    return float(np.mean(hits) / k)


def ndcg_at_k(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    discounts = 1.0 / np.log2(np.arange(k) + 2.0)
    ideal = float(np.sum((k - np.arange(k)) * discounts))
    values = []
    for f, t in zip(found, truth):
        gain = {int(item): k - rank for rank, item in enumerate(t[:k])}
        values.append(sum(gain.get(int(item), 0) * discounts[i] for i, item in enumerate(f[:k])) / ideal)
    return float(np.mean(values))


def mrr_at_k(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    values = []
    for f, t in zip(found, truth):
        where = np.flatnonzero(f[:k] == t[0])
        values.append(1.0 / (where[0] + 1) if len(where) else 0.0)
    return float(np.mean(values))


def judged_recall_at_k(found: np.ndarray, relevant: list[set], k: int) -> float:
    """Mean over queries of |found[:k] & relevant| / |relevant|, for judged (qrels) relevance.

    found: int array (nq, >= k) of ids, best first; relevant: one set of ids per query (non-empty).
    """
    return float(np.mean([len(set(f[:k].tolist()) & rel) / len(rel) for f, rel in zip(found, relevant)]))


def judged_ndcg_at_k(found: np.ndarray, relevant: list[set], k: int) -> float:
    """Mean binary nDCG@k: gain 1 for a relevant id at rank r, discount 1/log2(r + 2), divided by
    the DCG of min(k, |relevant|) relevant ids at the top."""
    discounts = 1.0 / np.log2(np.arange(k) + 2.0)
    values = []
    for f, rel in zip(found, relevant):
        dcg = sum(discounts[i] for i, item in enumerate(f[:k].tolist()) if item in rel)
        values.append(dcg / discounts[:min(k, len(rel))].sum())
    return float(np.mean(values))
