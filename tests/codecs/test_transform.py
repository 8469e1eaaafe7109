"""tc:R: the allocation is optimal, fields stay inside bytes, codes are the nearest levels, scores
match the decoded vectors, and the spectrum pays on real data."""

import itertools

import numpy as np
import pytest

import vectro
from vectro import kernels
from vectro.codecs import make_codec, transform
from vectro.codecs.transform import MAX_AXIS_BITS, MAX_BITS, allocate_bits, bytes_needed, pack_fields
from vectro.errors import VectroError


def test_greedy_allocation_matches_exhaustive_search(rng):
    # errors that shrink by a varying factor per bit (convex), as Lloyd-Max's do
    variances = rng.uniform(0.1, 5, 4)
    errors = variances[:, None] * np.cumprod(np.c_[np.ones(4), rng.uniform(0.15, 0.4, (4, 5))], axis=1)
    for budget in range(1, 13):
        widths = allocate_bits(lambda c, b: errors[c, b] - errors[c, b + 1] if b < 5 else 0.0, budget,
                               np.zeros(4, dtype=np.int64))
        best = min(sum(errors[c, w[c]] for c in range(4)) for w in itertools.product(range(6), repeat=4)
                   if sum(w) == budget)
        assert widths.sum() == budget
        assert sum(errors[c, widths[c]] for c in range(4)) == pytest.approx(best)


def test_allocation_leaves_its_start_alone_and_asks_before_growing():
    start = np.array([1, 0, 2])
    asked = []

    def room(c, width):
        asked.append((c, width))
        return c != 0  # axis 0 may not grow

    widths = allocate_bits(lambda c, b: 10.0 - b - c, 3, start, room)
    assert start.tolist() == [1, 0, 2] and widths[0] == 1 and widths.sum() == 6
    assert asked[0] == (0, 1)


@pytest.mark.parametrize("seed", range(5))
def test_packed_fields_never_cross_or_share_bits(seed):
    widths = np.random.default_rng(seed).integers(0, MAX_BITS + 1, 60)
    byte_of, shift_of = pack_fields(widths)
    counts = np.bincount(widths, minlength=MAX_BITS + 1)
    used = bytes_needed(counts)
    assert used >= -(-int(widths.sum()) // 8)
    taken = np.zeros((used, MAX_BITS), dtype=int)
    for c in np.flatnonzero(widths):
        assert shift_of[c] + widths[c] <= MAX_BITS and byte_of[c] < used
        taken[byte_of[c], shift_of[c] : shift_of[c] + widths[c]] += 1
    assert taken.max() == 1 and taken.sum() == widths.sum()


@pytest.fixture(scope="module")
def fitted(sample):
    base, queries = sample
    return make_codec("tc:2.5").fit(base), base, queries


def test_fit_spends_every_bit_in_whole_fields(fitted):
    codec, base, _ = fitted
    width = codec.bytes_per_vector(base.shape[1])
    assert width == 120 and int(codec.bits_.astype(int).sum()) == 8 * width
    assert (codec.shifts_.astype(int) + codec.bits_).max() <= MAX_BITS
    # strong axes get more bits: the first principal axes hold the widest fields
    order = np.argsort(-np.var((base - codec.mean_) @ codec.components_.T, axis=0))
    assert codec.bits_[order[:10]].mean() > codec.bits_[order[-10:]].mean() + 2


def test_codes_hold_each_axis_nearest_level(fitted):
    codec, base, _ = fitted
    X = base[:200]
    codes = codec.encode(X)
    Y = (X.astype(np.float64) - codec.mean_) @ codec.components_.T.astype(np.float64)
    first = np.concatenate(([0], np.cumsum(2 ** codec.bits_.astype(int))))  # axis c's levels: first[c]..first[c+1]
    for c in range(len(codec.bits_)):
        levels = codec.levels_[first[c] : first[c + 1]].astype(np.float64)
        nearest = np.argmin(np.abs(Y[:, c, None] - levels[None]), axis=1)
        stored = (codes[:, codec.bytes_[c]] >> codec.shifts_[c]) & ((1 << int(codec.bits_[c])) - 1)
        agree = np.mean(stored == nearest)
        assert agree >= 0.995, (c, agree)  # float32 rounding may flip a value on a boundary
    stored = (codes[:, codec.bytes_] >> codec.shifts_) & ((1 << codec.bits_.astype(int)) - 1)
    expected = codec.mean_ + codec.levels_[first[:-1] + stored] @ codec.components_
    np.testing.assert_allclose(codec.decode(codes), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("nq", [1, 3, 40])  # table lookups for a few queries, one BLAS product for many
def test_scores_are_inner_products_with_the_decoded_vectors(fitted, nq):
    codec, base, queries = fitted
    codes = codec.encode(base[:500])
    expected = queries[:nq].astype(np.float64) @ codec.decode(codes).T.astype(np.float64)
    np.testing.assert_allclose(codec.inner_products(queries[:nq], codes), expected, rtol=1e-4, atol=1e-5)


def test_batches_up_to_their_table_cap_are_scored_without_decoding(fitted, monkeypatch):
    """Up to TABLE_BYTES / code bytes queries (25 for tc:2.5's 120 B at d = 384) go through the byte tables;
    one more decodes each block for one BLAS product. Both give the decoded vectors' inner products."""
    codec, base, queries = fitted
    codes = codec.encode(base[:500])
    decoded = codec.decode(codes).astype(np.float64)
    cap = codec._table_queries()
    assert cap == (25 if kernels.available() else kernels.SMALL_BATCH)  # 3072 // 120 B
    decodes, plain = [], type(codec)._axis_values  # the decoded axis values the BLAS product takes
    monkeypatch.setattr(type(codec), "_axis_values", lambda self, c: decodes.append(len(c)) or plain(self, c))
    for nq in (cap, cap + 1):
        decodes.clear()
        expected = queries[:nq].astype(np.float64) @ decoded.T
        np.testing.assert_allclose(codec.inner_products(queries[:nq], codes), expected, rtol=1e-4, atol=1e-5)
        assert bool(decodes) == (nq > cap), f"nq={nq}"


def test_following_the_spectrum_beats_the_random_rotation_at_equal_bytes(sample):
    base, _ = sample

    def error(spec):
        packed = vectro.compress(base, spec)
        diff = packed.decompress().astype(np.float64) - base
        return np.mean(np.sum(diff * diff, axis=1) / np.sum(base.astype(np.float64) ** 2, axis=1)), packed

    for bits in (2, 4):
        mine, packed = error(f"tc:{bits}")
        theirs, rotated = error(f"rq:{bits}")
        assert packed.bytes_per_vector <= rotated.bytes_per_vector and mine < 0.7 * theirs, (bits, mine, theirs)


def test_white_data_gets_even_bits(rng):
    X = rng.standard_normal((4000, 32)).astype(np.float32)
    codec = make_codec("tc:3").fit(X)
    assert codec.bits_.min() >= 2 and codec.bits_.max() <= 4 and int(codec.bits_.astype(int).sum()) == 96


@pytest.mark.parametrize("spec", ["tc:2", "tc:4", "tc:8"])
def test_rank_deficient_data_spends_no_bit_on_empty_axes(rng, spec):
    X = (rng.standard_normal((300, 3)) @ rng.standard_normal((3, 12))).astype(np.float32)  # rank 3 in 12 dims
    codec = make_codec(spec).fit(X)
    assert len(codec.components_) == 3
    decoded = codec.decode(codec.encode(X))
    assert np.mean(np.sum((decoded - X) ** 2, axis=1)) < 0.05 * np.mean(np.sum(X**2, axis=1))


def test_constant_and_zero_columns_fit(rng):
    row = rng.standard_normal(16).astype(np.float32)
    constant = make_codec("tc:2").fit(np.tile(row, (50, 1)))
    assert len(constant.components_) == 0 and len(constant.bits_) == 0
    np.testing.assert_allclose(constant.decode(constant.encode(row[None])), row[None], atol=1e-6)
    X = np.zeros((300, 16), dtype=np.float32)
    X[:, :4] = rng.standard_normal((300, 4))  # 12 columns exactly zero
    codec = make_codec("tc:3").fit(X)
    assert len(codec.components_) == 4
    scores = codec.inner_products(X[:3], codec.encode(X))
    np.testing.assert_allclose(scores, X[:3] @ codec.decode(codec.encode(X)).T, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("spec", ["tc", "tc:0", "tc:16.5", "tc:two"])
def test_rate_must_be_between_zero_and_sixteen_bits(spec):
    with pytest.raises(VectroError, match="bits per dimension"):
        make_codec(spec)


def test_fractional_rates_round_up_to_whole_bytes():
    assert make_codec("tc:2.5").bytes_per_vector(384) == 120
    assert make_codec("tc:1.5").bytes_per_vector(100) == 19
    assert make_codec("tc:0.01").bytes_per_vector(10) == 1
    assert make_codec("tc:0.5").bytes_per_vector(17) == 2  # ceil(8.5 / 8), never fewer bits than asked


@pytest.fixture(scope="module")
def steep():
    """Data whose axes' spread falls by sqrt(2) per axis, and tc:8 fitted on it: its strong axes pass 8 bits."""
    X = (np.random.default_rng(7).standard_normal((6000, 16)) * 2.0 ** (-np.arange(16) / 2)).astype(np.float32)
    return make_codec("tc:8").fit(X), X


def test_axes_past_eight_bits_take_a_second_field(steep):
    codec, X = steep
    k = len(codec.components_)
    axis_bits = codec.bits_[:k].astype(int)
    axis_bits[codec.refined_] += codec.bits_[k:]
    assert len(codec.refined_) >= 2 and axis_bits.max() <= MAX_AXIS_BITS
    assert np.all(codec.bits_[k:] >= 1) and np.all(codec.bits_[codec.refined_] == MAX_BITS)
    assert (codec.shifts_.astype(int) + codec.bits_).max() <= MAX_BITS
    assert int(codec.bits_.astype(int).sum()) == 8 * codec.bytes_per_vector(16) == 128
    # the strongest axis gets the most bits
    spread = np.var((X - codec.mean_) @ codec.components_.T, axis=0)
    assert axis_bits[np.argmax(spread)] == axis_bits.max() > MAX_BITS


def test_second_fields_hold_the_nearest_level_to_what_the_first_left(steep):
    codec, X = steep
    k = len(codec.components_)
    codes = codec.encode(X[:500])
    Y = (X[:500].astype(np.float64) - codec.mean_) @ codec.components_.T.astype(np.float64)
    first = np.concatenate(([0], np.cumsum(2 ** codec.bits_.astype(int))))  # field f's levels: first[f]..first[f+1]
    stored = (codes[:, codec.bytes_] >> codec.shifts_) & ((1 << codec.bits_.astype(int)) - 1)
    level = codec.levels_[first[:-1] + stored].astype(np.float64)  # (n, fields)
    decoded_axes = level[:, :k].copy()
    for j, c in enumerate(codec.refined_):
        coarse = codec.levels_[first[c] : first[c + 1]].astype(np.float64)
        fine = codec.levels_[first[k + j] : first[k + j + 1]].astype(np.float64)
        assert np.mean(stored[:, c] == np.argmin(np.abs(Y[:, c, None] - coarse), axis=1)) >= 0.995
        left = Y[:, c] - level[:, c]
        assert np.mean(stored[:, k + j] == np.argmin(np.abs(left[:, None] - fine), axis=1)) >= 0.995
        before, after = np.mean(left**2), np.mean((left - level[:, k + j]) ** 2)
        assert after < 0.75 * before, (c, before, after)  # the second field cuts what the 8-bit levels left
        decoded_axes[:, c] += level[:, k + j]
    np.testing.assert_allclose(codec.decode(codes), codec.mean_ + decoded_axes @ codec.components_,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("nq", [1, 40])
def test_refined_axes_score_as_their_decoded_vectors(steep, nq):
    codec, X = steep
    codes = codec.encode(X[:300])
    expected = X[-nq:].astype(np.float64) @ codec.decode(codes).T.astype(np.float64)
    np.testing.assert_allclose(codec.inner_products(X[-nq:], codes), expected, rtol=1e-4, atol=1e-6)


def test_a_state_without_refined_axes_still_loads(fitted):
    codec, base, _ = fitted
    state = codec.state()
    del state["arrays"]["refined_"]  # as tc wrote it before axes could pass 8 bits
    loaded = type(codec).from_state(state)
    assert loaded.refined_.size == 0
    np.testing.assert_array_equal(loaded.encode(base[:50]), codec.encode(base[:50]))


def test_an_inconsistent_state_is_refused(steep):
    codec, _ = steep
    for name, broken in [("refined_", lambda a: np.r_[a, a[:1]]),  # an axis refined twice
                         ("refined_", lambda a: a[:-1]),  # a second field with no axis
                         ("bits_", lambda a: np.r_[a[:-1], a[-1:] + 8])]:  # a field past its byte
        state = codec.state()
        state["arrays"] = {**state["arrays"], name: broken(state["arrays"][name])}
        with pytest.raises(VectroError, match="inconsistent"):
            type(codec).from_state(state)


def test_sixteen_bits_refine_every_axis(rng):
    X = rng.standard_normal((3000, 6)).astype(np.float32)
    codec = make_codec("tc:16").fit(X)
    assert codec.bytes_per_vector(6) == 12 and len(codec.refined_) == 6 and np.all(codec.bits_ == MAX_BITS)
    codes = codec.encode(X)
    error = np.mean(np.sum((codec.decode(codes) - X) ** 2, axis=1)) / 6
    assert error < 1e-6  # 16 bits an axis: a 2^-16-wide grid would leave about 4e-10
    np.testing.assert_allclose(codec.inner_products(X[:3], codes), X[:3] @ codec.decode(codes).T, rtol=1e-5, atol=1e-5)


def test_second_fields_pay_on_real_data(sample, monkeypatch):
    base, _ = sample

    def error(spec):
        diff = vectro.compress(base, spec).decompress().astype(np.float64) - base
        return np.mean(np.sum(diff * diff, axis=1) / np.sum(base.astype(np.float64) ** 2, axis=1))

    refined, int8 = error("tc:8"), error("int8")
    monkeypatch.setattr(transform, "MAX_AXIS_BITS", MAX_BITS)  # tc as it was: no axis past 8 bits
    capped = error("tc:8")
    assert refined < 0.75 * capped and refined < 0.4 * int8, (refined, capped, int8)
