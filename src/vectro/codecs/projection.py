"""Projection stages: map d dimensions to fewer before a quantiser (`pca:128+int8`, `trunc:256+binary`).

A stage is a Codec too, so `pca:128` alone stores the projected float32 values. Scoring stays
asymmetric and exact with respect to the stored codes: for x = inverse(z), q.x = q'.z + offset(q).
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from .._util import sample
from ..errors import VectroError
from .base import Codec, register

# Rows PCA learns from at most; a seeded sample keeps fit time and memory bounded.
PCA_FIT_ROWS = 100_000


def principal_axes(X: np.ndarray, seed) -> tuple[np.ndarray, np.ndarray]:
    """The mean (d,) and all d principal directions (d, d), largest variance first, of a seeded
    sample of X's rows (float32 both); each direction's sign is fixed (largest entry positive) so
    fits are reproducible."""
    X = sample(X, PCA_FIT_ROWS, seed)
    mean = X.mean(axis=0, dtype=np.float64)
    centred = X - mean
    cov = centred.T.astype(np.float64) @ centred / len(X)
    eigvals, eigvecs = np.linalg.eigh(cov)
    axes = eigvecs[:, np.argsort(eigvals, kind="stable")[::-1]].T
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    return mean.astype(np.float32), (axes * signs[:, None]).astype(np.float32)


class Projection(Codec):
    """A linear stage d -> D with an exact inverse on its image."""

    def __init__(self, arg: str | None = None):
        super().__init__()
        if arg is None or not arg.isdigit() or int(arg) < 1:
            raise VectroError(f"{self.name} needs an output dimension, e.g. {self.name}:128")
        self.out_dim = int(arg)

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.out_dim}"

    def _fit(self, X, progress):
        if self.out_dim > X.shape[1]:
            raise VectroError(f"{self.spec}: output dimension {self.out_dim} exceeds the input's {X.shape[1]}")

    def output_dim(self, dim: int) -> int:
        return self.out_dim

    def bytes_per_vector(self, dim):
        return 4 * self.out_dim

    def transform(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def transform_queries(self, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Queries in the projected space and per-query offsets: q.inverse(z) = q'.z + offset."""
        raise NotImplementedError

    # alone, a projection stores its float32 output
    def _encode_block(self, X):
        return self.transform(X).astype("<f4").view(np.uint8)

    def _decode_block(self, codes):
        return self.inverse_transform(np.ascontiguousarray(codes).view("<f4"))

    def _score_block(self, Q, codes):
        # q.inverse(z) = q'.z + offset: project the queries once, never lift the stored rows back
        projected, offset = self.transform_queries(Q)
        return projected @ np.ascontiguousarray(codes).view("<f4").T + offset[:, None]


@register
class PCA(Projection):
    name = "pca"
    example = "pca:128"
    summary = "principal components: keep the D directions of largest variance (learned by fit)"
    trainable = True
    state_arrays = ("mean_", "components_")

    def _fit(self, X, progress):
        super()._fit(X, progress)
        if len(X) < self.out_dim:
            raise VectroError(f"{self.spec} needs at least {self.out_dim} training vectors, got {len(X)}")
        mean, components = principal_axes(X, self._seed)
        self.mean_, self.components_ = mean, components[: self.out_dim]

    def transform(self, X):
        return (X - self.mean_) @ self.components_.T

    def inverse_transform(self, Z):
        return Z @ self.components_ + self.mean_

    def transform_queries(self, Q):
        return kernels.query_products(Q, self.components_), kernels.pair_dots(Q, self.mean_)


@register
class Truncate(Projection):
    name = "trunc"
    example = "trunc:256"
    summary = "keep the first D dimensions (Matryoshka-trained models)"

    def transform(self, X):
        return np.ascontiguousarray(X[:, : self.out_dim])

    def inverse_transform(self, Z):
        out = np.zeros((len(Z), self.dim_), dtype=np.float32)
        out[:, : self.out_dim] = Z
        return out

    def transform_queries(self, Q):
        return np.ascontiguousarray(Q[:, : self.out_dim]), np.zeros(len(Q), dtype=np.float32)
