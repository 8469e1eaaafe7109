"""Residual vector quantisation `rvq:M` / `rvq:Mx4`: an additive code, M codebooks summed.

A vector is approximated by the sum of one row from each of M learned codebooks of 2**B rows
(B = 8, or 4 with `x4`): x_hat = C_1[i_1] + ... + C_M[i_M], each codebook spanning all d
dimensions (unlike pq's sub-spaces). The codebooks are trained one after the other on what
the previous ones left (residual k-means with a beam of candidate codes, FAISS's
`ResidualQuantizer`), and a vector's codes come from the same beam search: it keeps the best
`ENCODE_BEAM` partial sums at each step instead of committing greedily. Inner products with a
float query come from per-query tables of q . C_m[k], one lookup per code byte, as for pq.

    rvq:16      16 codebooks x 8 bits      16 bytes per vector
    rvq:32      32 codebooks x 8 bits      32 bytes
    rvq:32x4    32 codebooks x 4 bits      16 bytes (two codes per byte, first in the low nibble)

Cosine ranking divides by |x_hat|, which the codes determine (decode and take the norm): an
Index keeps it per row (a float32 beside the codes, as for every codec), so no byte is spent
on it in the code itself. FAISS is needed to fit and to encode (`vectro[ann]`); decoding and
scoring are NumPy and the compiled lookup-table kernel.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import kernels
from ..errors import require
from .base import Codec, register
from .product import ADVISED_POINTS_PER_CENTROID, _parse, _unit_scale, byte_tables
from .scalar import unpack_bits

# rows per FAISS encode call (every call the same shape: see _encode_block)
ENCODE_ROWS = 64
# beam widths: wider finds better codes at a cost about linear in the width; training's beam
# shapes the codebooks, encoding's picks each vector's codes
TRAIN_BEAM = 4
ENCODE_BEAM = 16
# k-means per codebook: fewer points and iterations than pq's, since each of the M k-means runs over
# all d dimensions on the residuals of every beam entry (pq's settings take minutes on two cores)
RVQ_POINTS_PER_CENTROID = 64
RVQ_KMEANS_ITERATIONS = 10


@register
class ResidualVectorQuantizer(Codec):
    name = "rvq"
    example = "rvq:16"
    summary = "residual quantisation: the sum of one row from each of M codebooks of 2**B, beam-searched (FAISS)"
    trainable = True
    batch_rows = ENCODE_ROWS
    state_arrays = ("codebooks_", "scale_")

    def __init__(self, arg: str | None = None):
        super().__init__()
        self.codebooks, self.bits = _parse(self.name, arg)

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.codebooks}" + ("x4" if self.bits == 4 else "")

    @property
    def min_fit_rows(self) -> int:  # one training vector per codebook row at the very least
        return 2**self.bits

    def bytes_per_vector(self, dim: int) -> int:
        return -(-self.codebooks * self.bits // 8)

    # ----- fit --------------------------------------------------------------------------------
    def _fit(self, X, progress):
        faiss = require("faiss", "ann")
        if len(X) < ADVISED_POINTS_PER_CENTROID * 2**self.bits:  # one clear warning, not FAISS's hundreds
            warnings.warn(f"{self.spec}: learning {2**self.bits}-row codebooks from {len(X):,} vectors; k-means is "
                          f"advised at least {ADVISED_POINTS_PER_CENTROID * 2**self.bits:,} "
                          f"({ADVISED_POINTS_PER_CENTROID} per row), so the codebooks may be weak", stacklevel=3)
        progress(0, 2)
        self.scale_ = np.asarray(_unit_scale(X), dtype=np.float32)  # k-means on X / scale cannot overflow
        rq = faiss.ResidualQuantizer(X.shape[1], self.codebooks, self.bits)
        rq.max_beam_size = TRAIN_BEAM
        # plain k-means (FAISS's default progressive-dimension k-means is many times slower)
        rq.train_type = faiss.ResidualQuantizer.Train_default
        rq.cp.seed, rq.cp.niter = self._seed, RVQ_KMEANS_ITERATIONS
        rq.cp.max_points_per_centroid, rq.cp.min_points_per_centroid = RVQ_POINTS_PER_CENTROID, 1
        rq.train(np.ascontiguousarray(X / self.scale_, dtype=np.float32))
        progress(1, 2)
        self.codebooks_ = faiss.vector_to_array(rq.codebooks).reshape(self.codebooks, 2**self.bits, -1)
        self._encoder = None
        progress(2, 2)

    def _load_state(self, dim, arrays):
        super()._load_state(dim, arrays)
        self._encoder = None

    def _faiss_encoder(self):
        """A FAISS ResidualQuantizer holding these codebooks, built once (the codebooks are fixed)."""
        if getattr(self, "_encoder", None) is None:
            faiss = require("faiss", "ann")
            m, k, d = self.codebooks_.shape
            rq = faiss.ResidualQuantizer(d, m, self.bits)
            faiss.copy_array_to_vector(np.ascontiguousarray(self.codebooks_, dtype=np.float32).ravel(), rq.codebooks)
            rq.is_trained = True
            rq.max_beam_size = ENCODE_BEAM
            rq.use_beam_LUT = 1  # beam steps from precomputed codebook products: far fewer flops
            rq.compute_codebook_tables()
            self._encoder = rq
        return self._encoder

    # ----- encode / decode / score ------------------------------------------------------------
    def _encode_block(self, X):
        rq = self._faiss_encoder()
        # The beam search compares sums that BLAS rounds by the batch's shape and by a row's place in it,
        # and near-ties flip: FAISS always gets ENCODE_ROWS-row batches, and blocks that start at a
        # multiple of ENCODE_ROWS (batch_rows: compress aligns its blocks) give each row its whole-array code.
        n = len(X)
        padded = np.empty((-(-n // ENCODE_ROWS) * ENCODE_ROWS, X.shape[1]), dtype=np.float32)
        np.divide(X, self.scale_, out=padded[:n])
        padded[n:] = padded[n - 1] if n else 0
        codes = [rq.compute_codes(padded[i : i + ENCODE_ROWS]) for i in range(0, len(padded), ENCODE_ROWS)]
        # FAISS packs 4-bit codes first in the low nibble, as scalar.pack_bits does
        return np.concatenate(codes)[:n] if codes else np.empty((0, self.bytes_per_vector(X.shape[1])), np.uint8)

    def _values(self, codes: np.ndarray) -> np.ndarray:
        """The codebook row of each codebook: uint8 (n, M)."""
        return codes if self.bits == 8 else unpack_bits(codes, 4, self.codebooks)

    def _decode_block(self, codes):
        values = self._values(codes)
        out = np.zeros((len(codes), self.codebooks_.shape[2]), dtype=np.float32)
        for m, codebook in enumerate(self.codebooks_):
            out += codebook[values[:, m]]
        return out * self.scale_

    def _score_block(self, Q, codes):
        if len(Q) > kernels.SMALL_BATCH:
            return super()._score_block(Q, codes)
        tables = np.einsum("qd,mkd->qmk", Q * self.scale_, self.codebooks_)  # (nq, M, 2**B): q . C_m[k]
        if self.bits == 4:
            tables = byte_tables(tables)
        return kernels.table_scores(np.ascontiguousarray(tables, dtype=np.float32), codes)


__all__ = ["ResidualVectorQuantizer"]
