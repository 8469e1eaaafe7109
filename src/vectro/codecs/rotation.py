"""Rotation quantisation `rq:B`: a random orthogonal rotation, then B bits per coordinate.

After a random rotation every coordinate of a unit vector is close to N(0, 1/d) whatever the
embedding model, so one Lloyd-Max codebook (fitted on a sample of rotated, scaled coordinates)
serves every dimension; this is the TurboQuant recipe (arXiv 2504.19874). Each row also stores a
float32 factor alpha = <x, R^T z_hat> / |z_hat|^2, the least-squares scale of the quantised
direction, so inner products q.x ~ alpha * (R q).z_hat keep the vector's norm and are not shrunk.

The rotation is structured when d has a power-of-two factor b >= 32 (d = 384: b = 128):
R = H D2 P H D1, with D random signs, P a random permutation and H the orthonormal Walsh-Hadamard
transform of each aligned block of b coordinates. It costs O(d log b) per vector instead of the
O(d^2) of a dense matrix, and it mixes every input coordinate into every block (the permutation
crosses blocks). Other d use a dense Haar-random rotation.

    rq:4     4 bits per dimension   (d/2 + 4 bytes per vector: 196 at d=384)
    rq:1     1 bit per dimension    (d/8 + 4 bytes: 52 at d=384)
Row layout: ceil(d * B / 8) bytes of codes (coordinate j in bits j*B .. j*B+B-1, lowest first),
then alpha as float32.
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from .._util import rng_of, sample
from ..errors import VectroError
from .base import Codec, in_small_batches, register

# Coordinates the codebook learns from at most, and Lloyd-Max iterations.
CODEBOOK_SAMPLES = 1_000_000
LLOYD_ITERATIONS = 30
# The smallest power-of-two block the structured rotation uses; below it the rotation is dense.
MIN_HADAMARD_BLOCK = 32
# queries scored by the kernels for a few (packed levels, per-byte tables, bit planes), kernels.SMALL_BATCH a
# call; past it, one decode of a block and a BLAS product. At 50,000 x 384 a batch of 16 cost rq:1 2.5x and
# rq:3 3.9x per query through the decode; at 64 the two are near (rq:1 0.8x, rq:3 1.5x)
TABLE_QUERIES = 32


def lloyd_max(values: np.ndarray, levels: int, iterations: int = LLOYD_ITERATIONS) -> np.ndarray:
    """1-D Lloyd-Max quantiser: `levels` sorted reconstruction points minimising squared error."""
    values = values.astype(np.float64)
    if np.any(values[1:] < values[:-1]):
        values = np.sort(values)
    if not len(values) or values[0] == values[-1]:  # one value (or none): every level is that value
        return np.full(levels, values[0] if len(values) else 0.0, dtype=np.float32)
    # Start from the Panter-Dite point density (density^(1/3), optimal at high rate) rather than
    # equal-mass quantiles: with 256 levels, quantile starts leave the tails so coarse that 30
    # iterations end at 6x the optimal error; this start is within 1% of it at every width.
    hist, edges = np.histogram(values, bins=min(4096, max(16, len(values) // 64)))
    mass = np.concatenate([[0.0], np.cumsum(np.cbrt(hist.astype(np.float64)))])
    points = np.interp((np.arange(levels) + 0.5) / levels * mass[-1], mass, edges)
    for _ in range(iterations):
        edges = np.searchsorted(values, (points[1:] + points[:-1]) / 2)
        starts = np.concatenate(([0], edges))
        sums = np.add.reduceat(values, starts)
        counts = np.diff(np.concatenate((starts, [len(values)])))
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


def hadamard_block(dim: int) -> int:
    """The block size of the structured rotation for `dim` (its largest power-of-two factor), or 0: dense."""
    block = dim & -dim
    return block if block >= MIN_HADAMARD_BLOCK else 0


def fwht(X: np.ndarray, block: int) -> np.ndarray:
    """Unnormalised Walsh-Hadamard transform of each aligned `block` of every row of X (n, d)."""
    n, dim = X.shape
    Y = np.array(X, dtype=np.float32)
    h = 1
    while h < block:
        pairs = Y.reshape(n, dim // (2 * h), 2, h)
        first, second = pairs[:, :, 0, :], pairs[:, :, 1, :]
        Y = np.stack((first + second, first - second), axis=2).reshape(n, dim)
        h *= 2
    return Y


@register
class RotationQuantizer(Codec):
    name = "rq"
    example = "rq:4"
    summary = "random rotation + B-bit Lloyd-Max codebook + per-vector scale (TurboQuant-style)"
    trainable = True
    min_fit_rows = 16

    def __init__(self, arg: str | None = None):
        super().__init__()
        if arg not in ("1", "2", "3", "4", "8"):
            raise VectroError("rq needs a bit width: rq:1, rq:2, rq:3, rq:4 or rq:8")
        self.bits = int(arg)
        self.state_arrays = ("signs_", "perm_", "levels_")

    @property
    def spec(self) -> str:
        return f"rq:{self.bits}"

    def bytes_per_vector(self, dim: int) -> int:
        return self._width(dim) + 4

    def _width(self, dim: int) -> int:
        return -(-dim * self.bits // 8)

    # ----- the rotation ---------------------------------------------------------------------
    @property
    def block(self) -> int:
        return 0 if self.state_arrays[0] == "rotation_" else hadamard_block(self.dim_)

    def _make_rotation(self, dim: int, rng: np.random.Generator) -> None:
        block = hadamard_block(dim)
        if block:
            # both 1/sqrt(block) normalisations of the transform are folded into the signs
            self.signs_ = (rng.choice([-1.0, 1.0], (2, dim)) / np.sqrt(block)).astype(np.float32)
            self.perm_ = rng.permutation(dim).astype(np.int64)
            self.state_arrays = ("signs_", "perm_", "levels_")
        else:
            q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
            self.rotation_ = (q * np.sign(np.diag(r))).astype(np.float32)  # Haar-distributed orthogonal
            self.state_arrays = ("rotation_", "levels_")

    def rotate(self, X: np.ndarray) -> np.ndarray:
        """R x for each row of X (n, d) float32."""
        if not self.block:
            return X @ self.rotation_.T
        first = fwht(X * self.signs_[0], self.block)
        return fwht(first[:, self.perm_] * self.signs_[1], self.block)

    def unrotate(self, Y: np.ndarray) -> np.ndarray:
        """R^T y for each row of Y (n, d) float32."""
        if not self.block:
            return Y @ self.rotation_
        first = np.empty_like(Y)
        first[:, self.perm_] = fwht(Y, self.block) * self.signs_[1]
        return fwht(first, self.block) * self.signs_[0]

    # ----- fit / encode / decode ------------------------------------------------------------
    def _fit(self, X, progress):
        dim = X.shape[1]
        rng = rng_of(self._seed)  # one stream: the rotation first, then the codebook's row sample
        self._make_rotation(dim, rng)
        self.dim_ = dim
        X = sample(X, -(-CODEBOOK_SAMPLES // dim), rng)
        rotated = self.rotate(X)
        _, scale = self._direction_scale(rotated)
        self.levels_ = lloyd_max((rotated * scale).reshape(-1), 2**self.bits)  # float64 directions

    def _load_state(self, dim, arrays):
        self.state_arrays = ("rotation_", "levels_") if "rotation_" in arrays else ("signs_", "perm_", "levels_")
        super()._load_state(dim, arrays)

    @staticmethod
    def _direction_scale(rotated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rotated rows in float64 (float32 squares overflow) and the factor (n, 1), float64, that scales
        each row's direction to unit variance per coordinate: sqrt(d) / |row| (zero rows stay zero)."""
        wide = rotated.astype(np.float64)
        norms = np.sqrt(np.einsum("ij,ij->i", wide, wide))[:, None]
        return wide, np.sqrt(rotated.shape[1]) / np.where(norms == 0, 1, norms)

    def _encode_block(self, X):
        n, dim = X.shape
        rotated = self.rotate(X)
        wide, scale = self._direction_scale(rotated)
        scale = scale.astype(np.float32)
        thresholds = (self.levels_[1:] + self.levels_[:-1]) / np.float32(2)
        values = np.searchsorted(thresholds, rotated * scale, side="left").astype(np.uint8)
        z_hat = self.levels_[values].astype(np.float64)
        energy = np.einsum("ij,ij->i", z_hat, z_hat)
        # alpha: least-squares scale of the quantised direction, in the original units
        alpha = np.einsum("ij,ij->i", wide, z_hat) / np.where(energy == 0, 1, energy)
        out = np.empty((n, self.bytes_per_vector(dim)), dtype=np.uint8)
        out[:, :-4] = pack_bitplanes(values, self.bits)
        out[:, -4:] = alpha.astype("<f4").view(np.uint8).reshape(n, 4)
        return out

    def _kernel_rotation(self):
        if self.block:
            return self.signs_, self.perm_, self.block
        return np.ones((2, self.dim_), dtype=np.float32), np.arange(self.dim_), 0

    def _encode_fast(self, X, out):
        signs, perm, block = self._kernel_rotation()
        Y = X if block else np.ascontiguousarray(X @ self.rotation_.T)
        return kernels.rq_encode(Y, signs, perm, block, self.levels_, self.bits, out)

    def _decode_fast(self, codes, out):
        signs, perm, block = self._kernel_rotation()
        if block:
            kernels.rq_decode(codes, signs, perm, block, self.levels_, self.bits, out)
        else:  # the kernel leaves dense-rotation rows rotated: decode to a temporary, rotate into out
            rotated = np.empty_like(out)
            kernels.rq_decode(codes, signs, perm, block, self.levels_, self.bits, rotated)
            np.matmul(rotated, self.rotation_, out=out)
        return True

    def _rotated_decode(self, codes) -> np.ndarray:
        values = unpack_bitplanes(np.ascontiguousarray(codes[:, :-4]), self.bits, self.dim_)
        return self.levels_[values] * kernels.float_columns(codes, codes.shape[1] - 4)

    def _decode_block(self, codes):
        return self.unrotate(self._rotated_decode(codes))

    def _scoring_queries(self, Q):
        return np.ascontiguousarray(self.rotate(Q), dtype=np.float32)  # q.x = Rq.Rx: no row is rotated back

    def row_kernel(self):
        if self.bits not in (2, 4):
            return None
        scale_at = self.bytes_per_vector(self.dim_) - 4
        return kernels.RowKernel("packed", self.bits, self.levels_, scale_at, prepare=self._scoring_queries)

    def _score_block(self, rotated_queries, codes):
        if kernels.SMALL_BATCH < len(rotated_queries) <= TABLE_QUERIES:
            return in_small_batches(self._score_block, rotated_queries, codes)
        if len(rotated_queries) <= kernels.SMALL_BATCH and kernels.packed_fast(self.bits) and kernels.available():
            return kernels.packed_scores(rotated_queries, codes, self.levels_, self.bits, scale_at=codes.shape[1] - 4)
        if len(rotated_queries) <= kernels.SMALL_BATCH and 8 % self.bits == 0:
            # per-byte lookup tables; the 4 alpha bytes get all-zero tables, so codes are read in place
            luts = np.zeros((len(rotated_queries), codes.shape[1], 256), dtype=np.float32)
            luts[:, :-4] = kernels.packed_value_luts(rotated_queries, self.levels_, self.bits)
            return kernels.table_scores(luts, codes) * kernels.float_columns(codes, codes.shape[1] - 4)[:, 0]
        if len(rotated_queries) <= kernels.SMALL_BATCH and kernels.available():
            return kernels.bitplane_scores(rotated_queries, codes, self.levels_, self.bits)
        return rotated_queries @ self._rotated_decode(codes).T
