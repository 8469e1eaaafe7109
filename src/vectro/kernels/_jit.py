"""numba kernels. Imported only when numba is available and not disabled (see __init__.py).

Encoders are compiled without fastmath: x / scale must round exactly as NumPy's float32
division does, so both paths produce the same bytes. Scoring kernels may reassociate sums
(fastmath) since scores are compared with a tolerance.
"""

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from . import HAMMING_ROW_BITS

exact = njit(parallel=True, cache=True, nogil=True)
fast = njit(parallel=True, fastmath=True, cache=True, nogil=True)
serial = njit(fastmath=True, cache=True, nogil=True)  # small jobs: no thread-pool start-up per call
FLOAT32_MAX = np.float32(3.4028235e38)


@intrinsic
def _float_bits(typingctx, x):
    """The IEEE bits of a float32 as a uint32 (a bit cast, not a conversion)."""
    if x != types.float32:
        return None
    return types.uint32(types.float32), lambda context, builder, sig, args: builder.bitcast(args[0], ir.IntType(32))


@intrinsic
def _bits_float(typingctx, x):
    """The float32 whose IEEE bits are the uint32 x."""
    if x != types.uint32:
        return None
    return types.float32(types.uint32), lambda context, builder, sig, args: builder.bitcast(args[0], ir.FloatType())


# Every encoder also flags rows holding NaN or Inf in `bad` (n,): each row is checked while it is in
# cache, so the check costs no pass over the input (and no n x d temporary) of its own.
@njit(cache=True, nogil=True, inline="always")
def _peak_poisoned(x):
    """max |x_j|, and whether x holds NaN or Inf, read from the bits: with the sign bit cleared,
    finite floats order as their bits do, and every Inf or NaN lies above the largest finite one.
    An integer max vectorises; a float max, compiled without fastmath, runs one element at a time
    (this makes int8's encode 1.5x faster on one thread). Poisoned rows return Inf or NaN."""
    peak = np.uint32(0)
    for j in range(x.shape[0]):
        peak = max(peak, _float_bits(x[j]) & np.uint32(0x7FFFFFFF))
    return _bits_float(np.uint32(peak)), peak >= np.uint32(0x7F800000)


# ----- per-vector abs-max codes: int8 / int16 (one code per byte or two), int4 (two per byte) -----
@njit(cache=True, nogil=True, inline="always")
def _put_float(row, value):
    """value's float32 bytes, little-endian, into the last 4 bytes of the uint8 row."""
    bits = _float_bits(value)
    end = row.shape[0]
    for b in range(4):
        row[end - 4 + b] = np.uint8((bits >> np.uint32(8 * b)) & np.uint32(0xFF))


@njit(cache=True, nogil=True, inline="always")
def _level(value, scale, qmax):
    """rint(value / scale) clipped to [-qmax, qmax], as the NumPy path computes it. Clipped as an
    integer: rint gives whole numbers, and integer min/max cost less than float ones without fastmath."""
    return min(max(np.int32(np.rint(value / scale)), -qmax), qmax)


@exact
def absmax_encode(X, out, bad, qmax, bits):
    """Codes into out[:, :-4], then the row's float32 scale into its last 4 bytes (little-endian)."""
    n, dim = X.shape
    top = np.int32(qmax)
    for i in prange(n):
        x = X[i]
        peak, poisoned = _peak_poisoned(x)
        if poisoned:
            bad[i] = True
        scale = peak / np.float32(qmax)
        if scale == 0:
            scale = np.float32(1.0)
        row = out[i]
        if bits == 8:
            for j in range(dim):
                row[j] = np.uint8(_level(x[j], scale, top) & 0xFF)
        elif bits == 16:
            for j in range(dim):
                v = _level(x[j], scale, top)
                row[2 * j] = np.uint8(v & 0xFF)
                row[2 * j + 1] = np.uint8((v >> 8) & 0xFF)
        else:
            for pair in range(dim // 2):
                lo = _level(x[2 * pair], scale, top) + 8
                hi = _level(x[2 * pair + 1], scale, top) + 8
                row[pair] = np.uint8(lo | (hi << 4))
            if dim % 2:
                row[dim // 2] = np.uint8(_level(x[dim - 1], scale, top) + 8)
        _put_float(row, scale)


@exact
def absmax_decode(codes, scales, out, bits):
    n, dim = out.shape
    for i in prange(n):
        row = codes[i]
        scale = scales[i]
        for j in range(dim):
            if bits == 8:
                q = np.float32(np.int8(row[j]))
            elif bits == 16:
                q = np.float32(np.int16(np.uint16(row[2 * j]) | (np.uint16(row[2 * j + 1]) << np.uint16(8))))
            else:
                q = np.float32((row[j >> 1] >> np.uint8(4 * (j & 1))) & np.uint8(15)) - np.float32(8)
            out[i, j] = q * scale


# ----- per-vector abs-max scale, non-uniform levels (nf4): 8 // bits codes per byte ---------------
@exact
def codebook_encode(X, out, scales, bad, thresholds, bits):
    """Code = how many thresholds lie below x / max|x| (the nearest level), packed low value first.
    Thresholds are counted one at a time over the whole row (a loop that vectorises)."""
    n, dim = X.shape
    per_byte = 8 // bits
    chunk = 256  # rows per task: scratch buffers are allocated once per chunk
    for c in prange((n + chunk - 1) // chunk):
        values = np.empty(dim, dtype=np.float32)
        codes = np.empty(dim, dtype=np.int32)
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            x = X[i]
            peak, poisoned = _peak_poisoned(x)
            if poisoned:
                bad[i] = True
            scale = peak if peak != 0 else np.float32(1.0)
            for j in range(dim):
                values[j] = x[j] / scale
                codes[j] = 0
            for t in range(thresholds.shape[0]):
                edge = thresholds[t]
                for j in range(dim):
                    codes[j] += np.int32(values[j] > edge)
            row = out[i]
            for b in range((dim + per_byte - 1) // per_byte):
                byte = 0
                for t in range(per_byte):
                    j = b * per_byte + t
                    if j < dim:
                        byte |= codes[j] << (t * bits)
                row[b] = np.uint8(byte)
            scales[i] = scale


@exact
def codebook_decode(codes, scales, levels, bits, out):
    n, dim = out.shape
    per_byte = 8 // bits
    mask = (1 << bits) - 1
    for i in prange(n):
        row = codes[i]
        scale = scales[i]
        for j in range(dim):
            out[i, j] = levels[(row[j // per_byte] >> ((j % per_byte) * bits)) & mask] * scale


# ----- per-dimension uint8 codes ------------------------------------------------------------
@exact
def perdim_encode(X, offset, step, out, bad):
    n, dim = X.shape
    for i in prange(n):
        x = X[i]
        if _peak_poisoned(x)[1]:
            bad[i] = True
        for j in range(dim):
            out[i, j] = np.uint8(min(max(np.rint((x[j] - offset[j]) / step[j]), np.float32(0)), np.float32(255)))


@exact
def perdim_decode(codes, offset, step, out):
    n, dim = out.shape
    for i in prange(n):
        for j in range(dim):
            out[i, j] = codes[i, j] * step[j] + offset[j]


# ----- sign bits ----------------------------------------------------------------------------
@exact
def sign_encode(X, out, bad):
    n, dim = X.shape
    full = dim // 8
    for i in prange(n):
        x = X[i]
        if _peak_poisoned(x)[1]:
            bad[i] = True
        for b in range(full):
            byte = np.uint8(0)
            for k in range(8):
                byte |= np.uint8(x[8 * b + k] > 0) << np.uint8(k)
            out[i, b] = byte
        if dim % 8:
            byte = np.uint8(0)
            for j in range(8 * full, dim):
                byte |= np.uint8(x[j] > 0) << np.uint8(j - 8 * full)
            out[i, full] = byte


@exact
def sign_decode(codes, out, magnitude):
    n, dim = out.shape
    for i in prange(n):
        for j in range(dim):
            bit = (codes[i, j >> 3] >> np.uint8(j & 7)) & np.uint8(1)
            out[i, j] = magnitude if bit else -magnitude


@intrinsic
def popcount(typingctx, x):
    """The number of set bits of a uint64, as the CPU's population-count instruction (LLVM ctpop)."""
    if not isinstance(x, types.Integer) or x.bitwidth != 64:
        return None
    return types.uint64(types.uint64), lambda context, builder, signature, args: builder.ctpop(args[0])


@njit(fastmath=True, cache=True, nogil=True, inline="always")
def _hamming_words(a, b):
    """Set bits of a ^ b over two rows of uint64 words."""
    total = 0
    for w in range(a.shape[0]):
        total += popcount(a[w] ^ b[w])
    return total


@fast
def hamming(query_words, words):
    """Hamming distances of query rows (nq, W) to rows (n, W), both uint64 words: int32 (nq, n)."""
    nq, n = query_words.shape[0], words.shape[0]
    out = np.empty((nq, n), dtype=np.int32)
    for i in prange(n):
        for q in range(nq):
            out[q, i] = _hamming_words(query_words[q], words[i])
    return out


# A Hamming top-k keeps int64 keys distance << ROW_BITS | row: one integer comparison orders by
# distance, then by row (lower first), so every thread split gives the same answer.
ROW_BITS = HAMMING_ROW_BITS
NO_KEY = np.int64(2**63 - 1)  # an empty heap place; sorts after every real key
HAMMING_ROW_BLOCK = 2048  # rows scanned by every query of a chunk in turn: 2048 x 48 B stays in L2


@njit(cache=True, nogil=True, inline="always")
def _replace_top(heap, key):
    """Put key in place of the largest of the max-heap `heap` (k,) and restore the heap order."""
    k = heap.shape[0]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= k:
            break
        if child + 1 < k and heap[child + 1] > heap[child]:
            child += 1
        if heap[child] <= key:
            break
        heap[i] = heap[child]
        i = child
    heap[i] = key


@njit(fastmath=True, cache=True, nogil=True)
def _hamming_block(query, words, start, stop, out):
    """Distances of rows start..stop-1 to one query into out[:stop - start]; a serial loop of its
    own, so the compiler sees no thread-pool bookkeeping around it."""
    for i in range(start, stop):
        out[i - start] = _hamming_words(query, words[i])


@exact
def hamming_top_k(query_words, words, allowed, k, query_chunk, parts):
    """The k smallest keys (distance << ROW_BITS | row) of each query over rows (n, W) of uint64
    words, ascending, NO_KEY where fewer than k rows are allowed: int64 (nq, k).

    allowed: bool (n,), or empty for every row. Tasks are (chunk of `query_chunk` queries) x (one of
    `parts` row ranges): a batch runs in parallel over its queries, one query over its rows. Each task
    keeps one bounded max-heap per query; rows are scanned in blocks that every query of the chunk
    reads in turn while they are in cache. No (nq, n) matrix is made."""
    nq, n = query_words.shape[0], words.shape[0]
    check = allowed.shape[0] > 0
    chunks = (nq + query_chunk - 1) // query_chunk
    partial = np.empty((parts, nq, k), dtype=np.int64)
    for task in prange(chunks * parts):
        c, p = task // parts, task % parts
        first_q, last_q = c * query_chunk, min(nq, (c + 1) * query_chunk)
        first_row, last_row = p * n // parts, (p + 1) * n // parts
        distances = np.empty(HAMMING_ROW_BLOCK, dtype=np.int64)
        for q in range(first_q, last_q):
            partial[p, q, :] = NO_KEY
        for start in range(first_row, last_row, HAMMING_ROW_BLOCK):
            stop = min(last_row, start + HAMMING_ROW_BLOCK)
            for q in range(first_q, last_q):
                _hamming_block(query_words[q], words, start, stop, distances)
                heap = partial[p, q]
                worst = heap[0]
                for i in range(start, stop):
                    key = (distances[i - start] << ROW_BITS) | i
                    if key < worst and (not check or allowed[i]):
                        _replace_top(heap, key)
                        worst = heap[0]
    out = np.empty((nq, k), dtype=np.int64)
    for q in prange(nq):
        keys = np.empty(parts * k, dtype=np.int64)
        for p in range(parts):
            keys[p * k : (p + 1) * k] = partial[p, q]
        out[q] = np.sort(keys)[:k]
    return out


# ----- float16 (IEEE half) without NumPy's slow scalar conversion -----------------------------
def _hardware_half() -> bool:
    """Whether LLVM converts float32 <-> float16 with instructions here (x86-64 with F16C, as every
    x86 CPU since 2012): elsewhere it would call a runtime helper the JIT may lack, so the
    bit-level kernels below run instead (they give the same bits)."""
    import platform

    import llvmlite.binding as llvm
    from numba.core import config

    if config.CPU_NAME not in (None, "host") or platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    return "+f16c" in llvm.get_host_cpu_features().flatten().split(",")


HARDWARE_HALF = _hardware_half()


@intrinsic
def _half_bits(typingctx, x):
    """float32 -> the bits of the nearest float16 (round to nearest even), one instruction with F16C."""
    if x != types.float32:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(builder.fptrunc(args[0], ir.HalfType()), ir.IntType(16))
    return types.uint16(types.float32), codegen


@intrinsic
def _half_value(typingctx, h):
    """The float32 value of float16 bits (exact)."""
    if h != types.uint16:
        return None

    def codegen(context, builder, sig, args):
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())
    return types.float32(types.uint16), codegen


@exact
def _half_encode_hw(X, out, bad):
    """float32 -> half bits with the CPU's conversion; beyond +-65504 saturates (as clip + astype)."""
    n, dim = X.shape
    top = np.float32(65504.0)
    for i in prange(n):
        x = X[i]
        if _peak_poisoned(x)[1]:
            bad[i] = True
        row = out[i]
        for j in range(dim):
            row[j] = _half_bits(min(max(x[j], -top), top))


@exact
def _half_decode_hw(halves, out):
    n, dim = out.shape
    for i in prange(n):
        for j in range(dim):
            out[i, j] = _half_value(halves[i, j])


@exact
def _half_encode_bits(X, out, bad):
    """float32 -> half bits, round to nearest even, from the bit fields; beyond +-65504 saturates."""
    n, dim = X.shape
    bits = X.view(np.uint32)
    for i in prange(n):
        for j in range(dim):
            b = bits[i, j]
            sign = np.uint32((b >> 16) & 0x8000)
            exponent = np.int32((b >> 23) & 0xFF) - 112
            mantissa = b & np.uint32(0x7FFFFF)
            if exponent == 143:  # float32 exponent 255: NaN or Inf
                bad[i] = True
                half = sign | np.uint32(0x7BFF)
            elif exponent >= 31:
                half = sign | np.uint32(0x7BFF)
            elif exponent <= 0:
                if exponent < -10:
                    half = np.uint32(sign)
                else:
                    mantissa |= np.uint32(0x800000)
                    shift = np.uint32(14 - exponent)
                    value = mantissa >> shift
                    rest = mantissa & ((np.uint32(1) << shift) - np.uint32(1))
                    halfway = np.uint32(1) << (shift - np.uint32(1))
                    if rest > halfway or (rest == halfway and (value & 1)):
                        value += np.uint32(1)
                    half = sign | value
            else:
                half = sign | (np.uint32(exponent) << 10) | (mantissa >> 13)
                rest = mantissa & np.uint32(0x1FFF)
                if rest > 0x1000 or (rest == 0x1000 and (half & 1)):
                    half += np.uint32(1)
                if (half & 0x7FFF) >= 0x7C00:  # rounded past 65504
                    half = sign | np.uint32(0x7BFF)
            out[i, j] = np.uint16(half)


@exact
def _half_decode_bits(halves, out):
    n, dim = out.shape
    bits = out.view(np.uint32)
    for i in prange(n):
        for j in range(dim):
            h = np.uint32(halves[i, j])
            sign = (h & 0x8000) << 16
            exponent = (h >> 10) & 0x1F
            mantissa = h & 0x3FF
            if exponent == 0:
                if mantissa == 0:
                    bits[i, j] = sign
                else:  # subnormal half: normalise
                    e = np.int32(113)
                    while (mantissa & 0x400) == 0:
                        mantissa <<= 1
                        e -= 1
                    bits[i, j] = sign | (np.uint32(e) << 23) | ((mantissa & 0x3FF) << 13)
            elif exponent == 31:
                bits[i, j] = sign | np.uint32(0x7F800000) | (mantissa << 13)
            else:
                bits[i, j] = sign | ((exponent + 112) << 23) | (mantissa << 13)


@exact
def bf16_encode(X, out, bad):
    """float32 -> bfloat16 bits (the top 16, rounded to nearest even); a value that would round up
    to Inf keeps its truncated bits, the largest finite bf16 (as the NumPy path)."""
    n, dim = X.shape
    for i in prange(n):
        x = X[i]
        if _peak_poisoned(x)[1]:
            bad[i] = True
        row = out[i]
        for j in range(dim):
            bits = _float_bits(x[j])
            rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
            if (rounded & np.uint32(0x7F80)) == np.uint32(0x7F80):
                rounded = bits >> np.uint32(16)
            row[j] = np.uint16(rounded)


@exact
def bf16_decode(halves, out):
    n, dim = out.shape
    bits = out.view(np.uint32)
    for i in prange(n):
        for j in range(dim):
            bits[i, j] = np.uint32(halves[i, j]) << np.uint32(16)


# ----- asymmetric scoring: float queries against codes, read in place ---------------------------
@fast
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


@fast
def int16_scores(Q, codes, scales, dim):
    """Per-vector int16 rows (two bytes per value, little-endian) read in place."""
    n, nq = codes.shape[0], Q.shape[0]
    out = np.empty((nq, n), dtype=np.float32)
    for i in prange(n):
        for q in range(nq):
            acc = np.float32(0.0)
            for j in range(dim):
                v = np.int16(np.uint16(codes[i, 2 * j]) | (np.uint16(codes[i, 2 * j + 1]) << np.uint16(8)))
                acc += Q[q, j] * np.float32(v)
            out[q, i] = acc * scales[i]
    return out


@njit(fastmath=True, cache=True, nogil=True, inline="always")
def _table_sum(table, row, start, stop):
    """sum of table[b, row[b]] for b in start..stop-1, on eight accumulators: table lookups do not
    vectorise, and each add waits on the one before it on its accumulator (four accumulators left
    the int2 scan bound by that chain: eight make it 1.4x faster)."""
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = np.float32(0.0)
    b = start
    while b + 8 <= stop:
        a0 += table[b, row[b]]
        a1 += table[b + 1, row[b + 1]]
        a2 += table[b + 2, row[b + 2]]
        a3 += table[b + 3, row[b + 3]]
        a4 += table[b + 4, row[b + 4]]
        a5 += table[b + 5, row[b + 5]]
        a6 += table[b + 6, row[b + 6]]
        a7 += table[b + 7, row[b + 7]]
        b += 8
    while b < stop:
        a0 += table[b, row[b]]
        b += 1
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


@fast
def scaled_lut_scores(luts, codes, scales, group_bytes):
    """Packed sub-byte codes through per-byte tables: luts (nq, W, 256) for the W code bytes of each
    row, scales (n, G) float32, one per group of `group_bytes` code bytes (G = 1: per vector)."""
    n, nq, width, groups = codes.shape[0], luts.shape[0], luts.shape[1], scales.shape[1]
    out = np.empty((nq, n), dtype=np.float32)
    for i in prange(n):
        row = codes[i]
        for q in range(nq):
            total = np.float32(0.0)
            for g in range(groups):
                start = g * group_bytes
                total += _table_sum(luts[q], row, start, min(width, start + group_bytes)) * scales[i, g]
            out[q, i] = total
    return out


@fast
def _half_scores_hw(Q, halves):
    """IEEE half rows (n, d) as uint16, read in place, each value converted by the CPU (F16C) inside
    the dot product."""
    n, nq, dim = halves.shape[0], Q.shape[0], halves.shape[1]
    out = np.empty((nq, n), dtype=np.float32)
    for i in prange(n):
        row = halves[i]
        for q in range(nq):
            acc = np.float32(0.0)
            for j in range(dim):
                acc += Q[q, j] * _half_value(row[j])
            out[q, i] = acc
    return out


# 2**112: a half's exponent and mantissa bits moved into a float32 (<< 13) give its value times 2**-112
HALF_TO_FLOAT = np.float32(2.0**112)


@fast
def _half_scores_bits(Q, halves):
    """IEEE half rows (n, d) as uint16, read in place: a branch-free conversion (exact for every finite
    half, subnormals included; the encoder never stores Inf or NaN) fused into the dot product."""
    n, nq, dim = halves.shape[0], Q.shape[0], halves.shape[1]
    out = np.empty((nq, n), dtype=np.float32)
    chunk = 256
    for c in prange((n + chunk - 1) // chunk):
        bits = np.empty(dim, dtype=np.uint32)
        values = bits.view(np.float32)
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            for j in range(dim):
                h = np.uint32(halves[i, j])
                bits[j] = ((h & np.uint32(0x7FFF)) << np.uint32(13)) | ((h & np.uint32(0x8000)) << np.uint32(16))
            for q in range(nq):
                acc = np.float32(0.0)
                for j in range(dim):
                    acc += Q[q, j] * (values[j] * HALF_TO_FLOAT)
                out[q, i] = acc
    return out


half_encode = _half_encode_hw if HARDWARE_HALF else _half_encode_bits
half_decode = _half_decode_hw if HARDWARE_HALF else _half_decode_bits
half_scores = _half_scores_hw if HARDWARE_HALF else _half_scores_bits


@fast
def bf16_scores(Q, halves):
    """bfloat16 rows (n, d) as uint16, read in place: the top half of each float32."""
    n, nq, dim = halves.shape[0], Q.shape[0], halves.shape[1]
    out = np.empty((nq, n), dtype=np.float32)
    chunk = 256
    for c in prange((n + chunk - 1) // chunk):
        bits = np.empty(dim, dtype=np.uint32)
        values = bits.view(np.float32)
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            for j in range(dim):
                bits[j] = np.uint32(halves[i, j]) << np.uint32(16)
            for q in range(nq):
                acc = np.float32(0.0)
                for j in range(dim):
                    acc += Q[q, j] * values[j]
                out[q, i] = acc
    return out


@fast
def bitplane_scores(Q, codes, alphas, levels, bits):
    """Rotated queries (nq, d) against rq rows whose B-bit values may straddle bytes (B = 3):
    alpha * sum_j q_j levels[value_j], the values unpacked in registers, the codes read in place."""
    n, nq, dim = codes.shape[0], Q.shape[0], Q.shape[1]
    out = np.empty((nq, n), dtype=np.float32)
    chunk = 256
    for c in prange((n + chunk - 1) // chunk):
        z = np.empty(dim, dtype=np.float32)
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            row = codes[i]
            for j in range(dim):
                p = j * bits
                value = 0
                for b in range(bits):
                    value |= ((row[(p + b) >> 3] >> ((p + b) & 7)) & 1) << b
                z[j] = levels[value]
            for q in range(nq):
                acc = np.float32(0.0)
                for j in range(dim):
                    acc += Q[q, j] * z[j]
                out[q, i] = acc * alphas[i]
    return out


@fast
def packed_scores(Qs, query_sums, codes, scales, levels):
    """Rows packing 8 // B values of B bits per byte, low bits first (B = 4, 8), against queries
    split by position in the byte: Qs (nq, 8 // B, W) holds q[b * (8 // B) + t] at [:, t, b], so each
    pass over the W code bytes uses one shift and reads the levels table (2**B floats, in L1) in a
    loop that vectorises. Per-byte 256-entry tables (lut_scores) are W x 1 KiB per query and spill
    out of L1; these stay 2**B floats (at B = 2 the per-byte tables win: 4x fewer reads, 96 KiB).
    scales (n,) multiply each row's sum."""
    n, nq, per_byte, width = codes.shape[0], Qs.shape[0], Qs.shape[1], Qs.shape[2]
    bits = 8 // per_byte
    mask = np.uint8((1 << bits) - 1)
    # uniform levels (int4): levels[v] = first + step * v, so the table read becomes a
    # conversion, about twice as fast; first * sum(q) is added once per row
    step = levels[1] - levels[0]
    uniform = True
    for v in range(levels.shape[0]):
        uniform = uniform and levels[v] == levels[0] + step * np.float32(v)
    out = np.empty((nq, n), dtype=np.float32)
    for i in prange(n):
        row = codes[i]
        for q in range(nq):
            acc = np.float32(0.0)
            if uniform:
                for t in range(per_byte):
                    shift = np.uint8(t * bits)
                    for b in range(width):
                        acc += Qs[q, t, b] * np.float32((row[b] >> shift) & mask)
                acc = acc * step + levels[0] * query_sums[q]
            else:
                for t in range(per_byte):
                    shift = np.uint8(t * bits)
                    for b in range(width):
                        acc += Qs[q, t, b] * levels[(row[b] >> shift) & mask]
            out[q, i] = acc * scales[i]
    return out


@serial
def best_candidates(rows, scores, k):
    """Each query's k best candidates (score descending, then row ascending), best first: a selection
    over a few dozen candidates costs less than one NumPy sort call."""
    nq, count = rows.shape
    k = min(k, count)
    top_rows = np.empty((nq, k), dtype=np.int64)
    top_scores = np.empty((nq, k), dtype=np.float32)
    order = np.empty(count, dtype=np.int64)
    for q in range(nq):
        for j in range(count):
            order[j] = j
        for place in range(k):
            best = place
            for j in range(place + 1, count):
                a, b = order[j], order[best]
                if scores[q, a] > scores[q, b] or (scores[q, a] == scores[q, b] and rows[q, a] < rows[q, b]):
                    best = j
            order[place], order[best] = order[best], order[place]
            top_rows[q, place] = rows[q, order[place]]
            top_scores[q, place] = scores[q, order[place]]
    return top_rows, top_scores


@serial
def int8_candidate_scores(Q, codes, scales, rows, dim):
    """Shortlist re-scoring: each query against its own c candidate rows; scales (n,) per row."""
    nq, c = rows.shape
    out = np.empty((nq, c), dtype=np.float32)
    for q in range(nq):
        for j in range(c):
            r = rows[q, j]
            acc = np.float32(0.0)
            for t in range(dim):
                acc += Q[q, t] * np.float32(codes[r, t])
            out[q, j] = acc * scales[r]
    return out


@fast
def lut_scores(luts, codes):
    """luts (nq, bytes, 256): partial sums per code byte value; codes (n, bytes) uint8."""
    n, nq, width = codes.shape[0], luts.shape[0], codes.shape[1]
    out = np.empty((nq, n), dtype=np.float32)
    for i in prange(n):
        for q in range(nq):
            out[q, i] = _table_sum(luts[q], codes[i], 0, width)
    return out


# ----- rotation quantisation (rq:B): structured rotation, Lloyd-Max codes, least-squares scale ----
@njit(cache=True, nogil=True, inline="always")
def _fwht(buf, block):
    """Unnormalised Walsh-Hadamard transform of every aligned `block` (>= 8) of buf, in place.

    The first three butterfly stages run on 8 values held in registers (short inner loops do not
    vectorise); the order of every addition is the NumPy version's, so both round identically."""
    d = buf.shape[0]
    for s in range(0, d, 8):
        x0, x1, x2, x3 = buf[s], buf[s + 1], buf[s + 2], buf[s + 3]
        x4, x5, x6, x7 = buf[s + 4], buf[s + 5], buf[s + 6], buf[s + 7]
        a0, a1, a2, a3 = x0 + x1, x0 - x1, x2 + x3, x2 - x3
        a4, a5, a6, a7 = x4 + x5, x4 - x5, x6 + x7, x6 - x7
        b0, b1, b2, b3 = a0 + a2, a1 + a3, a0 - a2, a1 - a3
        b4, b5, b6, b7 = a4 + a6, a5 + a7, a4 - a6, a5 - a7
        buf[s], buf[s + 1], buf[s + 2], buf[s + 3] = b0 + b4, b1 + b5, b2 + b6, b3 + b7
        buf[s + 4], buf[s + 5], buf[s + 6], buf[s + 7] = b0 - b4, b1 - b5, b2 - b6, b3 - b7
    h = 8
    while h < block:
        for start in range(0, d, 2 * h):
            for j in range(start, start + h):
                a = buf[j]
                c = buf[j + h]
                buf[j] = a + c
                buf[j + h] = a - c
        h *= 2


@njit(fastmath=True, cache=True, nogil=True)
def _dot64(a, b):
    """sum(a * b) of float32 vectors, accumulated in float64 (reassociated, so it vectorises)."""
    acc = 0.0
    for j in range(a.shape[0]):
        acc += np.float64(a[j]) * np.float64(b[j])
    return acc


@njit(cache=True, nogil=True, inline="always")
def _count_below(thresholds, grid, grid_start, grid_scale, value):
    """How many sorted thresholds lie strictly below value (searchsorted, side="left"; NaN: 0):
    grid[c] guesses it for the cell c = (value - grid_start) * grid_scale, and steps fix the guess,
    so the count is exact whatever the guess."""
    cell = (value - grid_start) * grid_scale
    last = grid.shape[0] - 1
    if cell >= last:
        count = grid[last]
    elif cell >= 0:
        count = grid[np.int64(cell)]
    else:  # below the grid, or NaN
        count = grid[0]
    while count < thresholds.shape[0] and thresholds[count] < value:
        count += 1
    while count > 0 and not thresholds[count - 1] < value:
        count -= 1
    return count


@njit(cache=True, nogil=True)
def count_below_all(thresholds, grid, grid_start, grid_scale, values):
    """_count_below for every value (n,): int64 (n,); what the tests check against np.searchsorted."""
    out = np.empty(values.shape[0], dtype=np.int64)
    for j in range(values.shape[0]):
        out[j] = _count_below(thresholds, grid, grid_start, grid_scale, values[j])
    return out


@njit(cache=True, nogil=True, inline="always")
def _pack_values(values, bits, row):
    """B-bit values (d,) into row[:ceil(d * B / 8)], coordinate after coordinate, low bit first. Whole
    bytes first, in loops whose shape the compiler knows for each B (they vectorise); then every 8
    values fill exactly B bytes, gathered in one 64-bit word, which also packs the tail and B = 3."""
    dim = values.shape[0]
    width = (dim * bits + 7) // 8
    done = 0  # values packed so far, a multiple of 8
    if bits == 8:
        for j in range(dim):
            row[j] = np.uint8(values[j])
        done = dim
    elif bits == 4:
        for b in range(dim // 8 * 4):
            row[b] = np.uint8(values[2 * b] | (values[2 * b + 1] << 4))
        done = dim // 8 * 8
    elif bits == 2:
        for b in range(dim // 8 * 2):
            row[b] = np.uint8(values[4 * b] | (values[4 * b + 1] << 2) | (values[4 * b + 2] << 4) | (values[4 * b + 3] << 6))
        done = dim // 8 * 8
    elif bits == 1:
        for b in range(dim // 8):
            byte = 0
            for t in range(8):
                byte |= values[8 * b + t] << t
            row[b] = np.uint8(byte)
        done = dim // 8 * 8
    for g in range(done // 8, (dim + 7) // 8):
        word = np.uint64(0)
        for t in range(min(8, dim - 8 * g)):
            word |= np.uint64(values[8 * g + t]) << np.uint64(t * bits)
        for b in range(min(bits, width - g * bits)):
            row[g * bits + b] = np.uint8((word >> np.uint64(8 * b)) & np.uint64(0xFF))


@exact
def rq_encode(X, signs, perm, block, thresholds, grid, grid_start, grid_scale, levels, bits, out, alphas, bad):
    """Rotate each row (block > 0: signs/FWHT/permute/signs/FWHT; block == 0: X is already rotated),
    scale its direction to unit variance per coordinate, take the nearest Lloyd-Max level, and
    store alpha = <y, z_hat> / |z_hat|^2 in alphas. Codes are packed low bit first, coordinate after
    coordinate, into the first ceil(d * bits / 8) bytes of each row of out. grid, grid_start,
    grid_scale: see _count_below (used above 16 levels)."""
    n, dim = X.shape
    chunk = 256  # rows per task: scratch buffers are allocated once per chunk, not per row
    for c in prange((n + chunk - 1) // chunk):
        first = np.empty(dim, dtype=np.float32)
        y = np.empty(dim, dtype=np.float32)
        z = np.empty(dim, dtype=np.float32)
        values = np.empty(dim, dtype=np.int32)
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            if _peak_poisoned(X[i])[1]:
                bad[i] = True
            if block > 0:
                for j in range(dim):
                    first[j] = X[i, j] * signs[0, j]
                _fwht(first, block)
                for j in range(dim):
                    y[j] = first[perm[j]] * signs[1, j]
                _fwht(y, block)
            else:
                for j in range(dim):
                    y[j] = X[i, j]
            norm = np.sqrt(_dot64(y, y))
            scale = np.float32(np.sqrt(dim) / norm) if norm > 0 else np.float32(1.0)
            # value = how many thresholds lie strictly below z: counted threshold by threshold over
            # all coordinates (vectorises) for up to 16 levels; above, looked up in a uniform grid
            # over the thresholds, then stepped to the exact count (a step or none, almost always)
            for j in range(dim):
                z[j] = y[j] * scale
                values[j] = 0
            if levels.shape[0] <= 16:
                for t in range(thresholds.shape[0]):
                    edge = thresholds[t]
                    for j in range(dim):
                        values[j] += np.int32(z[j] > edge)
            else:
                for j in range(dim):
                    values[j] = _count_below(thresholds, grid, grid_start, grid_scale, z[j])
            for j in range(dim):
                z[j] = levels[values[j]]
            num = _dot64(y, z)
            den = _dot64(z, z)
            _pack_values(values, bits, out[i])
            alphas[i] = np.float32(num / den) if den > 0 else np.float32(0.0)


@exact
def rq_decode(codes, alphas, signs, perm, block, levels, bits, out):
    """Inverse of rq_encode: levels times alpha, then the inverse rotation (block == 0: left rotated)."""
    n, dim = out.shape
    mask = (1 << bits) - 1
    chunk = 256
    for c in prange((n + chunk - 1) // chunk):
        y = np.empty(dim, dtype=np.float32)
        first = np.empty(dim, dtype=np.float32)
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            row = codes[i]
            for j in range(dim):
                p = j * bits
                if 8 % bits == 0:
                    value = (row[p >> 3] >> (p & 7)) & mask
                else:
                    value = 0
                    for b in range(bits):
                        value |= ((row[(p + b) >> 3] >> ((p + b) & 7)) & 1) << b
                y[j] = levels[value] * alphas[i]
            if block > 0:
                _fwht(y, block)
                for j in range(dim):
                    first[perm[j]] = y[j] * signs[1, j]
                _fwht(first, block)
                for j in range(dim):
                    out[i, j] = first[j] * signs[0, j]
            else:
                for j in range(dim):
                    out[i, j] = y[j]


@exact
def group_sums(X, values, out):
    """out[m, values[i, m]] += X[i] for every row i and column m (float64 sums, each m in one thread's
    fixed order, so the result does not depend on the thread count)."""
    n, d = X.shape
    for m in prange(values.shape[1]):
        for i in range(n):
            row = out[m, values[i, m]]
            for j in range(d):
                row[j] += X[i, j]


@exact
def pair_counts(values, K, out):
    """out[a * K + values[i, a], b * K + values[i, b]] += 1 for every row i and columns a <= b: the upper
    triangle of the co-occurrence counts of codebook rows (each a's band of rows in one thread)."""
    n, count = values.shape
    for a in prange(count):
        for i in range(n):
            row = out[a * K + values[i, a]]
            for b in range(a, count):
                row[b * K + values[i, b]] += 1.0


@exact
def sum_of_rows(codebooks, values, out):
    """out[i] = codebooks[0, values[i, 0]] + codebooks[1, values[i, 1]] + ..., added in that order (as NumPy's
    codebook-by-codebook sums, so both give the same float32 bits)."""
    n, d = out.shape
    for i in prange(n):
        for j in range(d):
            out[i, j] = 0
        for m in range(values.shape[1]):
            row = codebooks[m, values[i, m]]
            for j in range(d):
                out[i, j] += row[j]
