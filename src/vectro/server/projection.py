"""A 2-D map of a collection: PCA of a sample of its vectors, and k-means clusters to colour it.

Both run on what the collection's Index holds (the decoded codes), in float64 NumPy, seeded, so
the same collection gives the same map.
"""

from __future__ import annotations

import numpy as np

from ..errors import VectroError


def pca_2d(X: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """X float (n, d) -> (float64 (n, 2) coordinates on the top two principal axes, their share of variance).

    Each axis's sign is fixed so that its largest-magnitude loading is positive (a stable picture)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) < 2:
        raise VectroError(f"a map needs at least 2 vectors, got {len(X)}")
    centred = X - X.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    if len(axes) < 2:  # d == 1
        axes = np.vstack([axes, np.zeros_like(axes)])
    signs = np.sign(axes[np.arange(2), np.argmax(np.abs(axes), axis=1)])
    axes = axes * np.where(signs == 0, 1, signs)[:, None]
    total = float((s ** 2).sum())
    share = [float(v) / total if total else 0.0 for v in (s[:2] ** 2)] + [0.0] * (2 - len(s[:2]))
    return centred @ axes.T, share


def kmeans(X: np.ndarray, k: int, iterations: int = 50, seed: int = 0) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding: int64 (n,) cluster labels 0..k-1 for X float (n, d)."""
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    if not 1 <= k <= n:
        raise VectroError(f"k must be 1..{n} (the sample size), got {k}")
    rng = np.random.default_rng(seed)
    centres = [X[rng.integers(n)]]
    for _ in range(1, k):
        d2 = np.min(((X[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        centres.append(X[rng.choice(n, p=d2 / d2.sum())] if d2.sum() > 0 else X[rng.integers(n)])
    C = np.array(centres)
    labels = np.full(n, -1)
    for _ in range(iterations):
        d2 = (X ** 2).sum(1)[:, None] - 2 * X @ C.T + (C ** 2).sum(1)[None]
        new = np.argmin(d2, axis=1)
        if (new == labels).all():
            break
        labels = new
        for j in range(k):
            members = X[labels == j]
            if len(members):
                C[j] = members.mean(axis=0)
    return labels
