"""Residual vector quantisation `rvq:M` / `rvq:Mx4`: an additive code, M codebooks summed.

A vector is approximated by the sum of one row from each of M learned codebooks of 2**B rows
(B = 8, or 4 with `x4`): x_hat = C_1[i_1] + ... + C_M[i_M], each codebook spanning all d
dimensions (unlike pq's sub-spaces). The codebooks are first trained one after the other on
what the previous ones left (k-means on the residuals of a beam of `TRAIN_BEAM` partial sums,
FAISS's `ResidualQuantizer`), and a vector's codes come from a beam search: it keeps the best
`ENCODE_BEAM` partial sums at each step instead of committing greedily.

Residual training fits each codebook only to what the earlier ones left, so the fit then
alternates, as the additive quantisers after it do (AQ, LSQ): encode the training vectors (half
of them a round) with the beam, then solve for the codebooks that minimise the squared error of
those codes, all codebooks jointly (least squares; in blocks of `REFINE_BLOCK_ROWS` codebook rows when M x 2**B
is larger). The codebooks whose training codes reconstruct best are kept, residual training's
included (its codes greedy, `START_BEAM`; the rounds' from the beam `REFINE_BEAM`).

Inner products with a float query come from per-query tables of q . C_m[k], one lookup per code
byte, as for pq.

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

# rows per FAISS encode call (every call the same shape: see _encode_block): rvq:32 encoded 50,000 x 384
# in 8.6 s in calls of 256 rows, 15 s in calls of 64 (scratch)
ENCODE_ROWS = 256
# beam widths: wider finds better codes at a cost about linear in the width. Residual training's beam
# (FAISS's RQ trains each codebook on the residuals of every beam entry) with RVQ_POINTS_PER_CENTROID
# makes codebooks that hold up on vectors outside the fit: fitted on 20,000 public vectors, rvq:32's
# error on 10,000 others was 0.168 per vector with beam 1 and 64 points a row (the rounds below did
# not lower it), 0.150 with beam 4 and 256; fitted on 45,000, 0.129 and 0.121 on 5,000 others. On
# the 50,000 it fits, rvq:32 then ended at 4,583 of squared error and recall@10 0.8484, against 4,954
# and 0.8376, in the same 98 s (fewer rounds: 15, not 20; scratch). Encoding's beam picks each
# vector's codes
TRAIN_BEAM = 4
ENCODE_BEAM = 16
# the beam of the training encodes between least-squares rounds (the final codes use ENCODE_BEAM). Most of
# an encode is FAISS's product of the vectors with every codebook row, whatever the beam (rvq:32 on
# 50,000 x 384: beam 1 2.5 s, beam 4 3.7 s, beam 8 6 s), so a narrower beam buys few rounds; beam 4
# reached a lower error than beam 8 in the same time (scratch)
REFINE_BEAM = 4
# the beam of the first encode, of all the training vectors, before the rounds: a greedy start cost rvq:32
# 1.6 s less and its fit ended with less error (4,954 against 4,986 after 20 rounds, scratch)
START_BEAM = 1
# rows per FAISS call in those encodes: larger batches run 1.6x faster, and the training encodes need
# no agreement with compress's blocks
REFINE_BATCH = 1024
# k-means per codebook (FAISS's RQ defaults): fewer iterations than pq's, since each of the M k-means runs
# over all d dimensions on the residuals of every beam entry (pq's settings take minutes on two cores)
RVQ_POINTS_PER_CENTROID = 256
RVQ_KMEANS_ITERATIONS = 10
# rounds of (least-squares codebooks, encode a part of the vectors with the beam) after residual
# training; the codebooks whose codes reconstruct best are kept. Each round re-encodes one of
# REFINE_PARTS interleaved parts of the training vectors (the others keep the codes of earlier
# codebooks, which the solve still fits): at the same time spent, rounds that re-encode half the
# vectors left less error than rounds that re-encode all of them or a quarter (rvq:32 on the public
# set after 90 s of rounds, scratch: half 4,955 of squared error, recall@10 0.8396; a quarter 5,124,
# 0.8362). The error kept falling for as many rounds as were tried (27 full rounds, 200 s: recall@10
# 0.8475), so the fit spends what it may, by a cost model: with M codebooks of K rows, a round costs
# about M x K (the encode's products of the vectors with every codebook row, the solve's blocks) times
# 1 + M / REFINE_CROSS_CODEBOOKS (the beam's steps, which add the products between codebooks, grow as
# M^2), and residual training with the first encode cost REFINE_START_ROUNDS rounds' M x K. A fit
# gets REFINE_WORK of M x K x rounds (rvq:32 on 50,000 x 384, scratch: residual training and the first
# encode 38.1 s, 4.0 s a round; rvq:48 with TRAIN_BEAM 1: 20.1 s and 6.93 s a round): rvq:16 40 rounds,
# rvq:32 15, rvq:48 6, rvq:64 2, each fit about 100 s there.
REFINE_PARTS = 2
REFINE_WORK = 240_000
REFINE_START_ROUNDS = 11
REFINE_CROSS_CODEBOOKS = 150
REFINE_ROUNDS = (2, 40)
# each round's codebooks step on past the solve by this share of the step from the round before (heavy-ball
# momentum): the rounds creep along a valley, codes and codebooks moving together a little each round. 0.5
# took rvq:32's rounds from 5,259 to 5,204 of squared error after 14 rounds; 1.0 diverged (scratch)
REFINE_MOMENTUM = 0.5
# codebook rows solved for at once: a (4096 x 4096) float64 system, 128 MiB, by Cholesky (the counts
# plus the ridge are positive definite: half LU's work; rvq:32's solves took 2 s a round, 4 s by LU). Blocks of
# 2,048 rows solve faster, but left 0.3% more error after a round and cost rvq:32 0.008 of raw-IP
# recall@10 in a scratch run. float32 solves save 0.5 s a round but moved recall by up to 0.007 either
# way (rvq:16 -0.007; rvq:32 +0.005 after 9 rounds).
REFINE_BLOCK_ROWS = 4096
# ridge weight (per codebook row, in units of the mean count of vectors per row) that holds a row no
# training vector uses, or one the others nearly determine, at its previous value
REFINE_RIDGE = 1e-3
# training vectors the rounds use at most (a seeded sample beyond): their encodes dominate the fit.
# compress fits on at most 100,000 rows; this bounds a direct fit on more. (A 32,768-row sample of
# the public 50,000 cost rvq:16 0.01 of recall@10 in a scratch run, so the bound sits well above
# compress's sample.)
REFINE_MAX_ROWS = 131_072
# rows summed at once by sum_of_rows and sum_by_row: a 4,096 x 384 float32 block is 6 MiB
CACHE_ROWS = 4096


def refine_codebooks(X: np.ndarray, values: np.ndarray, codebooks: np.ndarray,
                     residual: np.ndarray | None = None) -> np.ndarray:
    """The codebooks that minimise sum_i |x_i - sum_m C_m[v_im]|^2 for fixed codes.

    X: float32 (n, d); values: (n, M) the row of each codebook; codebooks: (M, K, d), left as they
    are; residual: X minus what the codebooks make of the codes, where the caller has it (then
    overwritten). Codebooks are solved for jointly in blocks of REFINE_BLOCK_ROWS // K, the others held at
    their newest values (all M at once when M * K <= REFINE_BLOCK_ROWS). Returns float32 (M, K, d).

    A block's normal equations (G + ridge) C = S(target) + ridge C_old, with G the counts of row
    pairs and S(target) the sums of what the block should add up to per row, are solved for the
    step from the old rows instead: (G + ridge) (C - C_old) = S(residual), the residual being what
    all the codebooks leave. It needs no per-block target, only one pass of sums over it."""
    M, K, d = codebooks.shape
    linalg = require("scipy.linalg", "ann")
    values = values.astype(np.intp)
    new = codebooks.astype(np.float32)  # a copy: the caller's codebooks stay as they are
    if residual is None:
        residual = X - sum_of_rows(new, values)
    ridge = REFINE_RIDGE * len(X) / K
    per_block = max(1, REFINE_BLOCK_ROWS // K)
    for first in range(0, M, per_block):
        block = slice(first, min(M, first + per_block))
        codes = values[:, block]
        count = codes.shape[1]
        rows = count * K
        gram = pair_counts(codes, K)  # its upper triangle: all that the Cholesky solve reads
        gram[np.diag_indices(rows)] += ridge
        factor = linalg.cho_factor(gram, overwrite_a=True, check_finite=False)
        sums = group_sums(residual, codes, K).reshape(rows, d)
        step = linalg.cho_solve(factor, sums, overwrite_b=True, check_finite=False).reshape(count, K, d)
        solved = (new[block] + step).astype(np.float32)
        residual -= sum_of_rows(solved - new[block], codes)  # the next block's residual, with these rows
        new[block] = solved
    return new


def pair_counts(values: np.ndarray, K: int) -> np.ndarray:
    """float64 (M * K, M * K), upper triangle: how many vectors use row j of codebook a and row k of codebook b
    (a <= b), at [a * K + j, b * K + k] (values: (n, M))."""
    counts = kernels.pair_counts(values, K)
    if counts is not None:
        return counts
    count = values.shape[1]
    counts = np.zeros((count * K, count * K))
    for a in range(count):
        counts[a * K : (a + 1) * K, a * K : (a + 1) * K] = np.diag(np.bincount(values[:, a], minlength=K))
        for b in range(a + 1, count):
            pairs = np.bincount(values[:, a] * K + values[:, b], minlength=K * K)
            counts[a * K : (a + 1) * K, b * K : (b + 1) * K] = pairs.reshape(K, K)
    return counts


def group_sums(X: np.ndarray, values: np.ndarray, K: int) -> np.ndarray:
    """float64 (M, K, d): entry [m, k] sums the vectors of X (n, d) whose row of codebook m is k (values: (n, M))."""
    sums = kernels.group_sums(X, values, K)
    return sums if sums is not None else np.stack([sum_by_row(X, values[:, m], K) for m in range(values.shape[1])])


def refine_rounds(codebooks: int, bits: int) -> int:
    """Least-squares rounds for M = `codebooks` codebooks of 2**bits rows (see REFINE_WORK)."""
    fewest, most = REFINE_ROUNDS
    rounds = (REFINE_WORK / (codebooks * 2**bits) - REFINE_START_ROUNDS) / (1 + codebooks / REFINE_CROSS_CODEBOOKS)
    return min(most, max(fewest, int(rounds)))


def sum_of_rows(codebooks: np.ndarray, values: np.ndarray) -> np.ndarray:
    """sum_m codebooks[m][values[:, m]]: float32 (n, d) for codebooks (M, K, d) and values (n, M).

    Summed in blocks of CACHE_ROWS rows, so that each block's sum stays in cache while the M rows
    are added to it (2.7x faster than whole-array adds for rvq:32 on 50,000 x 384); compiled where numba is
    (the same float32 bits)."""
    out = kernels.sum_of_rows(codebooks, values)
    if out is not None:
        return out
    out = np.zeros((len(values), codebooks.shape[2]), dtype=np.float32)
    for start in range(0, len(values), CACHE_ROWS):
        block, rows = out[start : start + CACHE_ROWS], values[start : start + CACHE_ROWS]
        for m, codebook in enumerate(codebooks):
            block += codebook[rows[:, m]]
    return out


def sum_by_row(X: np.ndarray, rows: np.ndarray, K: int) -> np.ndarray:
    """float64 (K, d): row k is the sum of the vectors of X (n, d) whose codebook row is k (rows: (n,)): the
    NumPy path of group_sums, sorted and reduced in blocks of CACHE_ROWS vectors (a third faster than one
    sort of all of them)."""
    out = np.zeros((K, X.shape[1]))
    for start in range(0, len(X), CACHE_ROWS):
        block, ids = X[start : start + CACHE_ROWS], rows[start : start + CACHE_ROWS]
        order = np.argsort(ids, kind="stable")
        counts = np.bincount(ids, minlength=K)
        used = np.flatnonzero(counts)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))[used]
        out[used] += np.add.reduceat(block[order], starts, axis=0)
    return out


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
        rounds = refine_rounds(self.codebooks, self.bits)
        steps = rounds + 2
        progress(0, steps)
        self.scale_ = np.asarray(_unit_scale(X), dtype=np.float32)  # k-means on X / scale cannot overflow
        rq = faiss.ResidualQuantizer(X.shape[1], self.codebooks, self.bits)
        rq.max_beam_size = TRAIN_BEAM
        # plain k-means (FAISS's default progressive-dimension k-means is many times slower)
        rq.train_type = faiss.ResidualQuantizer.Train_default
        rq.cp.seed, rq.cp.niter = self._seed, RVQ_KMEANS_ITERATIONS
        rq.cp.max_points_per_centroid, rq.cp.min_points_per_centroid = RVQ_POINTS_PER_CENTROID, 1
        scaled = np.ascontiguousarray(X / self.scale_, dtype=np.float32)
        rq.train(scaled)
        progress(1, steps)
        self.codebooks_ = faiss.vector_to_array(rq.codebooks).reshape(self.codebooks, 2**self.bits, -1)
        if len(X) > REFINE_MAX_ROWS:
            rows = np.sort(np.random.default_rng(self._seed).choice(len(X), REFINE_MAX_ROWS, replace=False))
            X, scaled = X[rows], scaled[rows]
        # Each round solves for the codebooks of the codes held, steps on by the momentum, and the beam then
        # encodes one part of the vectors with them. Neither the momentum nor the beam promises less error
        # than the round before, so the codebooks kept are those whose codes left the least.
        values = self._values(self._beam_codes(X, START_BEAM, REFINE_BATCH))
        best, best_error = self.codebooks_, np.inf
        for done in range(rounds + 1):
            residual = scaled - sum_of_rows(self.codebooks_, values)
            error = float(np.square(residual).sum())
            if error < best_error:
                best, best_error = self.codebooks_, error
            progress(done + 2, steps)
            if done == rounds:
                break
            solved = refine_codebooks(scaled, values, self.codebooks_, residual)
            self.codebooks_ = solved + REFINE_MOMENTUM * (solved - self.codebooks_) if done else solved
            self._encoder = None
            part = slice(done % REFINE_PARTS, None, REFINE_PARTS)
            values[part] = self._values(self._beam_codes(X[part], REFINE_BEAM, REFINE_BATCH))
        self.codebooks_ = best
        self._encoder = None

    def _load_state(self, dim, arrays):
        super()._load_state(dim, arrays)
        self._encoder = None

    def _faiss_encoder(self, beam: int = ENCODE_BEAM):
        """A FAISS ResidualQuantizer holding these codebooks and searching with `beam`, built once per
        codebooks and beam."""
        if getattr(self, "_encoder", None) is None or self._encoder.max_beam_size != beam:
            faiss = require("faiss", "ann")
            m, k, d = self.codebooks_.shape
            rq = faiss.ResidualQuantizer(d, m, self.bits)
            faiss.copy_array_to_vector(np.ascontiguousarray(self.codebooks_, dtype=np.float32).ravel(), rq.codebooks)
            rq.is_trained = True
            rq.max_beam_size = beam
            rq.use_beam_LUT = 1  # beam steps from precomputed codebook products: far fewer flops
            rq.compute_codebook_tables()
            self._encoder = rq
        return self._encoder

    # ----- encode / decode / score ------------------------------------------------------------
    def _encode_block(self, X):
        # The beam search compares sums that BLAS rounds by the batch's shape and by a row's place in it,
        # and near-ties flip: FAISS always gets ENCODE_ROWS-row batches, and blocks that start at a
        # multiple of ENCODE_ROWS (batch_rows: compress aligns its blocks) give each row its whole-array code.
        return self._beam_codes(X, ENCODE_BEAM, ENCODE_ROWS)

    def _beam_codes(self, X, beam: int, batch: int) -> np.ndarray:
        """FAISS's codes for float32 X (n, d) with `beam`, in `batch`-row calls (the last padded)."""
        rq = self._faiss_encoder(beam)
        n = len(X)
        padded = np.empty((-(-n // batch) * batch, X.shape[1]), dtype=np.float32)
        np.divide(X, self.scale_, out=padded[:n])
        padded[n:] = padded[n - 1] if n else 0
        codes = [rq.compute_codes(padded[i : i + batch]) for i in range(0, len(padded), batch)]
        # FAISS packs 4-bit codes first in the low nibble, as scalar.pack_bits does
        return np.concatenate(codes)[:n] if codes else np.empty((0, self.bytes_per_vector(X.shape[1])), np.uint8)

    def _values(self, codes: np.ndarray) -> np.ndarray:
        """The codebook row of each codebook: uint8 (n, M)."""
        return codes if self.bits == 8 else unpack_bits(codes, 4, self.codebooks)

    def _decode_block(self, codes):
        return sum_of_rows(self.codebooks_, self._values(codes)) * self.scale_

    def _score_block(self, Q, codes):
        if len(Q) > kernels.SMALL_BATCH:
            return super()._score_block(Q, codes)
        tables = np.einsum("qd,mkd->qmk", Q * self.scale_, self.codebooks_)  # (nq, M, 2**B): q . C_m[k]
        if self.bits == 4:
            tables = byte_tables(tables)
        return kernels.table_scores(np.ascontiguousarray(tables, dtype=np.float32), codes)


__all__ = ["ResidualVectorQuantizer"]
