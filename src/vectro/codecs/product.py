"""Product quantisation `pq:M` / `pq:Mx4` and `opq:M`: M sub-quantisers with k-means codebooks.

The d dimensions are cut into M contiguous sub-vectors of d/M dimensions; each is replaced by
the number of its nearest centroid among 2**B learned by k-means (FAISS's, seeded and bounded
to 256 training points per centroid). OPQ first applies an orthogonal rotation learned as FAISS's
OPQMatrix learns it (alternating warm-started k-means steps and Procrustes, Ge et al. 2013), here
with one Lloyd step per iteration and progress after each, so that the sub-vectors carry
balanced, less correlated energy. Inner products with a float query come from per-query tables
of q_m . c_mk, one lookup per code byte (asymmetric distance computation).

    pq:48       48 sub-quantisers x 8 bits   48 bytes per vector
    pq:96x4     96 sub-quantisers x 4 bits   48 bytes (two codes per byte, first in the low nibble)
    opq:32      rotation + 32 x 8 bits       32 bytes
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext

import numpy as np

from .. import kernels
from .._util import sample
from ..errors import VectroError, require
from .base import Codec, in_small_batches, register
from .scalar import pack_bits, unpack_bits

# k-means settings: FAISS's default iterations and at most this many points per centroid (the
# k-means and OPQ seeds come from fit's seed)
KMEANS_ITERATIONS = 25
POINTS_PER_CENTROID = 256
ADVISED_POINTS_PER_CENTROID = 39  # FAISS's min_points_per_centroid
OPQ_ITERATIONS = 30  # rotation updates (30 one-step ones beat FAISS OPQMatrix with 20 four-step ones on the public set)
OPQ_FIRST_KMEANS_ITERATIONS = 10  # Lloyd steps from random sample rows before the first rotation update
OPQ_KMEANS_ITERATIONS = 1  # warm-started Lloyd steps per rotation update afterwards
# queries scored through lookup tables, kernels.SMALL_BATCH a call; past it, decoding a block for one BLAS
# product costs less (pq:48 and opq:32 at 50,000 x 384: tables 1.4-2x faster at 16 queries, even at 32,
# BLAS 2x faster at 64)
TABLE_QUERIES = 24


def _parse(name: str, arg: str | None) -> tuple[int, int]:
    text = arg or ""
    m_text, _, bits_text = text.partition("x")
    if not m_text.isdigit() or int(m_text) < 1 or bits_text not in ("", "4", "8"):
        raise VectroError(f"{name} needs the number of sub-quantisers and optional bits: {name}:48 or {name}:96x4")
    return int(m_text), int(bits_text or 8)


def _unit_scale(X: np.ndarray) -> np.float32:
    """The largest |value| of X (1 for all zeros): FAISS trains on X / scale, whose squared
    distances cannot overflow float32 (its k-means aborts the process on an infinite distance)."""
    peak = float(np.abs(X).max()) if X.size else 0.0
    return np.float32(peak if peak > 0 else 1.0)


def byte_tables(tables: np.ndarray) -> np.ndarray:
    """Tables of 4-bit codes (nq, M, 16) -> one table per code byte (nq, ceil(M/2), 256): the sum of
    the entries of its low nibble (code 2j) and its high nibble (code 2j + 1)."""
    if tables.shape[1] % 2:
        tables = np.concatenate([tables, np.zeros((len(tables), 1, tables.shape[2]), dtype=tables.dtype)], axis=1)
    low, high = np.arange(256) & 15, np.arange(256) >> 4
    return tables[:, 0::2][:, :, low] + tables[:, 1::2][:, :, high]


@register
class ProductQuantizer(Codec):
    name = "pq"
    example = "pq:48"
    summary = "product quantisation: M sub-vectors, each the id of one of 2**B k-means centroids (FAISS k-means)"
    trainable = True
    state_arrays = ("centroids_",)

    def __init__(self, arg: str | None = None):
        super().__init__()
        self.subquantizers, self.bits = _parse(self.name, arg)

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.subquantizers}" + ("x4" if self.bits == 4 else "")

    @property
    def min_fit_rows(self) -> int:  # one training vector per centroid at the very least
        return 2**self.bits

    def bytes_per_vector(self, dim: int) -> int:
        return -(-self.subquantizers * self.bits // 8)

    def _check_dim(self, dim: int) -> int:
        m = self.subquantizers
        if dim % m:
            choices = [c for c in range(2, min(dim, 256) + 1) if dim % c == 0]
            raise VectroError(f"{self.spec}: d={dim} is not divisible by M={m}; M must divide d, e.g. one of "
                              f"{', '.join(map(str, choices[:12]))}")
        return dim // m

    # ----- fit --------------------------------------------------------------------------------
    def _fit(self, X, progress):
        self._check_dim(X.shape[1])
        if len(X) < ADVISED_POINTS_PER_CENTROID * 2**self.bits:  # one clear warning, not FAISS's hundreds
            warnings.warn(f"{self.spec}: learning {2**self.bits} centroids per sub-space from {len(X):,} vectors; "
                          f"k-means is advised at least {ADVISED_POINTS_PER_CENTROID * 2**self.bits:,} "
                          f"({ADVISED_POINTS_PER_CENTROID} per centroid), so the codebooks may be weak",
                          stacklevel=3)
        # one count for the whole fit: the rotation's iterations (opq), then the codebooks' sub-spaces
        steps, total = self.rotation_iterations, self.rotation_iterations + self.subquantizers
        rotated = self._prepare_fit(X, lambda done: progress(done, total))
        self.centroids_ = self._train_codebooks(rotated, lambda done, _: progress(steps + done, total))

    #: learning steps before the codebooks (each reported to fit's progress)
    rotation_iterations = 0

    def _prepare_fit(self, X: np.ndarray, progress) -> np.ndarray:
        """X in the coordinates the codebooks are learned in; progress(done) after each step."""
        return X

    def _train_codebooks(self, X: np.ndarray, progress) -> np.ndarray:
        """One seeded FAISS k-means per sub-space (as FAISS's ProductQuantizer.train runs them),
        one at a time so that progress counts sub-spaces."""
        faiss = require("faiss", "ann")
        m, k = self.subquantizers, 2**self.bits
        sub = X.shape[1] // m
        scale = _unit_scale(X)
        X = (X / scale).astype(np.float32, copy=False)
        centroids = np.empty((m, k, sub), dtype=np.float32)
        for j in range(m):
            kmeans = faiss.Kmeans(sub, k, niter=KMEANS_ITERATIONS, seed=self._seed,
                                  max_points_per_centroid=POINTS_PER_CENTROID, min_points_per_centroid=1)
            kmeans.train(np.ascontiguousarray(X[:, j * sub : (j + 1) * sub]))
            centroids[j] = kmeans.centroids
            progress(j + 1, m)
        return centroids * scale

    # ----- encode / decode ----------------------------------------------------------------------
    def _rotate(self, X: np.ndarray) -> np.ndarray:
        return X

    def _unrotate(self, X: np.ndarray) -> np.ndarray:
        return X

    def _rotate_queries(self, Q: np.ndarray) -> np.ndarray:
        """_rotate for the few queries the tables serve (OPQ: without BLAS's thread team, kernels.query_products)."""
        return self._rotate(Q)

    def _encode_block(self, X):
        X = self._rotate(X)
        m, ksub, dsub = self.centroids_.shape
        values = np.empty((len(X), m), dtype=np.uint8)
        sq_centroids = np.einsum("mkd,mkd->mk", self.centroids_, self.centroids_)
        for s in range(m):
            part = X[:, s * dsub : (s + 1) * dsub]
            # nearest centroid: argmin |c|^2 - 2 x.c (|x|^2 is the same for every centroid)
            values[:, s] = np.argmin(sq_centroids[s] - 2 * part @ self.centroids_[s].T, axis=1)
        return values if self.bits == 8 else pack_bits(values, 4)

    def _values(self, codes: np.ndarray) -> np.ndarray:
        return codes if self.bits == 8 else unpack_bits(codes, 4, self.subquantizers)

    def _decode_block(self, codes):
        values = self._values(codes)
        m = self.subquantizers
        parts = self.centroids_[np.arange(m), values]  # (n, M, d/M)
        return self._unrotate(parts.reshape(len(codes), -1))

    def _score_block(self, Q, codes):
        if len(Q) > TABLE_QUERIES:
            return super()._score_block(Q, codes)
        if len(Q) > kernels.SMALL_BATCH:
            return in_small_batches(self._score_block, Q, codes)
        m, _, dsub = self.centroids_.shape
        tables = np.einsum("qmd,mkd->qmk", self._rotate_queries(Q).reshape(len(Q), m, dsub), self.centroids_)
        if self.bits == 4:
            tables = byte_tables(tables)
        return kernels.table_scores(np.ascontiguousarray(tables, dtype=np.float32), codes)


@register
class OptimizedProductQuantizer(ProductQuantizer):
    name = "opq"
    example = "opq:32"
    summary = "OPQ: a learned orthogonal rotation (non-parametric OPQ, Ge et al. 2013), then product quantisation"
    state_arrays = ("rotation_", "centroids_")

    rotation_iterations = OPQ_ITERATIONS

    def _prepare_fit(self, X, progress):
        """Learn `rotation_` (y = R x) by block-coordinate descent on |X R^T - PQ(X R^T)|^2, the
        alternation of FAISS's OPQMatrix: from a seeded random rotation, each iteration assigns the
        rotated sample's sub-vectors to their nearest centroids, moves each centroid to the mean of
        its sub-vectors (a warm-started Lloyd step), then takes the rotation that best maps the
        sample onto its reconstruction (orthogonal Procrustes). Each step lowers the error."""
        rng = np.random.default_rng(self._seed)
        rows = sample(X, POINTS_PER_CENTROID * 2**self.bits, rng)
        S = np.ascontiguousarray(rows / _unit_scale(rows), dtype=np.float32)  # a rotation is scale-free
        with _one_blas_thread():
            return self._learn_rotation(X, S, rng, progress)

    def _learn_rotation(self, X, S, rng, progress):
        """The alternation on S (the scaled sample); returns X rotated."""
        m, k, dim = self.subquantizers, 2**self.bits, X.shape[1]
        sub = dim // m
        rotation, upper = np.linalg.qr(rng.standard_normal((dim, dim)))
        rotation = (rotation * np.sign(np.diag(upper))).astype(np.float32)
        Y = S @ rotation.T
        starts = rng.choice(len(S), k, replace=False)  # k-means starts: k distinct sample rows
        centroids = np.ascontiguousarray(Y[starts].reshape(k, m, sub).transpose(1, 0, 2))
        for step in range(self.rotation_iterations):
            for _ in range(OPQ_FIRST_KMEANS_ITERATIONS if step == 0 else OPQ_KMEANS_ITERATIONS):
                codes = _nearest_centroids(Y, centroids)
                centroids = _centroid_means(Y, codes, centroids)
            recon = centroids[np.arange(m), codes].reshape(len(S), dim)
            # Procrustes: the orthogonal W minimising |S W - recon| is U V^T for S^T recon = U s V^T
            u, _, vt = np.linalg.svd((S.T @ recon).astype(np.float64))
            rotation = np.ascontiguousarray((u @ vt).T, dtype=np.float32)
            Y = S @ rotation.T
            progress(step + 1)
        self.rotation_ = rotation
        return self._rotate(X)

    def _rotate(self, X):
        return X @ self.rotation_.T

    def _rotate_queries(self, Q):
        return kernels.query_products(Q, self.rotation_)

    def _unrotate(self, X):
        return X @ self.rotation_


def _one_blas_thread():
    """BLAS on one thread while the rotation is learned (with threadpoolctl, from vectro[ann]): its
    d x d decompositions gain little from threads, and on a busy machine OpenBLAS's threads wait for
    each other at every step (a 384 x 384 SVD took 0.56 s, a QR 3.5 s, on 2 cores at load 9)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(1, user_api="blas")


def _nearest_centroids(X: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The nearest centroid of each sub-vector (FAISS's exact search: blocked BLAS with a fused
    argmin, many times faster than NumPy's product-then-argmin): X float32 (n, M * d/M),
    centroids float32 (M, K, d/M) -> int64 (n, M)."""
    faiss = require("faiss", "ann")
    m, _, sub = centroids.shape
    return np.stack([faiss.knn(np.ascontiguousarray(X[:, s * sub : (s + 1) * sub]), centroids[s], 1)[1][:, 0]
                     for s in range(m)], axis=1)


def _centroid_means(X: np.ndarray, codes: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Each centroid moved to the mean of the sub-vectors assigned to it (a Lloyd update); a centroid
    with none keeps its place. X float32 (n, M * d/M), codes int64 (n, M), centroids float32 (M, K, d/M)."""
    m, k, sub = centroids.shape
    cells = (codes + np.arange(m) * k).ravel()  # (n * M,) the row-major order of X's sub-vectors
    parts = X.reshape(-1, sub)
    counts = np.bincount(cells, minlength=m * k)
    sums = np.stack([np.bincount(cells, weights=parts[:, t], minlength=m * k) for t in range(sub)], axis=1)
    filled = counts > 0
    means = centroids.reshape(m * k, sub).copy()
    means[filled] = sums[filled] / counts[filled, None]
    return means.reshape(m, k, sub)
