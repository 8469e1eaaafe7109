"""Metric values against hand-computed cases, and evaluate() end to end."""

import numpy as np
import pytest

import vectro
from vectro.metrics import mrr_at_k, ndcg_at_k, recall_at_k, top_k


def test_top_k_orders_by_score_then_id_and_pads():
    scores = np.array([[0.1, 0.9, 0.5, 0.9], [3.0, 2.0, 1.0, 0.0]], dtype=np.float32)
    ids, best = top_k(scores, 3)
    assert ids.tolist() == [[1, 3, 2], [0, 1, 2]]
    assert best[0].tolist() == pytest.approx([0.9, 0.9, 0.5])
    ids, best = top_k(scores[:, :2], 3)
    assert ids.tolist() == [[1, 0, -1], [0, 1, -1]] and best[0, 2] == -np.inf


def test_recall_ndcg_mrr_hand_computed():
    truth = np.array([[1, 2, 3]])
    found = np.array([[3, 9, 1]])
    assert recall_at_k(found, truth, 3) == pytest.approx(2 / 3)
    # gains: item 1 (exact rank 0) -> 3, item 3 (rank 2) -> 1; discounts 1, 1/log2(3), 1/2
    dcg = 1 * 1 + 0 + 3 * 0.5
    ideal = 3 + 2 / np.log2(3) + 1 / 2
    assert ndcg_at_k(found, truth, 3) == pytest.approx(dcg / ideal)
    assert mrr_at_k(found, truth, 3) == pytest.approx(1 / 3)  # the true nearest (1) sits third
    assert mrr_at_k(np.array([[7, 8, 9]]), truth, 3) == 0.0
    assert ndcg_at_k(truth, truth, 3) == pytest.approx(1.0)


def test_mean_cosine_zero_vector_conventions():
    a = np.array([[0, 0], [0, 0], [1, 0], [1, 1]], dtype=np.float32)
    b = np.array([[0, 0], [1, 0], [0, 1], [2, 2]], dtype=np.float32)
    # both zero -> 1, one side zero -> 0, orthogonal -> 0, parallel -> 1
    assert vectro.mean_cosine_similarity(a, b) == pytest.approx(0.5)


def test_evaluate_float32_is_perfect_and_keys_use_k(sample):
    base, queries = sample
    report = vectro.evaluate(base, vectro.compress(base, "float32"), queries=queries, k=5)
    for key in ("recall@5", "ndcg@5", "mrr@5", "overlap@5", "mean_cosine", "min_cosine", "p5_cosine"):
        assert report[key] == pytest.approx(1.0), key
    assert report["bytes_per_vector"] == 1536 and report["compression_ratio"] == pytest.approx(1.0)
    assert len(report["worst"]) == 10


def _float64_top(X, Q, k, metric):
    """Independent reference: float64 brute force by inner product, cosine or -|q - x|^2."""
    X, Q = np.asarray(X, np.float64), np.asarray(Q, np.float64)
    if metric == "cosine":
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-300)
        Q = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    S = -((Q[:, None, :] - X[None, :, :]) ** 2).sum(axis=2) if metric == "l2" else Q @ X.T
    return np.argsort(-S, axis=1, kind="stable")[:, :k]


def _recall(found, truth, k):
    return np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth)])


@pytest.mark.parametrize("metric", ["ip", "cosine"])
def test_evaluate_matches_an_independent_float64_brute_force(sample, metric):
    base, queries = sample
    packed = vectro.compress(base, "int4")
    report = vectro.evaluate(base, packed, queries=queries, k=10, metric=metric)
    truth = _float64_top(base, queries, 10, metric)
    np.testing.assert_array_equal(vectro.exact_search(base, queries, 10, metric=metric)[:, :5], truth[:, :5])
    found = _float64_top(packed.decompress(), queries, 10, metric)  # the codes, decoded, ranked in float64
    assert report["recall@10"] == pytest.approx(_recall(found, truth, 10), abs=0.002)  # float32 ties only
    assert 0.9 < report["recall@10"] < 0.99  # int4 loses a measurable share, and not most


def test_evaluate_default_queries_exclude_their_own_row(clustered):
    report = vectro.evaluate(clustered, vectro.compress(clustered, "float32"), k=3, n_queries=50)
    assert report["queries"] == 50 and report["recall@3"] == 1.0
    truth = vectro.exact_search(clustered, clustered[:5], 1, exclude=np.arange(5))
    assert (truth[:, 0] != np.arange(5)).all()


def test_evaluate_l2_and_worst_rows(clustered):
    X = clustered.copy()
    X[17, :] = np.linspace(-1, 1, X.shape[1]) ** 9  # energy in a few dimensions: int2's worst row
    packed = vectro.compress(X, "int2")
    queries = clustered[:40] + 0.05
    report = vectro.evaluate(X, packed, queries=queries, k=5, metric="l2")
    assert report["worst"][0] == 17
    truth = _float64_top(X, queries, 5, "l2")
    expected = _recall(_float64_top(packed.decompress(), queries, 5, "l2"), truth, 5)
    assert report["recall@5"] == pytest.approx(expected, abs=0.011) and 0.3 < expected < 1


def test_evaluate_accepts_a_reconstruction_and_rejects_mismatches(clustered):
    report = vectro.evaluate(clustered, clustered.copy(), k=5, n_queries=30)
    assert report["recall@5"] == 1.0
    with pytest.raises(vectro.VectroError, match="rows"):
        vectro.evaluate(clustered, clustered[:-1], k=5)
    with pytest.raises(vectro.VectroError, match="metric"):
        vectro.evaluate(clustered, clustered, metric="hamming")
    with pytest.raises(vectro.VectroError, match="k=400"):
        vectro.evaluate(clustered, clustered, k=400)


def test_evaluate_shortlist_is_rescored_exactly(sample):
    base, queries = sample
    packed = vectro.compress(base, "binary")
    report = vectro.evaluate(base, packed, queries=queries, shortlist=50)
    assert report["shortlist"] == 50 and report["recall@10_rescored"] > report["recall@10"] + 0.1
    exact = vectro.evaluate(base, vectro.compress(base, "float32"), queries=queries, shortlist=10)
    assert exact["recall@10_rescored"] == 1.0


def test_evaluate_reuses_a_given_truth_and_checks_its_shape(sample):
    base, queries = sample
    truth = vectro.exact_search(base, queries, 10)
    packed = vectro.compress(base, "int8")
    assert vectro.evaluate(base, packed, queries=queries, truth=truth) == vectro.evaluate(base, packed, queries=queries)
    with pytest.raises(vectro.VectroError, match="truth must hold"):
        vectro.evaluate(base, packed, queries=queries, truth=truth[:, :5])
    with pytest.raises(vectro.VectroError, match="shortlist must be an integer >= k"):
        vectro.evaluate(base, packed, queries=queries, shortlist=5)
