"""Scalar codecs: each coordinate becomes a number on its own (float16, bf16, int8, int4, nf4, ...).

Layouts (one row per vector, little-endian):
    float32 / float16 / bf16     d values of 4 / 2 / 2 bytes
    int16 / int8                 d signed codes, then one float32 scale per group
    int4 / nf4 / int2            codes packed 2 / 2 / 4 per byte (first value in the low bits),
                                 then one float32 scale per group
    int8-dim                     d uint8 codes; per-dimension offset and step live in the state

A group is `int8:64`-style: every 64 consecutive dimensions get their own scale. Without an
argument the whole vector shares one scale (the seed Vectro's per-vector scheme).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .. import kernels
from ..errors import VectroError
from .base import Codec, register

# The 16 NormalFloat levels of QLoRA (Dettmers et al. 2023): quantiles of N(0, 1) scaled to [-1, 1].
NF4_LEVELS = np.array(
    [
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
        0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
        0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
    ],
    dtype=np.float32,
)
# Lloyd-Max 4-level quantiser for a unit Gaussian: levels and the decision thresholds between them.
INT2_LEVELS = np.array([-1.5104, -0.4528, 0.4528, 1.5104], dtype=np.float32)
INT2_THRESHOLDS = np.array([-0.9816, 0.0, 0.9816], dtype=np.float32)
FLOAT16_MAX = float(np.finfo(np.float16).max)


def pack_bits(values: np.ndarray, bits: int) -> np.ndarray:
    """Pack uint8 values < 2**bits (n, d) into (n, ceil(d*bits/8)) bytes, first value lowest."""
    per_byte = 8 // bits
    n, d = values.shape
    width = -(-d // per_byte)
    padded = np.zeros((n, width * per_byte), dtype=np.uint8)
    padded[:, :d] = values
    padded = padded.reshape(n, width, per_byte)
    packed = np.zeros((n, width), dtype=np.uint8)
    for slot in range(per_byte):
        packed |= padded[:, :, slot] << np.uint8(slot * bits)
    return packed


def unpack_bits(packed: np.ndarray, bits: int, dim: int) -> np.ndarray:
    """Inverse of pack_bits: (n, width) bytes -> uint8 values (n, dim)."""
    per_byte = 8 // bits
    mask = np.uint8((1 << bits) - 1)
    n, width = packed.shape
    out = np.empty((n, width, per_byte), dtype=np.uint8)
    for slot in range(per_byte):
        out[:, :, slot] = (packed >> np.uint8(slot * bits)) & mask
    return out.reshape(n, width * per_byte)[:, :dim]


def _abs_max(grouped: np.ndarray) -> np.ndarray:
    """max |x| over the last axis, without materialising |x|."""
    return np.maximum(grouped.max(axis=2), -grouped.min(axis=2))


def _parse_group(name: str, arg: str | None) -> int | None:
    if arg is None:
        return None
    text = arg[1:] if arg.startswith("g") else arg
    if not text.isdigit() or int(text) < 1:
        raise VectroError(f"{name}:{arg}: the argument is a group size in dimensions, e.g. {name}:64")
    return int(text)


class _ScaledCodec(Codec):
    """Codes on a per-vector (or per-group) float32 scale, stored after the codes in each row."""

    bits: ClassVar[int] = 8
    #: scale stored for an all-zero vector (or group); 0 when no level is exactly zero
    zero_scale: ClassVar[float] = 1.0

    def __init__(self, arg: str | None = None):
        super().__init__()
        self.group = _parse_group(self.name, arg)

    @property
    def spec(self) -> str:
        return self.name if self.group is None else f"{self.name}:{self.group}"

    def _groups(self, dim: int) -> tuple[int, int]:
        size = dim if self.group is None else min(self.group, dim)
        return -(-dim // size), size

    def _code_bytes(self, dim: int) -> int:
        return -(-dim * self.bits // 8)

    def bytes_per_vector(self, dim: int) -> int:
        return self._code_bytes(dim) + 4 * self._groups(dim)[0]

    # per-group statistics on a (n, groups, size) view, padded with zeros
    def _grouped(self, X: np.ndarray) -> np.ndarray:
        n, dim = X.shape
        groups, size = self._groups(dim)
        if groups * size == dim:
            return X.reshape(n, groups, size)
        padded = np.zeros((n, groups * size), dtype=np.float32)
        padded[:, :dim] = X
        return padded.reshape(n, groups, size)

    def _scales(self, grouped: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _to_codes(self, normalised: np.ndarray) -> np.ndarray:
        """Map values already divided by their scale to uint8 code values (< 2**bits) or int8/int16."""
        raise NotImplementedError

    def _from_codes(self, codes: np.ndarray) -> np.ndarray:
        """Map stored code values back to float32 values before scaling."""
        raise NotImplementedError

    def _encode_block(self, X: np.ndarray) -> np.ndarray:
        n, dim = X.shape
        grouped = self._grouped(X)
        scales = self._scales(grouped).astype(np.float32)
        zero = scales == 0
        scales[zero] = 1.0  # never divide by zero; an all-zero vector decodes to zeros
        normalised = (grouped / scales[:, :, None]).reshape(n, -1)[:, :dim]
        values = self._to_codes(normalised)
        out = np.empty((n, self.bytes_per_vector(dim)), dtype=np.uint8)
        code_bytes = self._code_bytes(dim)
        if self.bits < 8:
            out[:, :code_bytes] = pack_bits(values, self.bits)
        else:
            out[:, :code_bytes] = values.view(np.uint8).reshape(n, code_bytes)
        scales[zero] = self.zero_scale
        out[:, code_bytes:] = scales.view(np.uint8).reshape(n, -1)
        return out

    def split(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Code values (n, d) and float32 scales (n, groups) of encoded rows."""
        dim = self.dim_
        code_bytes = self._code_bytes(dim)
        raw = codes[:, :code_bytes]
        if self.bits < 8:
            values = unpack_bits(raw, self.bits, dim)
        else:
            values = np.ascontiguousarray(raw).view(f"<i{self.bits // 8}")
        scales = np.ascontiguousarray(codes[:, code_bytes:]).view("<f4")
        return values, scales

    def _table_kind(self) -> str | None:
        """How a few queries score these codes in place: "levels" (2 or 4 bits, one scale per row or per
        group: the table of their levels), "bytes" (per-byte tables, times each group's scale), "direct"
        (int8 / int16, no tables), or None (no kernel)."""
        groups, size = self._groups(self.dim_)
        if self.bits > 8 or (groups > 1 and size * self.bits % 8):  # a byte would straddle two groups
            return None
        levels = kernels.packed_fast(self.bits) if groups == 1 else kernels.packed_groups_fast(size)
        return "levels" if self.bits in (2, 4) and levels else "bytes"

    def row_kernel(self):
        kind = self._table_kind()
        if kind == "levels" and self._groups(self.dim_)[0] == 1:  # the walk and the one-pass scan: one scale a row
            return kernels.RowKernel("packed", self.bits, self._levels(), self._code_bytes(self.dim_))
        if kind == "direct" and self.bits == 8:
            return kernels.RowKernel("int8")
        return None

    def _levels(self) -> np.ndarray:
        values = np.arange(2**self.bits, dtype=np.uint8)  # every value a byte (or part of one) holds
        return self._from_codes(values.view(np.int8) if self.bits == 8 else values).astype(np.float32)

    def _scoring_queries(self, Q):
        """With per-byte tables: (Q, the tables), built once per call rather than once per block."""
        if len(Q) <= kernels.SMALL_BATCH and kernels.available() and self._table_kind() == "bytes":
            return Q, kernels.packed_value_luts(Q, self._levels(), self.bits)
        return Q

    def _score_block(self, prepared, codes):
        if isinstance(prepared, tuple):
            Q, luts = prepared
            code_bytes = self._code_bytes(self.dim_)
            groups, size = self._groups(self.dim_)
            group_bytes = code_bytes if groups == 1 else size * self.bits // 8
            return kernels.scaled_lut_scores(luts, codes, kernels.float_columns(codes, code_bytes), group_bytes)
        return super()._score_block(prepared, codes)

    def _score_fast(self, Q, codes):
        """4-bit (2-bit with C) codes with one scale per row, or per group with C, through the table of their
        levels. (Per-byte tables are built once per call by `_scoring_queries` and read in `_score_block`.)"""
        if self._table_kind() != "levels":
            return None
        return kernels.packed_scores(Q, codes, self._levels(), self.bits, scale_at=self._code_bytes(self.dim_),
                                     group=self._groups(self.dim_)[1])

    def _decode_block(self, codes: np.ndarray) -> np.ndarray:
        values, scales = self.split(codes)
        n, dim = values.shape
        groups, size = self._groups(dim)
        decoded = self._from_codes(values)
        if groups == 1:
            return decoded * scales
        padded = np.zeros((n, groups * size), dtype=np.float32)
        padded[:, :dim] = decoded
        return (padded.reshape(n, groups, size) * scales[:, :, None]).reshape(n, -1)[:, :dim]


class _AbsMaxUniform(_ScaledCodec):
    """Symmetric uniform levels -qmax..qmax on scale = max|x| / qmax."""

    qmax: ClassVar[int] = 127

    def _scales(self, grouped):
        return _abs_max(grouped) / np.float32(self.qmax)

    def _encode_fast(self, X, out):
        return kernels.absmax_encode(X, out, self.qmax, self.bits) if self.group is None else None

    def _decode_fast(self, codes, out):
        if self.group is not None:
            return False
        kernels.absmax_decode(codes, out, self.bits)
        return True

    def _table_kind(self):
        if self.group is None and self.bits >= 8:  # one value per byte or two: read in place, no tables
            return "direct"
        return super()._table_kind()

    def _score_fast(self, Q, codes):
        if self._table_kind() == "direct":
            kernel = kernels.int8_scores if self.bits == 8 else kernels.int16_scores
            return kernel(Q, codes, self.dim_)
        return super()._score_fast(Q, codes)  # int4: the packed-levels kernel

    def _to_codes(self, normalised):
        q = np.rint(normalised, out=normalised)  # in place: `normalised` is this block's temporary
        np.clip(q, -self.qmax, self.qmax, out=q)
        if self.bits == 16:
            return q.astype(np.int16)
        if self.bits == 8:
            return q.astype(np.int8)
        q += 1 << (self.bits - 1)  # offset binary for packed nibbles
        return q.astype(np.uint8)

    def _from_codes(self, codes):
        if self.bits >= 8:
            return codes.astype(np.float32)
        return codes.astype(np.float32) - np.float32(1 << (self.bits - 1))


@register
class Int8(_AbsMaxUniform):
    name = "int8"
    summary = "8-bit symmetric codes, one float32 scale per vector (int8:G: per G dims)"
    bits, qmax = 8, 127

    def score_candidates(self, queries, codes, rows):
        if self.group is None and kernels.available():
            return kernels.int8_candidate_scores(queries, codes, rows, self.dim_)
        return super().score_candidates(queries, codes, rows)


@register
class Int16(_AbsMaxUniform):
    name = "int16"
    summary = "16-bit symmetric codes, one float32 scale per vector"
    bits, qmax = 16, 32767


@register
class Int4(_AbsMaxUniform):
    name = "int4"
    summary = "4-bit symmetric codes (-7..7), two per byte, one float32 scale per vector or group"
    bits, qmax = 4, 7


class _Codebook(_ScaledCodec):
    """Non-uniform levels: each normalised value goes to the nearest of `levels`."""

    levels: ClassVar[np.ndarray]
    thresholds: ClassVar[np.ndarray]

    def _to_codes(self, normalised):
        # index of the nearest level = how many decision thresholds lie below the value;
        # counting comparisons on a cache-sized block is several times faster than searchsorted
        codes = np.zeros(normalised.shape, dtype=np.uint8)
        above = np.empty(normalised.shape, dtype=bool)
        for threshold in self.thresholds:
            np.greater(normalised, threshold, out=above)
            codes += above
        return codes

    def _from_codes(self, codes):
        return self.levels[codes]


@register
class NF4(_Codebook):
    name = "nf4"
    summary = "4-bit NormalFloat levels (QLoRA) on a per-vector abs-max scale"
    bits = 4
    levels = NF4_LEVELS
    thresholds = (NF4_LEVELS[1:] + NF4_LEVELS[:-1]) / 2

    def _scales(self, grouped):
        return _abs_max(grouped)

    def _encode_fast(self, X, out):
        return kernels.codebook_encode(X, out, self.thresholds, self.bits) if self.group is None else None

    def _decode_fast(self, codes, out):
        if self.group is not None:
            return False
        kernels.codebook_decode(codes, out, self.levels, self.bits)
        return True


@register
class Int2(_Codebook):
    name = "int2"
    summary = "2-bit Lloyd-Max Gaussian levels on a per-vector RMS scale, four per byte"
    bits = 2
    levels = INT2_LEVELS
    thresholds = INT2_THRESHOLDS
    zero_scale = 0.0

    def _scales(self, grouped):
        _, groups, size = grouped.shape
        # RMS over the real (unpadded) dimensions of each group; padding zeros add nothing.
        # float64 squares: float32 ones overflow from |x| ~ 1e19.
        counts = np.full(groups, size, dtype=np.float64)
        counts[-1] = self.dim_ - size * (groups - 1)
        wide = grouped.astype(np.float64)
        return np.sqrt(np.einsum("ngs,ngs->ng", wide, wide) / counts)


class _IEEEFloat(Codec):
    """Values stored as little-endian IEEE floats of `dtype`."""

    dtype: ClassVar[str] = "<f4"

    def bytes_per_vector(self, dim):
        return np.dtype(self.dtype).itemsize * dim

    def _encode_block(self, X):
        return X.astype(self.dtype).view(np.uint8)

    def _decode_block(self, codes):
        return np.ascontiguousarray(codes).view(self.dtype).astype(np.float32, copy=False)


@register
class Float32(_IEEEFloat):
    name = "float32"
    summary = "no compression: the float32 values (the reference)"
    dtype = "<f4"

    def row_kernel(self):
        return kernels.RowKernel("float32")

    def _score_fast(self, Q, codes):
        fast = kernels.float32_scores(Q, codes)  # one pass over the rows (BLAS's gemv runs at half its speed)
        if fast is not None:
            return fast
        return Q @ np.ascontiguousarray(codes).view("<f4").T  # the stored values are the vectors: BLAS in place


@register
class Float16(_IEEEFloat):
    name = "float16"
    summary = "IEEE half precision; values beyond +-65504 saturate"
    dtype = "<f2"

    def _encode_block(self, X):
        return super()._encode_block(np.clip(X, -FLOAT16_MAX, FLOAT16_MAX))

    def _encode_fast(self, X, out):
        return kernels.half_encode(X, out)

    def _decode_fast(self, codes, out):
        kernels.half_decode(codes, out)
        return True

    def _score_fast(self, Q, codes):
        return kernels.half_scores(Q, codes)


@register
class BFloat16(Codec):
    name = "bf16"
    summary = "bfloat16: float32's range with 8 bits of mantissa (round to nearest even)"

    def bytes_per_vector(self, dim):
        return 2 * dim

    def _encode_block(self, X):
        bits = X.view(np.uint32)
        rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
        # values within half a bf16 step of float32's max would round up to Inf: keep the largest finite
        rounded = np.where((rounded & 0x7F80) == 0x7F80, bits >> np.uint32(16), rounded)
        return rounded.astype("<u2").view(np.uint8)

    def _decode_block(self, codes):
        halves = np.ascontiguousarray(codes).view("<u2").astype(np.uint32)
        return (halves << np.uint32(16)).view(np.float32)

    def _encode_fast(self, X, out):
        return kernels.bf16_encode(X, out)

    def _decode_fast(self, codes, out):
        kernels.bf16_decode(codes, out)
        return True

    def _score_fast(self, Q, codes):
        return kernels.bf16_scores(Q, codes)


@register
class Int8PerDim(Codec):
    name = "int8-dim"
    summary = "8-bit codes with a per-dimension offset and step learned by fit (min/max)"
    trainable = True
    state_arrays = ("offset_", "step_")

    def bytes_per_vector(self, dim):
        return dim

    def _fit(self, X, progress):
        low, high = X.min(axis=0), X.max(axis=0)
        step = (high - low) / np.float32(255)
        step[step == 0] = 1.0
        self.offset_, self.step_ = low.astype(np.float32), step.astype(np.float32)

    def _encode_block(self, X):
        return np.clip(np.rint((X - self.offset_) / self.step_), 0, 255).astype(np.uint8)

    def _decode_block(self, codes):
        return codes * self.step_ + self.offset_

    def _encode_fast(self, X, out):
        return kernels.perdim_encode(X, self.offset_, self.step_, out)

    def _decode_fast(self, codes, out):
        kernels.perdim_decode(codes, self.offset_, self.step_, out)
        return True

    def _score_fast(self, Q, codes):
        return kernels.perdim_scores(Q, codes, self.offset_, self.step_)

    def _score_block(self, Q, codes):
        fast = self._in_place_scores(Q, codes)
        if fast is not None:
            return fast
        # q.(offset + step*c) = q.offset + (q*step).c: no decoded block is materialised
        return (Q * self.step_) @ codes.T.astype(np.float32) + (Q @ self.offset_)[:, None]
