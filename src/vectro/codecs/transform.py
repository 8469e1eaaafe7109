"""Transform coding `tc:R`: principal axes, then each axis quantised with the bits its variance earns.

Embeddings are far from white: on all-MiniLM-L6-v2 the largest principal axis carries 17x the
mean variance and the smallest almost none. A random rotation (`rq`) spreads that variance evenly
and spends the same bits on every coordinate; transform coding (the textbook KLT coder) rotates
onto the principal axes instead and hands out a budget of R x d bits where they cut the error
most: greedily, one bit at a time, to the axis whose Lloyd-Max quantiser (fitted on that axis's
own values, so skewed or heavy-tailed axes are served too) gains most from it. Each axis's squared
error is weighted by its standard deviation, a step from the squared error of the vectors towards
that of the scores, since queries too lean on the strong axes (see AXIS_WEIGHT_POWER). Strong
axes get up to 16 bits, weak ones none. On data whose spectrum is flat this is `rq` without the
per-vector scale; the steeper the spectrum, the more it saves. R may be fractional (`tc:2.5`).

A code byte holds whole fields, one level index each (a bit is given only while the fields still
pack into the row's bytes), so a query scores a row with one table lookup per byte, as pq does:
the table of byte p sums q'_c x level(field) over the fields it holds, for each of its 256 values.
An axis of up to 8 bits has one field; one of 9 to 16 bits has two: an 8-bit Lloyd-Max index, and
a second quantiser's index for what those levels leave (its own Lloyd-Max, fitted on that residual),
so the axis decodes to the sum of two levels and scoring stays one lookup per byte. At high rates
this is what lets tc pass int8: at tc:8 on the bundled sample, the axes take from 4 bits (the
weakest) to 12 (the strongest), 149 of 381 more than 8, where a cap of 8 would give nearly every axis 8.

    tc:4      4 bits per dimension on average   (d/2 bytes: 192 at d=384)
    tc:2.5    2.5 bits                          (ceil(2.5 d / 8) bytes: 120 at d=384)
Row layout: ceil(R x d / 8) bytes. Fields are the kept axes' first fields, in the order of
components_, then the second fields of the axes refined_ lists; field f's level index sits in bits
shifts_[f] .. shifts_[f] + bits_[f] - 1 of byte bytes_[f], and its 2^bits_[f] levels follow those of
the fields before it in levels_. No per-vector factor: an Index keeps |x_hat| beside the codes.
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
MAX_BITS = 8  # a field never spans two bytes
MAX_AXIS_BITS = 2 * MAX_BITS  # an axis has at most two fields: its level, then its residual's
# Batches of up to TABLE_BYTES / (code bytes) queries (at least kernels.SMALL_BATCH, at most
# IN_PLACE_QUERIES) are scored through byte tables, a query at a time, larger ones by decoding each
# block for one BLAS product: a query's tables cost about its code bytes per row, the decode a fixed
# amount per block. On the public set at 50k the two met between 32 and 48 queries for tc:2 (96 B),
# between 16 and 24 for tc:4 (192 B).
TABLE_BYTES = 3072
# A bit goes where it cuts sigma_c^p x (squared error of axis c) most. p = 0 minimises the squared
# error; p = 2 the error of inner products with queries distributed like the data (their energy on
# axis c is sigma_c^2), which moves bits to the strong axes. On the public set p = 1 gave the best
# recall@10 under cosine ranking for both of its query sets (held-out passages, and natural-language
# questions, unlike the data): tc:2 0.9236 / 0.9313 / 0.9295 for p = 0 / 1 / 2 on the first, 0.9184
# / 0.9252 / 0.9198 on the second; tc:4 0.9757 / 0.9818 / 0.9813 and 0.9750 / 0.9772 / 0.9764.
AXIS_WEIGHT_POWER = 1.0


def field_widths(width: int) -> list[int]:
    """The fields of an axis of `width` bits: none, one, or a full byte and then the rest."""
    return [width] if 0 < width <= MAX_BITS else [MAX_BITS, width - MAX_BITS] if width else []


def allocate_bits(gain, budget: int, widths: np.ndarray, room=None) -> np.ndarray:
    """Greedy bit allocation: give `budget` bits one at a time to the axis whose next bit cuts the
    error most. gain(c, b) -> the error the (b+1)-th bit of axis c removes. `widths`: the start (not
    changed); `room(c, width)`: whether axis c, now `width` bits, may grow (always, by default); a
    True answer is final (the caller may book the bit).
    Stops early when no bit removes any error; no axis passes MAX_AXIS_BITS. Optimal for integer
    budgets when each axis's gains shrink as it grows, as Lloyd-Max's do up to 8 bits. Past 8 bits
    they need not: a second field's first bits serve its widest cells, whose residual is
    heavy-tailed, so its second bit can gain less than its third. Weighing an axis's next 1-3 bits
    together (and granting them at once) changed no code of tc:1 to tc:6 on the public set and moved
    tc:8's recall@10 from 0.9984 / 0.9967 (normalised / raw) to 0.9985 / 0.9966, so one bit at a time
    it stays."""
    widths = widths.copy()
    heap = [(-gain(c, int(b)), c) for c, b in enumerate(widths) if b < MAX_AXIS_BITS]
    heapq.heapify(heap)
    while budget > 0 and heap:
        negative, c = heapq.heappop(heap)
        if -negative <= 0:
            break
        if room is not None and not room(c, int(widths[c])):
            continue
        widths[c] += 1
        budget -= 1
        if widths[c] < MAX_AXIS_BITS:
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


def nearest(levels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each of `values` replaced by the nearest of the sorted `levels` (float64)."""
    wide = levels.astype(np.float64)
    return wide[np.searchsorted((wide[1:] + wide[:-1]) / 2, values)]


@register
class TransformCoder(Codec):
    name = "tc"
    example = "tc:4"
    summary = "principal axes + a Lloyd-Max quantiser per axis, bits allocated by variance (fractional rates)"
    trainable = True
    min_fit_rows = 16
    state_arrays = ("mean_", "components_", "levels_", "bits_", "bytes_", "shifts_", "refined_")

    def __init__(self, arg: str | None = None):
        super().__init__()
        try:
            rate = float(arg) if arg is not None else float("nan")
        except ValueError:
            rate = float("nan")
        if not 0 < rate <= MAX_AXIS_BITS:
            raise VectroError(f"tc needs bits per dimension between 0 and {MAX_AXIS_BITS}, e.g. tc:4 or tc:2.5; "
                              f"got tc:{arg}")
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
        residuals: dict[int, np.ndarray] = {}

        def book(c: int, bits: int) -> tuple[np.ndarray, float]:
            """The levels of the last field of axis c at `bits` bits, and the axis's mean squared error
            with them, computed once. Past MAX_BITS, the field quantises what the 8-bit levels leave."""
            if (c, bits) not in books:
                v = values[c].astype(np.float64)
                if bits > MAX_BITS:
                    if c not in residuals:  # what the 8-bit levels leave, for every field past them
                        residuals[c] = v - nearest(book(c, MAX_BITS)[0], v)
                    v = residuals[c]
                fine = bits - MAX_BITS if bits > MAX_BITS else bits
                levels = lloyd_max(v, 2**fine) if fine else np.zeros(1, dtype=np.float32)
                error = v - nearest(levels, v)
                books[c, bits] = (levels, float(np.mean(error * error)))
            return books[c, bits]

        variance = np.array([np.mean(np.square(v, dtype=np.float64)) for v in values])
        weight = variance ** (AXIS_WEIGHT_POWER / 2)  # sigma_c ** power
        # a gain this small is float noise (an axis with no variance of its own): no bit goes there
        negligible = 1e-12 * float(weight @ variance)

        def gain(c: int, bits: int) -> float:
            removed = weight[c] * (book(c, bits)[1] - book(c, bits + 1)[1])
            return removed if removed > negligible else 0.0

        # every field stays inside one byte: a bit is given only while the fields still pack into the
        # row's bytes
        counts = np.zeros(MAX_BITS + 1, dtype=np.int64)  # counts[w]: fields of w bits
        row_bytes = self.bytes_per_vector(dim)

        def regroup(old: list[int], new: list[int]) -> None:
            for w in old:
                counts[w] -= 1
            for w in new:
                counts[w] += 1

        def room(c: int, width: int) -> bool:
            regroup(field_widths(width), field_widths(width + 1))
            if bytes_needed(counts) <= row_bytes:
                progress(int(counts @ np.arange(MAX_BITS + 1)), 8 * row_bytes)
                return True
            regroup(field_widths(width + 1), field_widths(width))
            return False

        bits = allocate_bits(gain, 8 * row_bytes, np.zeros(dim, dtype=np.int64), room)
        # fields: each axis's first (0 bits for an axis left out), then the second of each axis past 8 bits
        wide = np.flatnonzero(bits > MAX_BITS)
        widths = np.concatenate([np.minimum(bits, MAX_BITS), bits[wide] - MAX_BITS])
        byte_of, shift_of = pack_fields(widths)
        kept = np.flatnonzero(bits)
        order = kept[np.lexsort((shift_of[kept], byte_of[kept]))]  # axes grouped by their first field's byte
        position = np.zeros(dim, dtype=np.int64)
        position[order] = np.arange(len(order))
        fields = np.concatenate([order, dim + np.arange(len(wide))])
        self.mean_ = mean
        self.components_ = np.ascontiguousarray(axes[order])
        self.levels_ = np.concatenate([book(int(c), int(min(bits[c], MAX_BITS)))[0] for c in order]
                                      + [book(int(c), int(bits[c]))[0] for c in wide] or [np.zeros(0, np.float32)])
        self.bits_ = widths[fields].astype(np.uint8)
        self.bytes_ = byte_of[fields].astype(np.int32)
        self.shifts_ = shift_of[fields].astype(np.uint8)
        self.refined_ = position[wide].astype(np.int32)
        self._derive()

    def _load_state(self, dim, arrays):
        # states written before axes could pass 8 bits have no refined_: none of their axes is refined
        super()._load_state(dim, {"refined_": np.zeros(0, dtype=np.int32), **arrays})
        k, bits = len(self.components_), self.bits_.astype(np.int64)
        first, refined = bits[:k], self.refined_.astype(np.int64)
        consistent = (len(bits) == k + len(refined) == len(self.bytes_) == len(self.shifts_)
                      and len(self.levels_) == int(np.sum(2**bits)) and np.all(bits >= 1)
                      and np.all(self.shifts_.astype(np.int64) + bits <= MAX_BITS)
                      and np.all(self.bytes_ < self.bytes_per_vector(dim))
                      and len(np.unique(refined)) == len(refined) and np.all((refined >= 0) & (refined < k))
                      and np.all(first[refined] == MAX_BITS))
        if not consistent:
            raise VectroError(f"codec state for {self.spec!r} is inconsistent: its fields do not match its axes")
        self._derive()

    def _derive(self) -> None:
        """Tables every encode, decode and score reads, rebuilt from the state."""
        k, f = len(self.components_), len(self.bits_)
        self._field = np.arange(f)
        self._field_axis = np.concatenate([np.arange(k), self.refined_]).astype(np.intp)
        top = (1 << self.bits_.astype(np.int64)) - 1
        # levels[f]: field f's levels, padded with its last one to 256
        first = np.concatenate(([0], np.cumsum(top + 1)[:-1]))
        self._levels = self.levels_[first[:, None] + np.minimum(np.arange(2**MAX_BITS)[None, :], top[:, None])]
        # thresholds[f, m]: the boundary between levels m-1 and m of field f; +inf past its last level
        inner = (self._levels[:, 1:] + self._levels[:, :-1]) / np.float32(2)
        self._thresholds = np.full((f, 2**MAX_BITS), np.inf, dtype=np.float32)
        self._thresholds[:, 1:] = np.where(np.arange(1, 2**MAX_BITS) <= top[:, None], inner, np.inf)
        # byte_levels[f, v]: the level field f decodes to when its byte holds v
        index = (np.arange(2**MAX_BITS)[None, :] >> self.shifts_[:, None].astype(np.int64)) & top[:, None]
        self._byte_levels = np.ascontiguousarray(np.take_along_axis(self._levels, index, axis=1))
        # the fields grouped by byte: where each byte's group starts, and which byte it is
        self._by_byte = np.lexsort((self.shifts_, self.bytes_))
        grouped = self.bytes_[self._by_byte]
        self._byte_starts = np.flatnonzero(np.r_[True, np.diff(grouped) != 0]) if f else np.zeros(0, np.int64)
        self._group_bytes = grouped[self._byte_starts]

    # ----- encode / decode / score ------------------------------------------------------------
    def _nearest_levels(self, values: np.ndarray, fields: np.ndarray) -> np.ndarray:
        """The index of the nearest level of field fields[j] to each values[:, j]: a binary search in
        every column's thresholds at once."""
        flat = self._thresholds.reshape(-1)
        base = fields * 2**MAX_BITS
        index = np.zeros(values.shape, dtype=np.int64)
        for step in range(MAX_BITS - 1, -1, -1):
            probe = index + (1 << step)
            index += (values > flat[base + probe]) << step
        return index

    def _encode_block(self, X):
        Y = (X - self.mean_) @ self.components_.T
        k = Y.shape[1]
        index = self._nearest_levels(Y, self._field[:k])
        if len(self.refined_):  # second fields: the nearest level to what the first left
            left = Y[:, self.refined_] - self._levels[self.refined_, index[:, self.refined_]]
            index = np.concatenate([index, self._nearest_levels(left, self._field[k:])], axis=1)
        out = np.zeros((len(X), self.bytes_per_vector(self.dim_)), dtype=np.uint8)
        if len(self.bits_):
            fields = (index << self.shifts_.astype(np.int64)).astype(np.uint8)  # disjoint bits: sums are ORs
            out[:, self._group_bytes] = np.add.reduceat(fields[:, self._by_byte], self._byte_starts, axis=1)
        return out

    def _axis_values(self, codes: np.ndarray) -> np.ndarray:
        """Each row's value on each kept axis, float32 (n, k): its first field's level, plus its second's."""
        values = self._byte_levels[self._field, codes[:, self.bytes_]]
        k = len(self.components_)
        axis = values[:, :k]
        axis[:, self.refined_] += values[:, k:]
        return axis

    def _decode_block(self, codes):
        return self._axis_values(codes) @ self.components_ + self.mean_

    def _scoring_queries(self, Q):
        """The queries on the kept axes, their offsets q . mean, and for a few queries their tables, built
        once per call rather than once per block: one per code byte, the sum over its fields of
        q'_axis x level_field(byte value)."""
        projected = kernels.query_products(Q, self.components_)
        offset = kernels.pair_dots(Q, self.mean_).astype(np.float32)
        if len(projected) > self._table_queries() or not len(self.bits_):
            return projected, offset, None
        per_field = projected[:, self._field_axis, None] * self._byte_levels[None]
        tables = np.zeros((len(projected), self.bytes_per_vector(self.dim_), 2**MAX_BITS), dtype=np.float32)
        tables[:, self._group_bytes] = np.add.reduceat(per_field[:, self._by_byte], self._byte_starts, axis=1)
        return projected, offset, tables

    def _table_queries(self) -> int:
        """The most queries a call scores through the byte tables (see TABLE_BYTES); the NumPy fallback's
        tables, a gather per query, stop at kernels.SMALL_BATCH as before."""
        if not kernels.available():
            return kernels.SMALL_BATCH
        return min(kernels.IN_PLACE_QUERIES, max(kernels.SMALL_BATCH, TABLE_BYTES // self.bytes_per_vector(self.dim_)))

    def _score_block(self, prepared, codes):
        projected, offset, tables = prepared
        if tables is not None:
            return kernels.table_scores(tables, codes) + offset[:, None]
        return projected @ self._axis_values(codes).T + offset[:, None]
