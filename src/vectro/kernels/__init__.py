"""Compiled kernels behind the codecs (C where built, numba for the rest), with the NumPy code as the fallback.

What runs where:
    encode / decode      int8, int16, int4, nf4 (per-vector scale), int8-dim, binary, float16, bf16,
                         rq:B;
                         each writes straight into the caller's output rows (`out=`)
    scoring, few queries every codec reads its codes in place: int8 / int16 / int8-dim /
                         float16 / bf16 / rq:3 kernels; the table of 16 (256) levels for int4,
                         nf4 and rq:4 (rq:8) rows; per-byte lookup tables for int2, int4:G,
                         int8:G, binary, pq / opq and rq:1/2; composites project the queries
                         once and use their quantiser's kernel
    scoring, batches     NumPy: decode a cache-sized block, then one BLAS matrix product
    Hamming              binary codes as 64-bit words, a popcount instruction per word; the top-k
                         is kept per thread (no queries x rows matrix); NumPy: np.bitwise_count
    training             group_sums, pair_counts and sum_of_rows: the sums, the counts and the
                         residuals of rvq's least-squares rounds (numba; NumPy sorts and reduces,
                         counts with bincount and adds codebook by codebook)
C kernels (`_native.c`, built at install where a C compiler is found) run in place of numba's for
the int8 path (abs-max encode and decode at 4, 8 and 16 bits, int8 scoring, shortlist re-scoring
and its top-k, the top-k of a scan), nf4's and rq:B's encode, float32 scoring, and few-query scoring
of packed 2- and 4-bit codes (int2, int4, nf4, rq:2, rq:4: their levels looked up in registers,
where numba reads a table or per-byte tables). They also build and walk vectro's HNSW graph over the
codes (`hnsw_add`, `hnsw_search`; see index/ann.py), which has no other implementation. A process that uses only them (a `vectro serve`
of int8 collections) never loads numba and LLVM, which hold about 150 MiB of resident memory.
numba's kernels compile on first use and are cached on disk, so `import vectro` stays fast and a
restart does not recompile. `VECTRO_BACKEND=numpy` (or no numba) keeps the NumPy path, which
produces the same codes byte for byte and the same scores to float rounding; `VECTRO_BACKEND=numba`
skips the C kernels. Threads: `VECTRO_THREADS` or `vectro.set_threads(n)`; all cores by default.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Callable, NamedTuple

import numpy as np

# at most this many queries go through one call of the per-row scoring kernels
SMALL_BATCH = 8
# batches up to this size are scored by those kernels SMALL_BATCH queries a call where a codec has one
# that reads its codes in place (Codec._score_fast), or by one pass of `scan_top_k`; larger ones decode
# each block once for a BLAS product. Decoding cost 2-10x the kernels per query at 9 to 64 queries; the
# two meet between 64 and 256 (benchmarks/speed.py times 16 a call)
IN_PLACE_QUERIES = 64


def pair_dots(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Dot products along the last axis of A and B, broadcast over the others, without BLAS's thread
    team: OpenBLAS's threads spin on the cores for a while after a product, and the scoring kernel
    that follows needs those cores (a 50,000-row int8 search ran 5.5 ms after an 8-query product,
    1.5 to 1.8 ms after these dots or none; scratch, 2 cores). np.vecdot runs BLAS's sdot, on one thread below 10,000
    values; NumPy before 2.0 has no vecdot and takes einsum's own loops."""
    if hasattr(np, "vecdot"):
        return np.vecdot(A, B)
    return np.einsum("...d,...d->...", A, B)


def query_products(Q: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Q (nq, d) @ M.T for M (k, d): the queries' side of a search (a projection, a rotation); pair_dots
    up to IN_PLACE_QUERIES queries, one BLAS product for more."""
    return Q @ M.T if len(Q) > IN_PLACE_QUERIES else pair_dots(Q[:, None, :], M[None, :, :])


BACKENDS = ("auto", "numba", "numpy")


def _configured() -> str:
    from ..errors import VectroError

    name = os.environ.get("VECTRO_BACKEND", "auto").strip().lower() or "auto"
    if name not in BACKENDS:
        raise VectroError(f"VECTRO_BACKEND must be one of {', '.join(BACKENDS)}, got {name!r}")
    return name


@lru_cache(maxsize=1)
def _module():
    """numba's kernels, imported (with numba and LLVM) on the first call that needs one. numba found
    but failing to import (say, a NumPy it does not support yet) raises once, naming the way out, and
    `available()` is False from then on: every later call takes the NumPy path."""
    global _numba_broken
    if _configured() == "numpy":
        return None
    try:
        import numba  # noqa: F401
    except ImportError as exc:
        from ..errors import VectroError

        _numba_broken = True
        raise VectroError(f"numba is installed but does not import ({exc}); the NumPy kernels take over from "
                          "the next call (VECTRO_BACKEND=numpy selects them from the start)") from exc
    from . import _jit

    set_threads(None)
    return _jit


_numba_broken = False


@lru_cache(maxsize=1)
def _has_numba() -> bool:
    from importlib.util import find_spec

    return _configured() != "numpy" and find_spec("numba") is not None


#: the version of the C kernels' interface these wrappers call (VECTRO_NATIVE_API in _native.c)
NATIVE_API = 5


@lru_cache(maxsize=1)
def _c_module():
    if _configured() != "auto":
        return None
    try:
        from . import _native
    except ImportError:  # not built: no C compiler at install
        return None
    if getattr(_native, "API", None) != NATIVE_API:  # built from older sources: numba's kernels are used instead
        return None
    return _native


def _c():
    """The C kernels, unless this thread forced another backend (or they were not built)."""
    return _c_module() if _forced.get() is None else None


def native() -> bool:
    """Whether this thread's calls take the C kernels (for the choices that only they make good)."""
    return _c() is not None and available()


# "numpy" or "numba" while a `backend(...)` block runs in this thread or task; None: the configured backend
_forced: ContextVar[str | None] = ContextVar("vectro_backend", default=None)


def available() -> bool:
    """Whether the compiled kernels run here: numba is installed, not disabled, not overridden
    (checked without importing it: numba loads on the first kernel the C ones do not cover)."""
    return _forced.get() != "numpy" and _has_numba() and not _numba_broken


def active() -> str:
    """The backend this thread's calls take: "native" (C, numba for the rest), "numba" or "numpy"."""
    if not available():
        return "numpy"
    return "native" if _c() is not None else "numba"


@contextmanager
def backend(name: str):
    """Run the block on one backend ("numpy": the NumPy fallback; "auto": the configured one).

    The choice is per thread (a context variable), so other threads keep their backend and no
    module attribute is patched.
    """
    from ..errors import VectroError

    if name not in BACKENDS:
        raise VectroError(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)}")
    token = _forced.set(None if name == "auto" else name)
    try:
        yield
    finally:
        _forced.reset(token)


def set_threads(count: int | None) -> int:
    """Limit the kernels to `count` threads (None: VECTRO_THREADS or every core); returns the count."""
    global _threads
    from ..backend import thread_count

    if count is not None:
        os.environ["VECTRO_THREADS"] = str(int(count))
    _threads = thread_count()
    numba = sys.modules.get("numba")  # not imported here: the C kernels may be all this process needs
    if numba is not None:
        numba.set_num_threads(min(_threads, numba.config.NUMBA_NUM_THREADS))
    return _threads


_threads: int | None = None  # the C kernels' thread count (set_threads); numba keeps its own


_CORES = os.cpu_count() or 1  # asked once: os.cpu_count() costs microseconds, more than a graph search's setup


_serial: ContextVar[bool] = ContextVar("vectro_serial_kernels", default=False)


@contextmanager
def serial():
    """The C and numba kernels on one thread within the block, in this thread only: for work that alternates small
    blocks of BLAS products with kernel calls (a projection, then its quantiser), where the BLAS threads
    still spinning after each product take the cores an OpenMP kernel waits for (pca:192+rq:4 encoded
    84,500 vectors/s that way, 605,263 with one kernel thread, in a scratch timing on 2 cores)."""
    token = _serial.set(True)
    numba = sys.modules.get("numba")  # its thread count is per thread too
    before = numba.get_num_threads() if numba is not None else None
    if before is not None:
        numba.set_num_threads(1)
    try:
        yield
    finally:
        _serial.reset(token)
        if before is not None:
            numba.set_num_threads(before)


def _c_threads() -> int:
    """The C kernels' OpenMP threads: set_threads' count, at most the machine's cores (as numba's); one
    inside `serial()`."""
    if _serial.get():
        return 1
    return min(_threads if _threads is not None else set_threads(None), _CORES)


def float_columns(codes: np.ndarray, start: int) -> np.ndarray:
    """The float32 values (scales) stored little-endian in bytes start: of each row, (n, (width - start) // 4):
    a strided view when rows and values sit on 4-byte boundaries (kernels read them in place), else
    a copy. Gathering a column of a 16k-row block costs more than scoring the block with one query."""
    if start % 4 == 0 and codes.shape[1] % 4 == 0 and codes.flags.c_contiguous:
        return codes.view("<f4")[:, start // 4 :]
    return np.ascontiguousarray(codes[:, start:]).view("<f4")


def _scales(codes: np.ndarray, code_bytes: int) -> np.ndarray:
    """The one float32 scale after each row's code bytes (n,)."""
    return float_columns(codes, code_bytes)[:, 0]


def absmax_encode(X: np.ndarray, out: np.ndarray, qmax: int, bits: int) -> int:
    """Per-vector abs-max codes, then the float32 scale, into uint8 out (n, width); first bad row or -1."""
    bad = np.zeros(len(X), dtype=np.bool_)
    c = _c()
    if c is not None and X.dtype == np.float32 and X.flags.c_contiguous and out.flags.c_contiguous:
        c.absmax_encode(X, out, bad, X.shape[0], X.shape[1], out.shape[1], qmax, bits, _c_threads())
    else:
        _module().absmax_encode(X, out, bad, qmax, bits)
    return _first(bad)


def _first(bad: np.ndarray) -> int:
    return int(np.argmax(bad)) if bad.any() else -1


def absmax_decode(codes: np.ndarray, out: np.ndarray, bits: int) -> None:
    """Per-vector abs-max rows (n, width) decoded into float32 out (n, d)."""
    codes = np.ascontiguousarray(codes)
    c = _c()
    if c is not None and out.dtype == np.float32 and out.flags.c_contiguous:
        c.absmax_decode(codes, out, out.shape[0], out.shape[1], codes.shape[1], bits, _c_threads())
    else:
        _module().absmax_decode(codes, _scales(codes, codes.shape[1] - 4), out, bits)


def codebook_encode(X: np.ndarray, out: np.ndarray, thresholds: np.ndarray, bits: int) -> int:
    """Nearest of 2**bits levels on a per-vector abs-max scale, packed, then the float32 scale, into
    uint8 out (n, width); first bad row or -1."""
    bad = np.zeros(len(X), dtype=np.bool_)
    c = _c()
    thresholds = np.asarray(thresholds, dtype=np.float32)
    if (c is not None and X.dtype == np.float32 and X.flags.c_contiguous and out.flags.c_contiguous
            and np.all(thresholds[1:] >= thresholds[:-1])):
        c.codebook_encode(X, out, bad, np.ascontiguousarray(thresholds), X.shape[0], X.shape[1], out.shape[1], bits,
                          _c_threads())
        return _first(bad)
    scales = np.empty(len(X), dtype=np.float32)
    _module().codebook_encode(X, out, scales, bad, thresholds, bits)
    out[:, out.shape[1] - 4 :] = scales.view(np.uint8).reshape(-1, 4)
    return _first(bad)


def codebook_decode(codes: np.ndarray, out: np.ndarray, levels: np.ndarray, bits: int) -> None:
    _module().codebook_decode(np.ascontiguousarray(codes), _scales(codes, codes.shape[1] - 4), levels, bits, out)


def perdim_encode(X, offset, step, out) -> int:
    bad = np.zeros(len(X), dtype=np.bool_)
    _module().perdim_encode(X, offset, step, out, bad)
    return _first(bad)


def perdim_decode(codes, offset, step, out) -> None:
    _module().perdim_decode(np.ascontiguousarray(codes), offset, step, out)


def sign_encode(X, out) -> int:
    bad = np.zeros(len(X), dtype=np.bool_)
    _module().sign_encode(X, out, bad)
    return _first(bad)


def sign_decode(codes, out, magnitude: float) -> None:
    _module().sign_decode(np.ascontiguousarray(codes), out, np.float32(magnitude))


def as_words(codes: np.ndarray) -> np.ndarray:
    """Packed bit codes uint8 (n, B) as uint64 words (n, ceil(B / 8)): a view when B is a multiple
    of 8, else a copy zero-padded to whole words (zero bits add nothing to a Hamming distance)."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    if codes.shape[1] % 8:
        padded = np.zeros((len(codes), -(-codes.shape[1] // 8) * 8), dtype=np.uint8)
        padded[:, : codes.shape[1]] = codes
        codes = padded
    return codes.view(np.uint64)


BYTE_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount(words: np.ndarray) -> np.ndarray:
    """Set bits of every uint64 (NumPy; np.bitwise_count where NumPy has it, a byte table before 2.0)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words)
    return BYTE_POPCOUNT[words.view(np.uint8)].reshape(*words.shape, 8).sum(axis=-1, dtype=np.uint8)


def hamming(query_codes, codes) -> np.ndarray:
    """Hamming distances of packed bit codes (nq, B) to codes (n, B): int32 (nq, n)."""
    query_words, words = as_words(query_codes), as_words(codes)
    if available():
        return _module().hamming(query_words, words)
    out = np.empty((len(query_words), len(words)), dtype=np.int32)
    for q, query in enumerate(query_words):
        out[q] = popcount(words ^ query).sum(axis=1, dtype=np.int32)
    return out


# Hamming top-k keys: distance << HAMMING_ROW_BITS | row (see _jit.hamming_top_k)
HAMMING_ROW_BITS = 40
# the NumPy path's (queries x rows x words) XOR block: 32 MB
HAMMING_BLOCK_WORDS = 4 << 20


def hamming_top_k(query_codes: np.ndarray, codes: np.ndarray, k: int,
                  allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest codes by Hamming distance for each query, ties broken by the lower row.

    query_codes uint8 (nq, B), codes uint8 (n, B): packed bits; allowed: bool (n,) or None (every row).
    Returns rows int64 (nq, k) and distances int32 (nq, k), nearest first; places beyond the
    allowed rows hold row -1 and distance -1. The compiled kernel scans at popcount speed without
    an (nq, n) matrix; the NumPy path gives the same rows and distances.
    """
    query_words, words = as_words(query_codes), as_words(codes)
    if len(words) >= 2**HAMMING_ROW_BITS:
        from ..errors import VectroError

        raise VectroError(f"a Hamming scan handles at most 2**{HAMMING_ROW_BITS} rows, got {len(words)}")
    nq, n = len(query_words), len(words)
    mask = np.zeros(0, dtype=np.bool_) if allowed is None else np.ascontiguousarray(allowed, dtype=np.bool_)
    if available():
        import numba

        threads = numba.get_num_threads()
        if nq >= 4 * threads:  # enough queries: split them, each task scans every row
            query_chunk, parts = max(1, min(32, nq // (4 * threads))), 1
        else:  # few queries: split the rows
            query_chunk, parts = nq, max(1, min(4 * threads, n // 4096))
        keys = _module().hamming_top_k(query_words, words, mask, k, query_chunk, parts)
    else:
        keys = _hamming_top_k_numpy(query_words, words, mask, k)
    empty = keys == np.iinfo(np.int64).max
    rows = np.where(empty, -1, keys & ((1 << HAMMING_ROW_BITS) - 1))
    distances = np.where(empty, -1, keys >> HAMMING_ROW_BITS).astype(np.int32)
    return rows, distances


def _hamming_top_k_numpy(query_words, words, allowed, k) -> np.ndarray:
    """NumPy path of hamming_top_k: the same int64 keys (nq, k), block by block of rows."""
    nq, n = len(query_words), len(words)
    best = np.full((nq, k), np.iinfo(np.int64).max, dtype=np.int64)
    block = max(1, HAMMING_BLOCK_WORDS // max(1, nq * words.shape[1]))
    for start in range(0, n, block):
        stop = min(n, start + block)
        distances = popcount(words[None, start:stop] ^ query_words[:, None]).sum(axis=2, dtype=np.int64)
        keys = (distances << HAMMING_ROW_BITS) | np.arange(start, stop)
        if len(allowed):
            keys[:, ~allowed[start:stop]] = np.iinfo(np.int64).max
        merged = np.hstack([best, keys])
        best = np.partition(merged, k - 1, axis=1)[:, :k]
    return np.sort(best, axis=1)


def half_encode(X, out) -> int:
    """float32 (n, d) -> IEEE half bits into uint8 out (n, 2d); first bad row or -1."""
    bad = np.zeros(len(X), dtype=np.bool_)
    _module().half_encode(X, out.view("<u2"), bad)
    return _first(bad)


def half_decode(codes, out) -> None:
    _module().half_decode(np.ascontiguousarray(codes).view("<u2"), out)


def bf16_encode(X, out) -> int:
    """float32 (n, d) -> bfloat16 bits into uint8 out (n, 2d); first bad row or -1."""
    bad = np.zeros(len(X), dtype=np.bool_)
    _module().bf16_encode(X, out.view("<u2"), bad)
    return _first(bad)


def bf16_decode(codes, out) -> None:
    _module().bf16_decode(np.ascontiguousarray(codes).view("<u2"), out)


def int8_scores(Q: np.ndarray, codes: np.ndarray, dim: int) -> np.ndarray:
    """Q float32 (nq, d) against per-vector int8 rows (n, d + 4): float32 (nq, n)."""
    codes, Q = np.asarray(codes), np.ascontiguousarray(Q, dtype=np.float32)
    c = _c()
    if c is not None and codes.flags.c_contiguous:
        out = np.empty((len(Q), len(codes)), dtype=np.float32)
        c.row_scores(Q, codes, out, len(Q), len(codes), codes.shape[1], dim, _c_threads(), False)
        return out
    return _module().int8_scores(Q, codes.view(np.int8), _scales(codes, dim), dim)


def float32_scores(Q: np.ndarray, codes: np.ndarray) -> np.ndarray | None:
    """Q float32 (nq, d) against float32 rows stored as bytes (n, 4d), read in place: float32 (nq, n);
    None without the C kernels (numba's would be no faster than BLAS)."""
    c, codes = _c(), np.asarray(codes)
    if c is None or not codes.flags.c_contiguous:
        return None
    Q = np.ascontiguousarray(Q, dtype=np.float32)
    out = np.empty((len(Q), len(codes)), dtype=np.float32)
    c.row_scores(Q, codes, out, len(Q), len(codes), codes.shape[1], Q.shape[1], _c_threads(), True)
    return out


def int16_scores(Q: np.ndarray, codes: np.ndarray, dim: int) -> np.ndarray:
    """Q float32 (nq, d) against per-vector int16 rows (n, 2d + 4): float32 (nq, n)."""
    codes = np.asarray(codes)
    return _module().int16_scores(np.ascontiguousarray(Q, dtype=np.float32), codes, _scales(codes, 2 * dim), dim)


def perdim_scores(Q: np.ndarray, codes: np.ndarray, offset: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Q float32 (nq, d) against per-dimension uint8 codes (n, d): q.(offset + step * c), (nq, n)."""
    scaled = np.ascontiguousarray(Q * step, dtype=np.float32)  # (q * step).c + q.offset: no decoded rows
    ones = np.ones(len(codes), dtype=np.float32)
    return _module().int8_scores(scaled, np.asarray(codes), ones, Q.shape[1]) + (Q @ offset)[:, None]


def scaled_lut_scores(luts: np.ndarray, codes: np.ndarray, scales: np.ndarray, group_bytes: int) -> np.ndarray:
    """Packed codes scored through per-byte tables (nq, W, 256), one float32 scale (n, G) per group of
    `group_bytes` code bytes: float32 (nq, n). The codes are read in place."""
    return _module().scaled_lut_scores(np.ascontiguousarray(luts, dtype=np.float32), np.asarray(codes),
                                       np.asarray(scales, dtype=np.float32), group_bytes)


def half_scores(Q: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Q float32 (nq, d) against IEEE half rows (n, 2d), read in place: float32 (nq, n)."""
    return _module().half_scores(np.ascontiguousarray(Q, dtype=np.float32), np.ascontiguousarray(codes).view("<u2"))


def bf16_scores(Q: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Q float32 (nq, d) against bfloat16 rows (n, 2d), read in place: float32 (nq, n)."""
    return _module().bf16_scores(np.ascontiguousarray(Q, dtype=np.float32), np.ascontiguousarray(codes).view("<u2"))


def bitplane_scores(rotated_queries: np.ndarray, codes: np.ndarray, levels: np.ndarray, bits: int) -> np.ndarray:
    """Rotated float32 queries (nq, d) against rq:B rows (n, ceil(d * B / 8) + 4): float32 (nq, n)."""
    codes = np.asarray(codes)
    return _module().bitplane_scores(np.ascontiguousarray(rotated_queries, dtype=np.float32), codes,
                                     _scales(codes, codes.shape[1] - 4), levels, bits)


def packed_scores(Q: np.ndarray, codes: np.ndarray, levels: np.ndarray, bits: int, scales: np.ndarray | None = None,
                  scale_at: int | None = None, group: int | None = None) -> np.ndarray:
    """Q float32 (nq, d) against rows packing d values of `bits` bits (2 with the C kernels, 4 or 8), low
    bits first, in their first ceil(d * bits / 8) bytes: scales[i] * sum_j q_j levels[value_ij], float32
    (nq, n). The codes are read in place; trailing bytes (a stored scale) are not read. `scale_at`: the
    byte where each row stores scales[i] as float32 (the C kernels read it there; numba's take `scales`,
    read from there when not given). `group` (C kernels only): each run of `group` values has its own
    float32 scale, the row's scales following one another from scale_at."""
    c = _c()
    codes = np.asarray(codes)
    grouped = group is not None and group < Q.shape[1]
    if c is not None and bits in (2, 4) and scale_at is not None and (codes.flags.c_contiguous or grouped):
        Q, codes = np.ascontiguousarray(Q, dtype=np.float32), np.ascontiguousarray(codes)
        table = np.zeros(16, dtype=np.float32)
        table[: 2**bits] = levels
        out = np.empty((len(Q), len(codes)), dtype=np.float32)
        c.packed_scores(Q, codes, table, out, len(Q), len(codes), codes.shape[1], Q.shape[1], scale_at,
                        group if grouped else Q.shape[1], bits, _c_threads())
        return out
    if grouped:
        raise ValueError("a scale per group of packed values needs the C kernels")
    if scales is None:
        scales = float_columns(codes, scale_at)[:, 0]
    split = np.ascontiguousarray(_by_code_byte(Q, bits).transpose(0, 2, 1))
    return _module().packed_scores(split, split.sum(axis=(1, 2), dtype=np.float32), np.asarray(codes),
                                   np.asarray(scales, dtype=np.float32),
                                   np.ascontiguousarray(levels, dtype=np.float32))


def packed_fast(bits: int) -> bool:
    """Whether `packed_scores` (the table of levels) is the fast way to score `bits`-bit codes here:
    4 and 8 on any compiled backend, 2 with the C kernels (numba reads 2-bit codes faster through
    per-byte tables, 4x fewer reads; C permutes the levels in registers)."""
    return bits in (4, 8) or (bits == 2 and native())


def packed_groups_fast(group: int) -> bool:
    """Whether the C kernel of packed levels is the fast way to score 2- or 4-bit codes with a scale per
    `group` values: with the C kernels, for groups of whole steps of its widest SIMD loop (32 values).
    Smaller groups run its scalar tail, slower than per-byte tables (int4:8 2.2x and int2:8 1.7x the
    tables' time for one query, int4:32 0.25x; scratch, AVX-512)."""
    return native() and group % 32 == 0


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Each row's k highest of float32 scores (nq, n), 1 <= k <= n: indices int64 and scores (nq, k),
    score descending, ties to the lower index; None without the C kernels (a heap of k per row:
    one compare per score where NumPy's argpartition copies and partitions the whole row)."""
    c = _c()
    if c is None or scores.dtype != np.float32:  # float64 ties would be decided after rounding
        return None
    scores = np.ascontiguousarray(scores)
    ids, best = np.empty((len(scores), k), dtype=np.int64), np.empty((len(scores), k), dtype=np.float32)
    c.top_k(scores, ids, best, scores.shape[0], scores.shape[1], k)
    return ids, best


# candidates x places above which best_candidates sorts (n log n) instead of selecting (n x k)
SELECT_UP_TO = 4096


def best_candidates(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each query's k best of its candidates: rows int64 (nq, c), scores float32 (nq, c) -> both
    (nq, min(k, c)), by score descending, ties to the lower row (-1 rows, scored -inf, after every real one)."""
    count = rows.shape[1]
    if count * min(k, count) <= SELECT_UP_TO and available():
        rows, scores = np.ascontiguousarray(rows, dtype=np.int64), np.ascontiguousarray(scores, dtype=np.float32)
        c = _c()
        if c is None:
            return _module().best_candidates(rows, scores, k)
        top = min(k, count)
        top_rows, top_scores = np.empty((len(rows), top), np.int64), np.empty((len(rows), top), np.float32)
        c.best_candidates(rows, scores, top_rows, top_scores, len(rows), count, top)
        return top_rows, top_scores
    order = np.lexsort((rows, -scores), axis=1)[:, :k]
    return np.take_along_axis(rows, order, 1), np.take_along_axis(scores, order, 1)


class RowKernel(NamedTuple):
    """How the C graph walk (`hnsw_add`, `hnsw_search`) scores a codec's rows where they lie
    (`Codec.row_kernel`): int8 codes and their scale, float32 vectors, or packed 2/4-bit codes with
    their levels and a scale at byte `scale_at`. `prepare` maps float queries into the space the codes
    score in (rq: the rotation); None: the queries as they are."""

    kind: str  # "int8", "float32" or "packed"
    bits: int = 0
    levels: np.ndarray | None = None
    scale_at: int = 0
    prepare: Callable | None = None


_ROW_KINDS = {"int8": 0, "float32": 1, "packed": 2}
_GRAPH_METRICS = {"ip": 0, "cosine": 1, "l2": 2}


def coded_rows(kernel: RowKernel, codes: np.ndarray, sq_norms: np.ndarray, metric: str) -> tuple:
    """The rows a graph walk scores, as `hnsw_add` and `hnsw_search` take them: codes uint8 (n, width) and
    their |x_hat|^2 (n,) under `metric` (ip, cosine or l2)."""
    table = np.zeros(16, dtype=np.float32)
    if kernel.levels is not None:
        table[: len(kernel.levels)] = kernel.levels
    codes = np.ascontiguousarray(codes)
    return (codes, np.ascontiguousarray(sq_norms, dtype=np.float32), table, _ROW_KINDS[kernel.kind], kernel.bits,
            _GRAPH_METRICS[metric], codes.shape[1], kernel.scale_at)


def scan_top_k(rows: tuple, Q: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Each query's k best rows of `rows` (`coded_rows`) by an exact scan under its metric: rows int64
    and scores float32 (nq, min(k, rows allowed)), best first, ties to the lower row, -1 and -inf where
    a query has fewer (a non-finite score counts as none, as in the block-by-block scan). `allowed`: bool
    per row, or None for all. Rows are scored with the products `int8_scores`, `float32_scores` and
    `packed_scores` compute, then `metric_scores`' conversion, in one pass that keeps a heap of k per
    query: no (nq, n) score matrix, no second pass to select. None without the C kernels."""
    c = _c()
    if c is None:
        return None
    Q = np.ascontiguousarray(Q, dtype=np.float32)
    n = len(rows[0])
    k = min(k, n if allowed is None else int(np.count_nonzero(allowed)))
    ids, best = np.empty((len(Q), k), np.int64), np.empty((len(Q), k), np.float32)
    if k == 0 or not len(Q):
        return ids, best
    mask = b"" if allowed is None else np.ascontiguousarray(allowed, dtype=bool)
    c.scan_top_k(_with_dim(rows, Q.shape[1]), n, Q, len(Q), k, mask, ids, best, _c_threads())
    return ids, best


def graph_built() -> bool:
    """Whether the C extension that builds and walks vectro's HNSW graph is here (whatever backend a thread
    forced: a graph has no other implementation)."""
    return _c_module() is not None


def hnsw_add(rows: tuple, graph: tuple, top: tuple[int, int], X: np.ndarray, first: int, levels: np.ndarray,
             ef_construction: int) -> tuple[int, int]:
    """Insert nodes first..first+len(X)-1 (float32 vectors X in the codes' space, their levels) into the graph
    (level0, upper, upper_at, M, nodes) over `rows` (`coded_rows`); returns the new (entry, top level)."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    rows = _with_dim(rows, X.shape[1])
    return _c_module().hnsw_add(rows, graph, *top, X, np.ascontiguousarray(levels, dtype=np.int8), len(X), first,
                         ef_construction, _c_threads())


def hnsw_search(rows: tuple, graph: tuple, top: tuple[int, int], Q: np.ndarray, ef: int, depth: int,
                allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Each query's `depth` best nodes of the graph (rows int64 and scores float32 (nq, depth), best first;
    -1 and -inf where fewer were found), walking with `ef` candidates; nodes outside `allowed` (bool per
    node) are walked through, never returned. One thread per query; one query: one thread."""
    Q = np.ascontiguousarray(Q, dtype=np.float32)
    rows = _with_dim(rows, Q.shape[1])
    out_rows, out_scores = np.empty((len(Q), depth), np.int64), np.empty((len(Q), depth), np.float32)
    mask = b"" if allowed is None else np.ascontiguousarray(allowed, dtype=bool)
    _c_module().hnsw_search(rows, graph, *top, Q, len(Q), ef, depth, mask, out_rows, out_scores, _c_threads())
    return out_rows, out_scores


def _with_dim(rows: tuple, dim: int) -> tuple:
    """`coded_rows` with the number of values per row (the queries'), in the C kernels' order."""
    return rows[:7] + (dim,) + rows[7:]


def int8_candidate_scores(Q: np.ndarray, codes: np.ndarray, rows: np.ndarray, dim: int) -> np.ndarray:
    """Q float32 (nq, d) against its own candidate rows (nq, c) of int8 codes (n, d + 4): (nq, c)."""
    codes, Q = np.asarray(codes), np.ascontiguousarray(Q, dtype=np.float32)
    c = _c()
    if c is not None and codes.flags.c_contiguous:
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        out = np.empty(rows.shape, dtype=np.float32)
        c.int8_candidate_scores(Q, codes, rows, out, len(Q), len(codes), codes.shape[1], dim, rows.shape[1])
        return out
    if dim % 4 == 0 and codes.flags.c_contiguous:
        scales = codes.view("<f4")[:, dim // 4]  # aligned: a strided view of every row's scale, no copy
    else:
        scales = np.zeros(len(codes), dtype=np.float32)
        used = np.unique(rows)
        scales[used] = _scales(codes[used], dim)
    return _module().int8_candidate_scores(Q, codes.view(np.int8), scales, np.ascontiguousarray(rows, dtype=np.int64),
                                           dim)


def lut_scores(luts: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Sum of per-byte table entries, luts (nq, W, 256) and codes (n, W) -> float32 (nq, n), one query at
    a time: its tables stay in the core's cache while the rows stream past. (All of a batch's tables at
    once, each row scored for every query, ran 1.3x to 1.5x slower for 8 queries at W = 32 to 192 on
    Zen 4, scratch: the tables of 8 queries outgrow L1 at W = 32 and L2 at W = 192.)"""
    luts, codes = np.ascontiguousarray(luts), np.ascontiguousarray(codes)
    if len(luts) == 1:
        return _module().lut_scores(luts, codes)
    out = np.empty((len(luts), len(codes)), dtype=np.float32)
    for q in range(len(luts)):
        out[q] = _module().lut_scores(luts[q : q + 1], codes)[0]
    return out


def group_sums(X: np.ndarray, values: np.ndarray, K: int) -> np.ndarray | None:
    """float64 (M, K, d): entry [m, k] sums the rows of float32 X (n, d) whose values[:, m] is k (values: (n, M)
    ints in [0, K)). None without numba: the caller sorts and reduces (codecs/additive.sum_by_row)."""
    if not available():
        return None
    out = np.zeros((values.shape[1], K, X.shape[1]))
    _module().group_sums(np.ascontiguousarray(X, dtype=np.float32), np.ascontiguousarray(values, dtype=np.intp), out)
    return out


def pair_counts(values: np.ndarray, K: int) -> np.ndarray | None:
    """float64 (M * K, M * K): the upper triangle (diagonal included) of how many rows of values (n, M), ints in
    [0, K), hold row j of codebook a and row k of codebook b, at [a * K + j, b * K + k] for a <= b (the lower
    triangle is zero). None without numba: the caller counts with np.bincount (codecs/additive.py)."""
    if not available():
        return None
    out = np.zeros((values.shape[1] * K,) * 2)
    _module().pair_counts(np.ascontiguousarray(values, dtype=np.intp), K, out)
    return out


def sum_of_rows(codebooks: np.ndarray, values: np.ndarray) -> np.ndarray | None:
    """float32 (n, d): sum_m codebooks[m][values[:, m]] for float32 codebooks (M, K, d) and values (n, M),
    each row added in codebook order. None without numba: the caller sums with NumPy (codecs/additive.py)."""
    if not available():
        return None
    out = np.empty((len(values), codebooks.shape[2]), dtype=np.float32)
    _module().sum_of_rows(np.ascontiguousarray(codebooks, dtype=np.float32),
                          np.ascontiguousarray(values, dtype=np.intp), out)
    return out


def rq_encode(X, signs, perm, block: int, levels, bits: int, out) -> int:
    """Rotation-quantised rows (see codecs/rotation.py) into uint8 out (n, width + 4); first bad row or -1."""
    width = out.shape[1] - 4
    bad = np.zeros(len(X), dtype=np.bool_)
    thresholds = (levels[1:] + levels[:-1]) / np.float32(2)
    c = _c()
    if c is not None and X.dtype == np.float32 and X.flags.c_contiguous and out.flags.c_contiguous:
        c.rq_encode(X, np.ascontiguousarray(signs, dtype=np.float32), np.ascontiguousarray(perm, dtype=np.int32),
                    np.ascontiguousarray(thresholds, dtype=np.float32), np.ascontiguousarray(levels, dtype=np.float32),
                    out, bad, len(X), X.shape[1], block, out.shape[1], bits, _c_threads())
        return _first(bad)
    alphas = np.empty(len(X), dtype=np.float32)
    grid, start, scale = threshold_grid(thresholds)
    _module().rq_encode(X, signs, perm, block, thresholds, grid, start, scale, levels, bits, out, alphas, bad)
    out[:, width:] = alphas.view(np.uint8).reshape(-1, 4)
    return _first(bad)


def threshold_grid(thresholds: np.ndarray, cells_per_threshold: int = 8):
    """A lookup table for counting sorted float32 thresholds below a value: (grid int64 (G,), start, scale),
    grid[c] = how many thresholds lie below start + c / scale, G = 8 cells per threshold, so most cells
    hold no threshold and the count needs no correction (see _jit._count_below)."""
    cells = max(1, cells_per_threshold * len(thresholds))
    start, span = np.float32(thresholds[0]), np.float64(thresholds[-1]) - np.float64(thresholds[0])
    scale = np.float32(cells / span) if span > 0 else np.float32(0)
    edges = np.float64(start) + np.arange(cells) / max(np.float64(scale), 1e-30)
    return np.searchsorted(thresholds, edges, side="left").astype(np.int64), start, scale


def rq_decode(codes, signs, perm, block: int, levels, bits: int, out) -> None:
    codes = np.ascontiguousarray(codes)
    _module().rq_decode(codes, _scales(codes, codes.shape[1] - 4), signs, perm, block, levels, bits, out)


def packed_value_luts(Q: np.ndarray, levels: np.ndarray, bits: int) -> np.ndarray:
    """LUTs for codes that pack 8/bits values per byte (value t of a byte in bits t*bits..): for each
    query and code byte, sum over its values of q_j * levels[value], for all 256 byte values.

    Q float32 (nq, d), levels float32 (2**bits,) -> float32 (nq, ceil(d * bits / 8), 256).
    """
    per_byte = 8 // bits
    values = (np.arange(256)[:, None] >> (np.arange(per_byte) * bits)) & ((1 << bits) - 1)  # (256, per_byte)
    return np.einsum("qbt,vt->qbv", _by_code_byte(Q, bits), levels[values]).astype(np.float32)


def _by_code_byte(Q: np.ndarray, bits: int) -> np.ndarray:
    """Q float32 (nq, d) as (nq, W, 8 // bits): the query values that meet code byte b's packed values,
    zero-padded to W = ceil(d * bits / 8) bytes (padding values meet zero weights)."""
    per_byte = 8 // bits
    width = -(-Q.shape[1] // per_byte)
    padded = np.zeros((len(Q), width * per_byte), dtype=np.float32)
    padded[:, : Q.shape[1]] = Q
    return padded.reshape(len(Q), width, per_byte)


def lut_scores_numpy(luts: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The NumPy path of lut_scores: (nq, W, 256) tables and codes (n, W) -> (nq, n)."""
    columns = np.arange(codes.shape[1])
    return np.stack([lut[columns, codes].sum(axis=1, dtype=np.float32) for lut in luts])


def table_scores(luts: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Sum of per-byte table entries: compiled when available, NumPy otherwise."""
    return lut_scores(luts, codes) if available() else lut_scores_numpy(luts, codes)
