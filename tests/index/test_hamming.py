"""Hamming search on binary codes: the popcount kernels and Index(codec="binary", metric="hamming")."""

import contextlib

import numpy as np
import pytest

import vectro
from vectro import kernels
from vectro.errors import VectroError

needs_numba = pytest.mark.skipif(not kernels.available(), reason="numba not installed")
BACKENDS = ["auto", pytest.param("numpy", marks=needs_numba)]  # "auto" is numba where it is installed


def reference_distances(query_codes, codes):
    """Independent float64 reference: unpack every bit and count the differing ones, (nq, n)."""
    q = np.unpackbits(query_codes, axis=1).astype(np.float64)
    x = np.unpackbits(codes, axis=1).astype(np.float64)
    return np.abs(q[:, None, :] - x[None, :, :]).sum(axis=2)


def reference_top_k(distances, k, allowed=None):
    """Rows (nq, k) by distance, then by row (lower first); -1 beyond the allowed rows."""
    if allowed is not None:
        distances = np.where(allowed, distances, np.inf)
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    best = np.take_along_axis(distances, order, axis=1)
    rows = np.where(np.isfinite(best), order, -1)
    pad = k - rows.shape[1]
    return (np.hstack([rows, np.full((len(rows), pad), -1)]),
            np.hstack([np.where(np.isfinite(best), best, -1), np.full((len(rows), pad), -1)]))


@pytest.mark.parametrize("width", [1, 6, 13, 48, 64])
@pytest.mark.parametrize("backend", BACKENDS)
def test_hamming_distances_match_unpacked_bits(rng, width, backend):
    codes = rng.integers(0, 256, (500, width), dtype=np.uint8)
    query_codes = rng.integers(0, 256, (7, width), dtype=np.uint8)
    with kernels.backend(backend):
        got = kernels.hamming(query_codes, codes)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, reference_distances(query_codes, codes))


@pytest.mark.parametrize("nq", [1, 3, 40])  # one query and a few split the rows, a batch splits the queries
@pytest.mark.parametrize("width", [2, 13, 48])
@pytest.mark.parametrize("backend", BACKENDS)
def test_hamming_top_k_is_exact_with_ties_to_the_lower_row(rng, nq, width, backend):
    # few distinct codes: most distances tie, so only the row order decides between them
    distinct = rng.integers(0, 256, (12, width), dtype=np.uint8)
    codes = distinct[rng.integers(0, len(distinct), 9000)]
    query_codes = rng.integers(0, 256, (nq, width), dtype=np.uint8)
    allowed = rng.random(len(codes)) < 0.3
    distances = reference_distances(query_codes, codes)
    for k, mask in [(10, None), (57, allowed), (1, None)]:
        with kernels.backend(backend):
            rows, got = kernels.hamming_top_k(query_codes, codes, k, mask)
        expected_rows, expected = reference_top_k(distances, k, mask)
        np.testing.assert_array_equal(rows, expected_rows)
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hamming_top_k_pads_when_fewer_rows_than_k(rng, backend):
    codes = rng.integers(0, 256, (5, 8), dtype=np.uint8)
    allowed = np.array([True, False, True, False, False])
    with kernels.backend(backend):
        rows, distances = kernels.hamming_top_k(codes[:2], codes, 4, allowed)
    expected_rows, expected = reference_top_k(reference_distances(codes[:2], codes), 4, allowed)
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_array_equal(distances, expected)
    assert (rows[:, 2:] == -1).all() and (distances[:, 2:] == -1).all()


@needs_numba
def test_numba_and_numpy_top_k_agree_on_a_large_scan(rng):
    codes = rng.integers(0, 256, (60_000, 48), dtype=np.uint8)
    query_codes = codes[rng.integers(0, len(codes), 9)] ^ rng.integers(0, 4, (9, 48), dtype=np.uint8)
    fast = kernels.hamming_top_k(query_codes, codes, 25)
    with kernels.backend("numpy"):
        slow = kernels.hamming_top_k(query_codes, codes, 25)
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[1], slow[1])


def sign_bits(X):
    return np.packbits(np.asarray(X) > 0, axis=1, bitorder="little")


@pytest.mark.parametrize("backend", BACKENDS)
def test_index_hamming_search_equals_brute_force(backend):
    # d = 12: distances 0..12, so many ties; they go to the row added first
    X = vectro.bench.clustered_vectors(3000, 12, seed=5)
    Q = vectro.bench.clustered_vectors(30, 12, seed=6)
    index = vectro.Index(12, codec="binary", metric="hamming")
    index.add(X, ids=np.arange(len(X)) * 10)
    expected_rows, expected = reference_top_k(reference_distances(sign_bits(Q), sign_bits(X)), 10)
    with kernels.backend(backend):
        ids, scores = index.search(Q, k=10)
        one_ids, one_scores = index.search(Q[3], k=10)
    np.testing.assert_array_equal(ids, expected_rows * 10)
    np.testing.assert_array_equal(scores, -expected)  # score = minus the distance: higher is better
    np.testing.assert_array_equal(one_ids, ids[3])
    np.testing.assert_array_equal(one_scores, scores[3])


def test_index_hamming_filters_removals_and_save_load(tmp_path):
    X = vectro.bench.clustered_vectors(2000, 40, seed=8)
    Q = vectro.bench.clustered_vectors(5, 40, seed=9)
    index = vectro.Index(40, codec="binary", metric="hamming")
    index.add(X)
    index.remove(np.arange(0, 2000, 3))
    allow = np.arange(1, 2000, 2)
    allowed = np.zeros(len(X), dtype=bool)
    allowed[allow] = True
    allowed[np.arange(0, 2000, 3)] = False
    expected_rows, expected = reference_top_k(reference_distances(sign_bits(Q), sign_bits(X)), 15, allowed)
    ids, scores = index.search(Q, k=15, filter=allow)
    np.testing.assert_array_equal(ids, expected_rows)
    np.testing.assert_array_equal(scores, -expected)
    loaded = vectro.Index.load(index.save(tmp_path / "h.vxi"))
    assert loaded.metric == "hamming"
    np.testing.assert_array_equal(loaded.search(Q, k=15, filter=allow)[0], ids)
    ids, scores = loaded.search(Q[:1], k=3000)  # more than the live rows: padded
    live = len(X) - len(range(0, 2000, 3))
    assert (ids[0, :live] >= 0).all() and (ids[0, live:] == -1).all() and np.isneginf(scores[0, live:]).all()


def test_reranked_hamming_index_rescores_the_hamming_candidates_by_cosine():
    X = vectro.bench.clustered_vectors(2000, 64, seed=10)
    Q = vectro.bench.clustered_vectors(12, 64, seed=11)
    index = vectro.Index(64, codec="binary", metric="hamming", rerank="float32")
    index.add(X)
    ids, scores = index.search(Q, k=5, oversampling=8)
    candidates, _ = reference_top_k(reference_distances(sign_bits(Q), sign_bits(X)), 40)
    unit = X.astype(np.float64) / np.linalg.norm(X, axis=1, keepdims=True)
    q = Q.astype(np.float64) / np.linalg.norm(Q, axis=1, keepdims=True)
    cosine = np.einsum("qcd,qd->qc", unit[candidates], q)
    order = np.argsort(-cosine, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(ids, np.take_along_axis(candidates, order, axis=1))
    np.testing.assert_allclose(scores, np.take_along_axis(cosine, order, axis=1), atol=1e-5)


def test_hamming_then_rerank_recall_on_real_slice(sample):
    base, queries = sample
    truth = vectro.exact_search(base, queries, 10, metric="cosine")
    index = vectro.Index(384, codec="binary", metric="hamming", rerank="int8")
    index.add(base)
    ids, _ = index.search(queries, k=10, oversampling=10)
    found = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, truth)])
    assert found >= 0.95  # measured 0.972 on the bundled slice (asymmetric first stage: 0.996)


@pytest.mark.parametrize("codec", ["int8", "float32", "trunc:5+binary", "rq:1"])
def test_hamming_needs_the_binary_codec(codec):
    with pytest.raises(VectroError, match="metric 'hamming' compares sign bits: it needs codec='binary'"):
        vectro.Index(64, codec=codec, metric="hamming")


def test_unknown_metric_names_the_choices():
    with pytest.raises(VectroError, match="unknown metric 'hammming'; choose one of cosine, ip, l2, hamming"):
        vectro.Index(64, codec="binary", metric="hammming")
