"""numba kernels. Imported only when numba is available and not disabled (see __init__.py).

Encoders are compiled without fastmath: x / scale must round exactly as NumPy's float32
division does, so both paths produce the same bytes. Scoring kernels may reassociate sums
(fastmath) since scores are compared with a tolerance.
"""

import numpy as np
from numba import njit, prange

exact = njit(parallel=True, cache=True, nogil=True)
fast = njit(parallel=True, fastmath=True, cache=True, nogil=True)
serial = njit(fastmath=True, cache=True, nogil=True)  # small jobs: no thread-pool start-up per call
FLOAT32_MAX = np.float32(3.4028235e38)

# Every encoder also flags rows holding NaN or Inf in `bad` (n,): the check rides along the one
# pass over the input instead of costing a pass (and an n x d temporary) of its own.


# ----- per-vector abs-max codes: int8 / int16 (one code per byte or two), int4 (two per byte) -----
@exact
def absmax_encode(X, out, scales, bad, qmax, bits):
    """Codes into out[:, :code_bytes], the scale of each row into scales (n,)."""
    n, dim = X.shape
    top, bottom = np.float32(qmax), np.float32(-qmax)
    for i in prange(n):
        x = X[i]
        peak = np.float32(0.0)
        poison = np.float32(0.0)  # x * 0 is NaN exactly when x is NaN or Inf
        for j in range(dim):
            peak = max(peak, abs(x[j]))
            poison += x[j] * np.float32(0.0)
        if poison != 0:
            bad[i] = True
        scale = peak / np.float32(qmax)
        if scale == 0:
            scale = np.float32(1.0)
        row = out[i]
        if bits == 8:
            for j in range(dim):
                row[j] = np.uint8(np.int32(min(max(np.rint(x[j] / scale), bottom), top)) & 0xFF)
        elif bits == 16:
            for j in range(dim):
                v = np.int32(min(max(np.rint(x[j] / scale), bottom), top))
                row[2 * j] = np.uint8(v & 0xFF)
                row[2 * j + 1] = np.uint8((v >> 8) & 0xFF)
        else:
            for pair in range(dim // 2):
                lo = np.int32(min(max(np.rint(x[2 * pair] / scale), bottom), top)) + 8
                hi = np.int32(min(max(np.rint(x[2 * pair + 1] / scale), bottom), top)) + 8
                row[pair] = np.uint8(lo | (hi << 4))
            if dim % 2:
                row[dim // 2] = np.uint8(np.int32(min(max(np.rint(x[dim - 1] / scale), bottom), top)) + 8)
        scales[i] = scale


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


# ----- per-dimension uint8 codes ------------------------------------------------------------
@exact
def perdim_encode(X, offset, step, out, bad):
    n, dim = X.shape
    for i in prange(n):
        poison = np.float32(0.0)
        for j in range(dim):
            poison += X[i, j] * np.float32(0.0)
            out[i, j] = np.uint8(min(max(np.rint((X[i, j] - offset[j]) / step[j]), np.float32(0)), np.float32(255)))
        if poison != 0:
            bad[i] = True


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
        poison = np.float32(0.0)
        for j in range(dim):
            poison += x[j] * np.float32(0.0)
        if poison != 0:
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


@fast
def hamming(query_codes, codes):
    nq, width = query_codes.shape
    n = codes.shape[0]
    out = np.empty((nq, n), dtype=np.int32)
    for i in prange(n):
        for q in range(nq):
            total = 0
            for b in range(width):
                x = np.uint32(query_codes[q, b] ^ codes[i, b])
                x = x - ((x >> 1) & 0x55)
                x = (x & 0x33) + ((x >> 2) & 0x33)
                total += (x + (x >> 4)) & 0x0F
            out[q, i] = total
    return out


# ----- float16 (IEEE half) without NumPy's slow scalar conversion -----------------------------
@exact
def half_encode(X, out, bad):
    """float32 -> half bits, round to nearest even; beyond +-65504 saturates (as clip + astype)."""
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
def half_decode(halves, out):
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
def int4_scores(Q, codes, scales, dim):
    n, nq = codes.shape[0], Q.shape[0]
    out = np.empty((nq, n), dtype=np.float32)
    for i in prange(n):
        for q in range(nq):
            acc = np.float32(0.0)
            for j in range(dim):
                nibble = (codes[i, j >> 1] >> np.uint8(4 * (j & 1))) & np.uint8(15)
                acc += Q[q, j] * (np.float32(nibble) - np.float32(8))
            out[q, i] = acc * scales[i]
    return out


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
            acc = np.float32(0.0)
            for b in range(width):
                acc += luts[q, b, codes[i, b]]
            out[q, i] = acc
    return out
