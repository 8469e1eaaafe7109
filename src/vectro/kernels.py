"""Compiled scoring kernels (numba), used where they beat NumPy: a few queries against many codes.

A batch of queries is best served by decoding a block and one BLAS matrix product; a single query
is not (decoding n vectors to score them once costs more than the dot products). These kernels
read the codes in place, in parallel over rows. They compile on first use (cached on disk, so a
restart does not recompile); `VECTRO_BACKEND=numpy` or a missing numba keeps the NumPy path,
which gives the same scores to float rounding.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

# at most this many queries go through the per-row kernels; larger batches use decode + BLAS
SMALL_BATCH = 8


@lru_cache(maxsize=1)
def _numba():
    if os.environ.get("VECTRO_BACKEND", "auto").lower() == "numpy":
        return None
    try:
        import numba
    except ImportError:
        return None
    from .backend import thread_count

    numba.set_num_threads(min(thread_count(), numba.config.NUMBA_NUM_THREADS))
    return numba


def available() -> bool:
    return _numba() is not None


@lru_cache(maxsize=None)
def _compiled(name: str):
    numba = _numba()
    jit = numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
    prange = numba.prange

    if name == "int8":
        def int8_scores(Q, codes, scales, dim):
            n, nq = codes.shape[0], Q.shape[0]
            out = np.empty((nq, n), dtype=np.float32)
            for i in prange(n):
                for q in range(nq):
                    acc = np.float32(0.0)
                    for j in range(dim):
                        acc += Q[q, j] * np.float32(codes[i, j])
                    out[q, i] = acc * scales[i]
            return out
        return jit(int8_scores)

    if name == "int8_candidates":
        def int8_candidate_scores(Q, codes, rows, dim):
            nq, c = rows.shape
            out = np.empty((nq, c), dtype=np.float32)
            for q in prange(nq):
                for j in range(c):
                    r = rows[q, j]
                    acc = np.float32(0.0)
                    for t in range(dim):
                        acc += Q[q, t] * np.float32(codes[r, t])
                    out[q, j] = acc * codes[r, dim : dim + 4].view(np.float32)[0]
            return out
        return jit(int8_candidate_scores)

    if name == "byte_lut":
        def lut_scores(luts, codes):
            # luts: (nq, bytes, 256) partial sums per code byte; codes: (n, bytes) uint8
            n, nq, width = codes.shape[0], luts.shape[0], codes.shape[1]
            out = np.empty((nq, n), dtype=np.float32)
            for i in prange(n):
                for q in range(nq):
                    acc = np.float32(0.0)
                    for b in range(width):
                        acc += luts[q, b, codes[i, b]]
                    out[q, i] = acc
            return out
        return jit(lut_scores)
    raise KeyError(name)


def int8_scores(Q: np.ndarray, codes: np.ndarray, dim: int) -> np.ndarray:
    """Q float32 (nq, d) against per-vector int8 rows (n, d + 4): float32 (nq, n)."""
    scales = np.ascontiguousarray(codes[:, dim : dim + 4]).view("<f4")[:, 0]
    return _compiled("int8")(np.ascontiguousarray(Q, dtype=np.float32), np.asarray(codes).view(np.int8), scales, dim)


def int8_candidate_scores(Q: np.ndarray, codes: np.ndarray, rows: np.ndarray, dim: int) -> np.ndarray:
    """Q float32 (nq, d) against its own candidate rows (nq, c) of int8 codes (n, d + 4): (nq, c)."""
    return _compiled("int8_candidates")(np.ascontiguousarray(Q, dtype=np.float32), np.asarray(codes).view(np.int8),
                                        np.ascontiguousarray(rows, dtype=np.int64), dim)


def sign_bit_luts(Q: np.ndarray, dim: int, scale: float) -> np.ndarray:
    """Per query and code byte, the sum of +-q over the 8 dimensions that byte holds, for each byte value."""
    width = -(-dim // 8)
    padded = np.zeros((len(Q), width * 8), dtype=np.float32)
    padded[:, :dim] = Q * np.float32(scale)
    bits = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(np.float32) * 2 - 1  # (256, 8) of +-1
    return np.einsum("qbk,vk->qbv", padded.reshape(len(Q), width, 8), bits).astype(np.float32)


def lut_scores(luts: np.ndarray, codes: np.ndarray) -> np.ndarray:
    return _compiled("byte_lut")(np.ascontiguousarray(luts), np.ascontiguousarray(codes))
