"""Transform coding `tc:R`: principal axes, then each axis quantised with the bits its variance earns.

Embeddings are far from white: on all-MiniLM-L6-v2 the largest principal axis carries 17x the
mean variance and the smallest almost none. A random rotation (`rq`) spreads that variance evenly
and spends the same bits on every coordinate; transform coding (the textbook KLT coder) rotates
onto the principal axes instead and hands out a budget of R x d bits where they cut the error
most: greedily, one bit at a time, to the axis whose Lloyd-Max quantiser (fitted on that axis's
own values, so skewed or heavy-tailed axes are served too) gains most from it. Each axis's squared
error is weighted by its standard deviation, a step from the squared error of the vectors towards
that of the scores, since queries too lean on the strong axes (see AXIS_WEIGHT_POWER). Strong
axes get up to 8 bits, weak ones none. On data whose spectrum is flat this is `rq` without the
per-vector scale; the steeper the spectrum, the more it saves. R may be fractional (`tc:2.5`).

Every axis's bits sit inside one byte (a bit is given only while the widths still pack into the
row's bytes), so a query scores a row with one table lookup per byte, as pq does: the table of
byte p sums q'_c x level_c over the axes c it holds, for each of its 256 values.

    tc:4      4 bits per dimension on average   (d/2 bytes: 192 at d=384)
    tc:2.5    2.5 bits                          (ceil(2.5 d / 8) bytes: 120 at d=384)
Row layout: ceil(R x d / 8) bytes; axis c's level index in bits shifts_[c] .. shifts_[c] +
bits_[c] - 1 of byte bytes_[c]; its 2^bits_[c] levels follow those of the axes before it in levels_.
No per-vector factor: an Index keeps |x_hat| beside the codes.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from .. import kernels
from .._util import sample
from ..errors import VectroError
from .base import Codec, register
from .projection import principal_axes
from .rotation import lloyd_max

# Rows the per-axis quantisers learn from: 128 values per level at 8 bits.
TABLE_ROWS = 32_768
MAX_BITS = 8  # an axis never spans two bytes
# A bit goes where it cuts sigma_c^p x (squared error of axis c) most. p = 0 minimises the squared
# error; p = 2 the error of inner products with queries distributed like the data (their energy on
# axis c is sigma_c^2), which moves bits to the strong axes. On the public set p = 1 gave the best
# recall@10 under cosine ranking for both of its query sets (held-out passages, and natural-language
# questions, unlike the data): tc:2 0.9236 / 0.9313 / 0.9295 for p = 0 / 1 / 2 on the first, 0.9184
# / 0.9252 / 0.9198 on the second; tc:4 0.9757 / 0.9818 / 0.9813 and 0.9750 / 0.9772 / 0.9764.
AXIS_WEIGHT_POWER = 1.0


def allocate_bits(gain, budget: int, widths: np.ndarray, room=None) -> np.ndarray:
    """Greedy bit allocation: give `budget` bits one at a time to the axis whose next bit cuts the
    error most. gain(c, b) -> the error the (b+1)-th bit of axis c removes. `widths`: the start (not
    changed); `room(c, width)`: whether axis c, now `width` bits, may grow (always, by default); a
    True answer is final (the caller may book the bit).
    Stops early when no bit removes any error. Optimal for integer budgets when each axis's gains
    shrink as it grows."""
    widths = widths.copy()
    heap = [(-gain(c, int(b)), c) for c, b in enumerate(widths) if b < MAX_BITS]
    heapq.heapify(heap)
    while budget > 0 and heap:
        negative, c = heapq.heappop(heap)
        if -negative <= 0:
            break
        if room is not None and not room(c, int(widths[c])):
            continue
        widths[c] += 1
        budget -= 1
        if widths[c] < MAX_BITS:
            heapq.heappush(heap, (-gain(c, int(widths[c])), c))
    return widths


def _best_fit(widths) -> tuple[list[int], list[int], int]:
    """Place fields of `widths` bits (widest first, each <= 8) in bytes, none split, each in the byte
    with the fewest bits left that still holds it -> (byte of each field, its shift, bytes used)."""
    open_bytes: list[list[int]] = [[] for _ in range(MAX_BITS + 1)]  # open_bytes[f]: bytes with f bits left
    byte_of, shift_of, used = [], [], 0
    for width in widths:
        free = next((f for f in range(width, MAX_BITS) if open_bytes[f]), MAX_BITS)
        if free == MAX_BITS:
            byte, used = used, used + 1
        else:
            byte = open_bytes[free].pop()
        byte_of.append(byte)
        shift_of.append(MAX_BITS - free)
        open_bytes[free - width].append(byte)
    return byte_of, shift_of, used


def bytes_needed(counts: np.ndarray) -> int:
    """Bytes that fields of counts[w] x w bits (w = 1..8) take in the layout `pack_fields` makes."""
    return _best_fit([w for w in range(MAX_BITS, 0, -1) for _ in range(int(counts[w]))])[2]


def pack_fields(widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Place fields of `widths` bits (each <= 8) in bytes, none split: best fit, widest first.
    -> (byte of each field, its shift in the byte); fields of 0 bits get byte 0, shift 0."""
    order = sorted(np.flatnonzero(widths), key=lambda c: (-widths[c], c))
    byte_of = np.zeros(len(widths), dtype=np.int64)
    shift_of = np.zeros(len(widths), dtype=np.int64)
    placed_bytes, placed_shifts, _ = _best_fit([int(widths[c]) for c in order])
    byte_of[order], shift_of[order] = placed_bytes, placed_shifts
    return byte_of, shift_of


@register
class TransformCoder(Codec):
    name = "tc"
    example = "tc:4"
    summary = "principal axes + a Lloyd-Max quantiser per axis, bits allocated by variance (fractional rates)"
    trainable = True
    min_fit_rows = 16
    state_arrays = ("mean_", "components_", "levels_", "bits_", "bytes_", "shifts_")

    def __init__(self, arg: str | None = None):
        super().__init__()
        try:
            rate = float(arg) if arg is not None else float("nan")
        except ValueError:
            rate = float("nan")
        if not 0 < rate <= MAX_BITS:
            raise VectroError(f"tc needs bits per dimension between 0 and {MAX_BITS}, e.g. tc:4 or tc:2.5; got tc:{arg}")
        self.rate = rate
        self._arg = arg

    @property
    def spec(self) -> str:
        return f"tc:{self._arg}"

    def bytes_per_vector(self, dim: int) -> int:
        return max(1, math.ceil(self.rate * dim / 8 - 1e-9))  # ceil(R d / 8), float noise aside

    # ----- fit ------------------------------------------------------------------------------
    def _fit(self, X, progress):
        dim = X.shape[1]
        mean, axes = principal_axes(X, self._seed)
        Y = (sample(X, TABLE_ROWS, self._seed) - mean) @ axes.T  # (rows, d): each axis's values
        values = [np.sort(Y[:, c]) for c in range(dim)]  # float32: d x 32,768 values stay ~50 MB at d=384
        books: dict[tuple[int, int], tuple[np.ndarray, float]] = {}

        def book(c: int, bits: int) -> tuple[np.ndarray, float]:
            """Axis c's Lloyd-Max levels at `bits` bits and their mean squared error, computed once."""
            if (c, bits) not in books:
                v = values[c].astype(np.float64)
                if bits == 0:
                    books[c, bits] = (np.zeros(1, dtype=np.float32), float(np.mean(v * v)))
                else:
                    levels = lloyd_max(v, 2**bits)
                    wide = levels.astype(np.float64)
                    error = v - wide[np.searchsorted((wide[1:] + wide[:-1]) / 2, v)]
                    books[c, bits] = (levels, float(np.mean(error * error)))
            return books[c, bits]

        variance = np.array([np.mean(np.square(v, dtype=np.float64)) for v in values])
        weight = variance ** (AXIS_WEIGHT_POWER / 2)  # sigma_c ** power
        # a gain this small is float noise (an axis with no variance of its own): no bit goes there
        negligible = 1e-12 * float(weight @ variance)

        def gain(c: int, bits: int) -> float:
            removed = weight[c] * (book(c, bits)[1] - book(c, bits + 1)[1])
            return removed if removed > negligible else 0.0

        # every axis's field stays inside one byte: a bit is given only while the widths still pack
        # into the row's bytes
        counts = np.zeros(MAX_BITS + 1, dtype=np.int64)  # counts[w]: axes of w bits
        counts[0] = dim
        row_bytes = self.bytes_per_vector(dim)

        def room(c: int, width: int) -> bool:
            counts[width] -= 1
            counts[width + 1] += 1
            if bytes_needed(counts) <= row_bytes:
                progress(int(counts @ np.arange(MAX_BITS + 1)), 8 * row_bytes)
                return True
            counts[width] += 1
            counts[width + 1] -= 1
            return False

        bits = allocate_bits(gain, 8 * row_bytes, np.zeros(dim, dtype=np.int64), room)
        byte_of, shift_of = pack_fields(bits)
        kept = np.flatnonzero(bits)
        order = kept[np.lexsort((shift_of[kept], byte_of[kept]))]  # axes grouped by byte
        self.mean_ = mean
        self.components_ = np.ascontiguousarray(axes[order])
        self.levels_ = np.concatenate([book(int(c), int(bits[c]))[0] for c in order] or [np.zeros(0, np.float32)])
        self.bits_ = bits[order].astype(np.uint8)
        self.bytes_ = byte_of[order].astype(np.int32)
        self.shifts_ = shift_of[order].astype(np.uint8)
        self._derive()

    def _load_state(self, dim, arrays):
        super()._load_state(dim, arrays)
        self._derive()

    def _derive(self) -> None:
        """Tables every encode, decode and score reads, rebuilt from the state."""
        k = len(self.bits_)
        self._axis = np.arange(k)
        top = (1 << self.bits_.astype(np.int64)) - 1
        # levels[c]: axis c's levels, padded with its last one to 256
        first = np.concatenate(([0], np.cumsum(top + 1)[:-1]))
        levels = self.levels_[first[:, None] + np.minimum(np.arange(2**MAX_BITS)[None, :], top[:, None])]
        # thresholds[c, m]: the boundary between levels m-1 and m of axis c; +inf past its last level
        inner = (levels[:, 1:] + levels[:, :-1]) / np.float32(2)
        self._thresholds = np.full((k, 2**MAX_BITS), np.inf, dtype=np.float32)
        self._thresholds[:, 1:] = np.where(np.arange(1, 2**MAX_BITS) <= top[:, None], inner, np.inf)
        # byte_levels[c, v]: the level axis c decodes to when its byte holds v
        index = (np.arange(2**MAX_BITS)[None, :] >> self.shifts_[:, None].astype(np.int64)) & top[:, None]
        self._byte_levels = np.ascontiguousarray(np.take_along_axis(levels, index, axis=1))
        # axes are grouped by byte: where each byte's group starts, and which byte it is
        self._byte_starts = np.flatnonzero(np.r_[True, np.diff(self.bytes_) != 0]) if k else np.zeros(0, np.int64)
        self._group_bytes = self.bytes_[self._byte_starts]

    # ----- encode / decode / score ------------------------------------------------------------
    def _encode_block(self, X):
        Y = (X - self.mean_) @ self.components_.T
        k = len(self.bits_)
        flat = self._thresholds.reshape(-1)
        base = self._axis * 2**MAX_BITS
        index = np.zeros(Y.shape, dtype=np.int64)
        for step in range(MAX_BITS - 1, -1, -1):  # binary search in every axis's thresholds at once
            probe = index + (1 << step)
            index += (Y > flat[base + probe]) << step
        out = np.zeros((len(X), self.bytes_per_vector(self.dim_)), dtype=np.uint8)
        if k:
            fields = (index << self.shifts_.astype(np.int64)).astype(np.uint8)  # disjoint bits: sums are ORs
            out[:, self._group_bytes] = np.add.reduceat(fields, self._byte_starts, axis=1)
        return out

    def _axis_values(self, codes: np.ndarray) -> np.ndarray:
        """Each row's level on each kept axis, float32 (n, k)."""
        return self._byte_levels[self._axis, codes[:, self.bytes_]]

    def _decode_block(self, codes):
        return self._axis_values(codes) @ self.components_ + self.mean_

    def _scoring_queries(self, Q):
        return np.ascontiguousarray(Q @ self.components_.T), Q @ self.mean_

    def _score_block(self, prepared, codes):
        projected, offset = prepared
        if len(projected) <= kernels.SMALL_BATCH and len(self.bits_):
            # one table per code byte: the sum over its axes of q'_c x level_c(byte value)
            per_axis = projected[:, :, None] * self._byte_levels[None]
            tables = np.zeros((len(projected), codes.shape[1], 2**MAX_BITS), dtype=np.float32)
            tables[:, self._group_bytes] = np.add.reduceat(per_axis, self._byte_starts, axis=1)
            return kernels.table_scores(tables, codes) + offset[:, None].astype(np.float32)
        return projected @ self._axis_values(codes).T + offset[:, None].astype(np.float32)
