"""Rotation quantisation `rq:B`: a random orthogonal rotation, then B bits per coordinate.

After a random rotation every coordinate of a unit vector is close to N(0, 1/d) whatever the
embedding model, so one Lloyd-Max codebook (fitted on a sample of rotated, scaled coordinates)
serves every dimension; this is the TurboQuant recipe (arXiv 2504.19874). Each row also stores a
float32 factor alpha = <x, R^T z_hat> / |z_hat|^2, the least-squares scale of the quantised
direction, so inner products q.x ~ alpha * (R q).z_hat keep the vector's norm and are not shrunk.

    rq:4     4 bits per dimension   (d/2 + 4 bytes per vector: 196 at d=384)
    rq:1     1 bit per dimension    (d/8 + 4 bytes: 52 at d=384)
Row layout: ceil(d * B / 8) bytes of codes (bit-planes interleaved per coordinate, lowest bit
first), then alpha as float32.
"""

from __future__ import annotations

import numpy as np

from ..errors import VectroError
from .base import Codec, register

# Coordinates the codebook learns from at most, and Lloyd-Max iterations.
CODEBOOK_SAMPLES = 1_000_000
LLOYD_ITERATIONS = 30


def lloyd_max(values: np.ndarray, levels: int, iterations: int = LLOYD_ITERATIONS) -> np.ndarray:
    """1-D Lloyd-Max quantiser: `levels` sorted reconstruction points minimising squared error."""
    values = np.sort(values.astype(np.float64))
    points = np.quantile(values, (np.arange(levels) + 0.5) / levels)
    for _ in range(iterations):
        edges = np.searchsorted(values, (points[1:] + points[:-1]) / 2)
        sums = np.add.reduceat(values, np.r_[0, edges]) if len(values) else np.zeros(levels)
        counts = np.diff(np.r_[0, edges, len(values)])
        points = np.where(counts > 0, sums / np.maximum(counts, 1), points)
        points = np.maximum.accumulate(points)
    return points.astype(np.float32)


def pack_bitplanes(values: np.ndarray, bits: int) -> np.ndarray:
    """uint8 values < 2**bits (n, d) -> (n, ceil(d * bits / 8)) bytes, coordinate-major, low bit first."""
    planes = (values[:, :, None] >> np.arange(bits, dtype=np.uint8)) & 1
    return np.packbits(planes.reshape(len(values), -1), axis=1, bitorder="little")


def unpack_bitplanes(packed: np.ndarray, bits: int, dim: int) -> np.ndarray:
    planes = np.unpackbits(packed, axis=1, count=dim * bits, bitorder="little").reshape(len(packed), dim, bits)
    return (planes << np.arange(bits, dtype=np.uint8)).sum(axis=2, dtype=np.uint8)


@register
class RotationQuantizer(Codec):
    name = "rq"
    example = "rq:4"
    summary = "random rotation + B-bit Lloyd-Max codebook + per-vector scale (TurboQuant-style)"
    trainable = True
    state_arrays = ("rotation_", "levels_")
    min_fit_rows = 16

    def __init__(self, arg: str | None = None):
        super().__init__()
        if arg not in ("1", "2", "3", "4", "8"):
            raise VectroError("rq needs a bit width: rq:1, rq:2, rq:3, rq:4 or rq:8")
        self.bits = int(arg)

    @property
    def spec(self) -> str:
        return f"rq:{self.bits}"

    def bytes_per_vector(self, dim: int) -> int:
        return -(-dim * self.bits // 8) + 4

    def _fit(self, X):
        dim = X.shape[1]
        gaussian = np.random.default_rng(0).standard_normal((dim, dim))
        q, r = np.linalg.qr(gaussian)
        self.rotation_ = (q * np.sign(np.diag(r))).astype(np.float32)  # Haar-distributed orthogonal
        z = self._directions(X)
        sample = z.reshape(-1)
        if len(sample) > CODEBOOK_SAMPLES:
            sample = sample[np.random.default_rng(1).integers(0, len(sample), CODEBOOK_SAMPLES)]
        self.levels_ = lloyd_max(sample, 2**self.bits)

    def _directions(self, X: np.ndarray) -> np.ndarray:
        """Rotated unit directions scaled by sqrt(d): coordinates close to N(0, 1)."""
        rotated = X @ self.rotation_.T
        norms = np.linalg.norm(rotated.astype(np.float64), axis=1, keepdims=True)  # float32 squares overflow
        return (rotated * (np.sqrt(X.shape[1]) / np.where(norms == 0, 1, norms))).astype(np.float32)

    def _encode_block(self, X):
        n, dim = X.shape
        z = self._directions(X)
        thresholds = (self.levels_[1:] + self.levels_[:-1]) / 2
        values = np.zeros(z.shape, dtype=np.uint8)
        for threshold in thresholds:
            values += z > threshold
        z_hat = self.levels_[values]
        energy = np.einsum("ij,ij->i", z_hat, z_hat)
        # alpha: least-squares scale of the quantised direction, in the original units
        alpha = np.einsum("ij,ij->i", (X @ self.rotation_.T).astype(np.float64), z_hat) / np.where(energy == 0, 1, energy)
        out = np.empty((n, self.bytes_per_vector(dim)), dtype=np.uint8)
        out[:, :-4] = pack_bitplanes(values, self.bits)
        out[:, -4:] = alpha.astype("<f4").view(np.uint8).reshape(n, 4)
        return out

    def _rotated_decode(self, codes) -> np.ndarray:
        values = unpack_bitplanes(np.ascontiguousarray(codes[:, :-4]), self.bits, self.dim_)
        alpha = np.ascontiguousarray(codes[:, -4:]).view("<f4")
        return self.levels_[values] * alpha

    def _decode_block(self, codes):
        return self._rotated_decode(codes) @ self.rotation_

    def _score_block(self, Q, codes):
        # rotate the queries once instead of rotating every decoded vector back
        return (Q @ self.rotation_.T) @ self._rotated_decode(codes).T
