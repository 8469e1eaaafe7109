"""rvq: sizes, decoding as the sum of codebook rows, lookup-table scoring, seeds, files, and quality
against pq at the same bytes on the bundled real sample."""

import numpy as np
import pytest

import vectro
from vectro import kernels
from vectro.codecs import additive, make_codec
from vectro.errors import VectroError

pytest.importorskip("faiss")


@pytest.mark.parametrize("spec, size", [("rvq:16", 16), ("rvq:32", 32), ("rvq:32x4", 16), ("rvq:7x4", 4)])
def test_bytes_per_vector_follow_from_the_spec(spec, size):
    assert make_codec(spec).bytes_per_vector(384) == size
    assert make_codec(spec).spec == spec


@pytest.mark.parametrize("spec", ["rvq", "rvq:0", "rvq:8x3", "rvq:x4"])
def test_bad_specs_are_refused(spec):
    with pytest.raises(VectroError, match="sub-quantisers"):
        make_codec(spec)


def test_too_few_training_vectors_is_a_clear_error(sample):
    with pytest.raises(VectroError, match="needs at least 256 training vectors, got 100"):
        make_codec("rvq:8").fit(sample[0][:100])


@pytest.fixture(scope="module")
def fitted_codecs(sample):
    base = sample[0][:3000]
    return base, {spec: make_codec(spec).fit(base, seed=5) for spec in ("rvq:8", "rvq:9x4")}


@pytest.mark.parametrize("spec", ["rvq:8", "rvq:9x4"])
def test_decode_is_the_sum_of_one_row_per_codebook(fitted_codecs, spec):
    base, codecs = fitted_codecs
    codec = codecs[spec]
    codes = codec.encode(base[:50])
    m = codec.codebooks
    if codec.bits == 8:
        rows = codes.astype(np.int64)
    else:  # two codes a byte, the first in the low nibble
        rows = np.stack([codes & 15, codes >> 4], axis=2).reshape(len(codes), -1)[:, :m].astype(np.int64)
    books = codec.codebooks_.astype(np.float64) * float(codec.scale_)
    expected = sum(books[j][rows[:, j]] for j in range(m))
    np.testing.assert_allclose(codec.decode(codes), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("spec", ["rvq:8", "rvq:9x4"])
@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_lookup_table_scores_equal_decode_then_dot(fitted_codecs, spec, backend):
    base, codecs = fitted_codecs
    codec = codecs[spec]
    codes = codec.encode(base)
    with kernels.backend(backend):
        for queries in (base[:3] * 2.5, base[:40]):  # tables below kernels.SMALL_BATCH queries, BLAS above
            expected = queries.astype(np.float64) @ codec.decode(codes).astype(np.float64).T
            np.testing.assert_allclose(codec.score(queries, codes), expected, rtol=1e-4, atol=1e-5)


def test_beam_codes_beat_greedy_codes(fitted_codecs):
    """The beam search finds a closer sum than committing to the nearest row at each step."""
    base, codecs = fitted_codecs
    codec = codecs["rvq:8"]
    X = base[:300]
    books = codec.codebooks_.astype(np.float64) * float(codec.scale_)
    residual, greedy = X.astype(np.float64), np.zeros_like(X, dtype=np.float64)
    for book in books:
        pick = ((residual[:, None, :] - book[None]) ** 2).sum(-1).argmin(axis=1)
        greedy += book[pick]
        residual -= book[pick]
    beam_error = ((codec.decode(codec.encode(X)) - X) ** 2).sum(1).mean()
    greedy_error = ((greedy - X) ** 2).sum(1).mean()
    assert beam_error < greedy_error


def test_same_seed_same_bytes_other_seed_other_codebooks(sample):
    base = sample[0][:1000]
    first = make_codec("rvq:4").fit(base, seed=1)
    again = make_codec("rvq:4").fit(base, seed=1)
    other = make_codec("rvq:4").fit(base, seed=2)
    np.testing.assert_array_equal(first.encode(base), again.encode(base))
    np.testing.assert_array_equal(first.codebooks_, again.codebooks_)
    assert not np.array_equal(first.codebooks_, other.codebooks_)


def test_scale_invariance(sample, monkeypatch):
    """Trained on X / max|X|: 1e6 times the data gives the same error relative to the data, and residual
    training alone the same first codebook times 1e6 (float rounding flips a few near-tied choices, so
    later codebooks, and the rounds that solve for all of them, drift apart)."""
    base = sample[0][:2000]
    big = base * np.float32(1e6)
    small, large = make_codec("rvq:4").fit(base), make_codec("rvq:4").fit(big)
    small_error = ((small.decode(small.encode(base)) - base) ** 2).sum(1).mean()
    large_error = ((large.decode(large.encode(big)) / np.float32(1e6) - base) ** 2).sum(1).mean()
    assert abs(large_error - small_error) < 0.02 * small_error
    monkeypatch.setattr(additive, "refine_rounds", lambda codebooks, bits: 0)
    small, large = make_codec("rvq:4").fit(base), make_codec("rvq:4").fit(big)
    np.testing.assert_allclose(large.codebooks_[0] * large.scale_ / 1e6, small.codebooks_[0] * small.scale_, atol=1e-4)


def test_fit_reports_progress(sample):
    steps = []
    make_codec("rvq:4").fit(sample[0][:2000], progress=lambda done, total: steps.append((done, total)))
    steps_in_all = additive.refine_rounds(4, 8) + 2  # FAISS's residual training, each round, the last encode
    assert steps == [(done, steps_in_all) for done in range(steps_in_all + 1)]


def test_rounds_shrink_as_codebook_rows_grow():
    assert [additive.refine_rounds(m, 8) for m in (4, 16, 32, 48, 64)] == [40, 40, 15, 6, 2]
    assert additive.refine_rounds(32, 4) == 40  # 512 rows of 4-bit codebooks: cheap rounds, up to the most


def _design(values, K):
    """The dense one-hot matrix A (n, M*K) with x_hat = A @ C for codebooks C stacked (M*K, d)."""
    n, M = values.shape
    A = np.zeros((n, M * K))
    A[np.arange(n)[:, None], values + np.arange(M) * K] = 1
    return A


def _ridge_solution(X, A, start, ridge):
    """argmin |X - A C|^2 + ridge |C - start|^2, by lstsq on the stacked system."""
    rows = A.shape[1]
    stacked = np.vstack([A, np.sqrt(ridge) * np.eye(rows)])
    target = np.vstack([X, np.sqrt(ridge) * start])
    return np.linalg.lstsq(stacked, target, rcond=None)[0]


def _problem(seed, n, M, K, d):
    """Random float32 vectors X (n, d), codes (n, M) in [0, K) and codebooks (M, K, d)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    values = rng.integers(0, K, (n, M))
    return X, values, rng.standard_normal((M, K, d)).astype(np.float32)


@pytest.mark.parametrize("cache_rows", [additive.CACHE_ROWS, 64])  # 64: sums over several blocks of rows
def test_refined_codebooks_are_the_least_squares_codebooks_for_the_codes(cache_rows, monkeypatch):
    monkeypatch.setattr(additive, "CACHE_ROWS", cache_rows)
    n, M, K, d = 400, 3, 8, 5
    X, values, codebooks = _problem(3, n, M, K, d)
    values[:, 2] = np.minimum(values[:, 2], K - 2)  # row K-1 of the last codebook holds no vector
    before = codebooks.copy()
    refined = additive.refine_codebooks(X, values, codebooks)
    np.testing.assert_array_equal(codebooks, before)  # the caller's codebooks are left as they are
    ridge = additive.REFINE_RIDGE * n / K
    expected = _ridge_solution(X.astype(np.float64), _design(values, K), before.reshape(M * K, d), ridge)
    np.testing.assert_allclose(refined.reshape(M * K, d), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(refined[2, K - 1], before[2, K - 1])  # an unused row keeps its value
    error = lambda C: ((X - _design(values, K) @ C.reshape(M * K, d)) ** 2).sum()  # noqa: E731
    assert error(refined) < 0.5 * error(before)
    residual = X - additive.sum_of_rows(before, values)  # the fit passes the residual it already has
    np.testing.assert_array_equal(additive.refine_codebooks(X, values, codebooks, residual), refined)


@pytest.mark.parametrize("backend", ["auto", "numpy"])
@pytest.mark.parametrize("cache_rows", [additive.CACHE_ROWS, 7])
def test_sum_of_rows_and_sum_by_row_match_a_loop(cache_rows, backend, monkeypatch):
    monkeypatch.setattr(additive, "CACHE_ROWS", cache_rows)
    n, M, K, d = 50, 3, 5, 4
    X, values, codebooks = _problem(6, n, M, K, d)
    values[:, 0] = np.minimum(values[:, 0], K - 2)  # a row no vector uses sums to zero
    expected_sum = np.zeros((n, d), dtype=np.float32)
    for m in range(M):  # float32, codebook by codebook: both backends give these bits
        expected_sum += codebooks[m][values[:, m]]
    with kernels.backend(backend):
        summed = additive.sum_of_rows(codebooks, values)
    assert summed.dtype == np.float32
    np.testing.assert_array_equal(summed, expected_sum)
    expected_groups = np.array([X[values[:, 0] == k].sum(axis=0) for k in range(K)], dtype=np.float64)
    np.testing.assert_allclose(additive.sum_by_row(X, values[:, 0], K), expected_groups, rtol=1e-5, atol=1e-6)
    assert not additive.sum_by_row(X, values[:, 0], K)[K - 1].any()


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_group_sums_match_a_loop_on_both_backends(backend):
    n, M, K, d = 300, 4, 6, 5
    X, values, _ = _problem(8, n, M, K, d)
    values[:, 1] = np.minimum(values[:, 1], K - 2)  # a row no vector uses sums to zero
    with kernels.backend(backend):
        sums = additive.group_sums(X, values, K)
    expected = np.array([[X[values[:, m] == k].sum(axis=0, dtype=np.float64) for k in range(K)] for m in range(M)])
    assert sums.shape == (M, K, d) and sums.dtype == np.float64
    np.testing.assert_allclose(sums, expected, rtol=1e-5, atol=1e-5)
    assert not sums[1, K - 1].any()


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_pair_counts_are_the_upper_triangle_of_the_design_gram(backend):
    n, M, K = 500, 3, 7
    _, values, _ = _problem(9, n, M, K, 1)
    values[:, 2] = np.minimum(values[:, 2], K - 2)  # a row no vector uses counts nothing
    with kernels.backend(backend):
        counts = additive.pair_counts(values, K)
    A = _design(values, K)
    np.testing.assert_array_equal(counts, np.triu(A.T @ A))  # diagonal blocks: each row's count, on the diagonal
    assert counts[2 * K + K - 1].sum() == 0 and counts.sum() == n * M * (M + 1) / 2


def test_refinement_in_blocks_solves_each_block_given_the_others(monkeypatch):
    """With room for one codebook per solve, each block is the least-squares block given the newest others."""
    monkeypatch.setattr(additive, "REFINE_BLOCK_ROWS", 8)
    n, M, K, d = 300, 3, 8, 4
    X, values, codebooks = _problem(4, n, M, K, d)
    refined = additive.refine_codebooks(X, values, codebooks).astype(np.float64)
    A = _design(values, K)
    others = sum(refined[m][values[:, m]] for m in range(M - 1))  # the last block solved last, given these
    expected = _ridge_solution(X - others, A[:, (M - 1) * K :], codebooks[M - 1], additive.REFINE_RIDGE * n / K)
    np.testing.assert_allclose(refined[M - 1], expected, rtol=1e-4, atol=1e-5)


def test_refinement_rounds_lower_the_error_of_residual_training(sample, monkeypatch):
    """On enough vectors per codebook row (here 4,000 for 16-row codebooks) the rounds lower the error."""
    base = sample[0][:4000]
    refined = make_codec("rvq:8x4").fit(base, seed=5)
    monkeypatch.setattr(additive, "refine_rounds", lambda codebooks, bits: 0)
    residual_only = make_codec("rvq:8x4").fit(base, seed=5)
    error = lambda codec: ((codec.decode(codec.encode(base)) - base) ** 2).sum(1).mean()  # noqa: E731
    assert error(refined) < 0.95 * error(residual_only), (error(refined), error(residual_only))


def test_rounds_never_keep_codebooks_the_beam_encodes_worse(sample, monkeypatch):
    """With few vectors per codebook row (3,000 for 256-row codebooks) the solved codebooks can fit codes the
    beam does not find again: the fit keeps whichever codebooks the beam encodes best, residual training's
    included, so the rounds never raise the error."""
    base = sample[0][:3000]
    refined = make_codec("rvq:8").fit(base, seed=5)
    monkeypatch.setattr(additive, "refine_rounds", lambda codebooks, bits: 0)
    residual_only = make_codec("rvq:8").fit(base, seed=5)
    error = lambda codec: ((codec.decode(codec.encode(base)) - base) ** 2).sum(1).mean()  # noqa: E731
    assert error(refined) <= error(residual_only) * 1.001, (error(refined), error(residual_only))


def test_rounds_that_only_worsen_leave_residual_training_codebooks(sample, monkeypatch):
    """Solves that make the codebooks worse are never kept: the fit ends with residual training's codebooks."""
    base = sample[0][:2000]
    monkeypatch.setattr(additive, "refine_codebooks", lambda X, values, codebooks, residual: codebooks * np.float32(0.5))
    worsened = make_codec("rvq:4").fit(base, seed=5)
    monkeypatch.setattr(additive, "refine_rounds", lambda codebooks, bits: 0)
    residual_only = make_codec("rvq:4").fit(base, seed=5)
    np.testing.assert_array_equal(worsened.codebooks_, residual_only.codebooks_)


def test_round_trip_through_a_vectro_file(fitted_codecs, sample, tmp_path):
    base, codecs = fitted_codecs
    queries = sample[1]
    packed = vectro.compress(base, codecs["rvq:8"])  # fitted: used as it is
    loaded = vectro.load(packed.save(tmp_path / "x.vectro"))
    np.testing.assert_array_equal(loaded.codes, packed.codes)
    np.testing.assert_array_equal(loaded.decompress(), packed.decompress())
    np.testing.assert_array_equal(loaded.score(queries[:3]), packed.score(queries[:3]))
    np.testing.assert_array_equal(loaded.codec.encode(base[:100]), packed.codes[:100])


def _recall(base, queries, packed):
    truth = np.argsort(-(queries.astype(np.float64) @ base.astype(np.float64).T), axis=1, kind="stable")[:, :10]
    decoded = packed.decompress().astype(np.float64)
    scores = queries.astype(np.float64) @ (decoded / np.linalg.norm(decoded, axis=1, keepdims=True)).T
    found = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    return np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])


@pytest.mark.parametrize("rvq, pq", [("rvq:16", "pq:16"), ("rvq:32x4", "pq:32x4")])
def test_recall_above_pq_at_the_same_bytes(sample, compressed_sample, rvq, pq):
    base, queries = sample  # unit rows: cosine = inner product
    assert make_codec(rvq).bytes_per_vector(384) == make_codec(pq).bytes_per_vector(384)
    ours, theirs = _recall(base, queries, compressed_sample(rvq)), _recall(base, queries, compressed_sample(pq))
    assert ours >= theirs + MARGIN[rvq], (ours, theirs)


# measured on the bundled sample (5,000 rows, 200 queries): rvq:16 0.806 vs pq:16 0.6085, rvq:32x4 0.653
# vs pq:32x4 0.5325; the margins sit well under the measured gaps
MARGIN = {"rvq:16": 0.12, "rvq:32x4": 0.04}
