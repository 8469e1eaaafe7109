"""Binary codec: one sign bit per dimension, packed eight to a byte (first dimension lowest bit)."""

from __future__ import annotations

import numpy as np

from .. import kernels
from .base import Codec, register

# the value a 0 / 1 bit decodes to (before the 1/sqrt(d) that makes decoded vectors unit length)
SIGN_LEVELS = np.array([-1.0, 1.0], dtype=np.float32)


@register
class Binary(Codec):
    name = "binary"
    summary = "1 bit per dimension (sign), 32x smaller; Hamming or asymmetric float scoring"

    def bytes_per_vector(self, dim: int) -> int:
        return -(-dim // 8)

    def _encode_block(self, X):
        return np.packbits(X > 0, axis=1, bitorder="little")

    def _signs(self, codes) -> np.ndarray:
        bits = np.unpackbits(codes, axis=1, count=self.dim_, bitorder="little")
        return bits.astype(np.float32) * 2 - 1

    def _decode_block(self, codes):
        # +-1/sqrt(d): unit vectors, so cosine and inner product rank the same way
        return self._signs(codes) / np.float32(np.sqrt(self.dim_))

    def _encode_fast(self, X, out):
        return kernels.sign_encode(X, out)

    def _decode_fast(self, codes, out):
        kernels.sign_decode(codes, out, np.float32(1) / np.float32(np.sqrt(self.dim_)))
        return True

    def _score_fast(self, Q, codes):
        luts = kernels.packed_value_luts(Q, SIGN_LEVELS / np.float32(np.sqrt(self.dim_)), 1)
        return kernels.lut_scores(luts, codes)

    def hamming(self, query_codes: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Hamming distances between binary query codes (nq, B) and codes (n, B): int32 (nq, n)."""
        return kernels.hamming(self._check_codes(query_codes), self._check_codes(codes))
