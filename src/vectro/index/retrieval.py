"""Retrieval helpers over Index results: maximal marginal relevance, reciprocal rank fusion, BM25, hybrid.

    picked = mmr(query, candidate_vectors, k=5, lambda_mult=0.5)      # positions into the candidates
    fused = reciprocal_rank_fusion([dense_ids, keyword_ids], k=60)    # [(id, score), ...] best first
    bm25 = BM25(texts); rows, scores = bm25.top("compressed vectors", 10)
    ids, scores = hybrid_search(index, bm25, bm25_ids, query_vector, "compressed vectors", k=10)
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

from ..errors import VectroError

TOKEN = re.compile(r"\w+", re.UNICODE)
#: the constant of reciprocal rank fusion (Cormack, Clarke and Buettcher 2009)
RRF_K = 60


def _unit_rows(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=-1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


def mmr(query, candidates, k: int = 4, lambda_mult: float = 0.5) -> list[int]:
    """Maximal marginal relevance: positions of k candidates (c, d), picked one at a time to maximise
    lambda * cos(query, c) - (1 - lambda) * max cos(c, already picked). lambda 1: pure relevance."""
    if not 0 <= lambda_mult <= 1:
        raise VectroError(f"lambda_mult must be in [0, 1], got {lambda_mult!r}")
    C = _unit_rows(candidates)
    if C.ndim != 2 or len(C) == 0:
        return []
    relevance = C @ _unit_rows(np.asarray(query).reshape(-1))
    picked: list[int] = [int(np.argmax(relevance))]
    redundancy = C @ C[picked[0]]  # max similarity of each candidate to the picked set
    while len(picked) < min(k, len(C)):
        gain = lambda_mult * relevance - (1 - lambda_mult) * redundancy
        gain[picked] = -np.inf
        best = int(np.argmax(gain))
        picked.append(best)
        redundancy = np.maximum(redundancy, C @ C[best])
    return picked


def reciprocal_rank_fusion(rankings, k: int = RRF_K, weights=None, limit: int | None = None) -> list[tuple]:
    """Fuse ranked id lists: score(id) = sum_i w_i / (k + rank_i(id)), ranks from 1. Best first;
    ties keep the order in which ids first appear."""
    weights = [1.0] * len(rankings) if weights is None else list(weights)
    if len(weights) != len(rankings):
        raise VectroError(f"{len(weights)} weights for {len(rankings)} rankings")
    scores: dict = {}
    for ranking, weight in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    fused = sorted(scores.items(), key=lambda pair: -pair[1])  # stable: first appearance breaks ties
    return fused[:limit] if limit is not None else fused


def tokenize(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


class BM25:
    """Okapi BM25 over a list of texts (Lucene's idf, ln(1 + (N - n + 0.5) / (n + 0.5)), never negative)."""

    def __init__(self, texts, k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b
        docs = [Counter(tokenize(t or "")) for t in texts]
        self.n = len(docs)
        self.lengths = np.array([sum(d.values()) for d in docs], dtype=np.float64)
        self.mean_length = float(self.lengths.mean()) if self.n else 0.0
        postings: dict[str, tuple[list, list]] = {}
        for row, doc in enumerate(docs):
            for term, count in doc.items():
                rows, counts = postings.setdefault(term, ([], []))
                rows.append(row)
                counts.append(count)
        self.postings = {t: (np.array(r), np.array(c, dtype=np.float64)) for t, (r, c) in postings.items()}

    def idf(self, term: str) -> float:
        df = len(self.postings.get(term, ((),))[0])
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every text for the query: float64 (n,)."""
        out = np.zeros(self.n)
        norm = self.k1 * (1 - self.b + self.b * self.lengths / max(self.mean_length, 1e-12))
        for term in tokenize(query):
            if term in self.postings:
                rows, tf = self.postings[term]
                out[rows] += self.idf(term) * tf * (self.k1 + 1) / (tf + norm[rows])
        return out

    def top(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of the k best texts with a positive score, best first."""
        scores = self.scores(query)
        rows = np.flatnonzero(scores > 0)
        order = rows[np.lexsort((rows, -scores[rows]))][:k]
        return order, scores[order]


def hybrid_search(index, bm25: BM25, bm25_ids, query_vector, query_text: str, k: int = 10, depth: int = 50,
                  rrf_k: int = RRF_K, weights=(1.0, 1.0), filter=None) -> list[tuple]:
    """Fuse the Index's dense top-`depth` with BM25's top-`depth` by reciprocal rank fusion.

    bm25_ids: the Index id of each BM25 text (row i of the BM25 corpus is id bm25_ids[i]).
    filter: an allow-list of ids, applied to both rankings. Returns [(id, fused score)], best first.
    """
    ids, scores = index.search(query_vector, k=depth, filter=filter)
    dense = [i for i, s in zip(np.asarray(ids).tolist(), scores) if np.isfinite(s)]
    rows, _ = bm25.top(query_text, bm25.n)
    allowed = None if filter is None else set(np.asarray(filter).tolist())
    keyword = [bm25_ids[r] for r in rows.tolist() if allowed is None or bm25_ids[r] in allowed][:depth]
    return reciprocal_rank_fusion([dense, keyword], k=rrf_k, weights=weights, limit=k)
