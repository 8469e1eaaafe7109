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


def test_evaluate_matches_the_public_ground_truth_definition(sample):
    base, queries = sample
    packed = vectro.compress(base, "int8")
    report = vectro.evaluate(base, packed, queries=queries, k=10, metric="ip")
    truth = vectro.exact_search(base, queries, 10, metric="ip")
    found = top_k(packed.score(queries), 10)[0]
    assert report["recall@10"] == pytest.approx(recall_at_k(found, truth, 10))
    assert report["recall@10"] > 0.99


def test_evaluate_default_queries_exclude_their_own_row(clustered):
    report = vectro.evaluate(clustered, vectro.compress(clustered, "float32"), k=3, n_queries=50)
    assert report["queries"] == 50 and report["recall@3"] == 1.0
    truth = vectro.exact_search(clustered, clustered[:5], 1, exclude=np.arange(5))
    assert (truth[:, 0] != np.arange(5)).all()


def test_evaluate_l2_and_worst_rows(clustered):
    X = clustered.copy()
    X[17] *= 1000  # per-vector int4 still keeps direction; make row 17 hard by spreading its energy
    X[17, :] = np.linspace(-1, 1, X.shape[1]) ** 9
    report = vectro.evaluate(X, vectro.compress(X, "int2"), k=5, metric="l2", n_queries=40)
    assert report["worst"][0] == 17
    assert 0 < report["recall@5"] <= 1


def test_evaluate_accepts_a_reconstruction_and_rejects_mismatches(clustered):
    report = vectro.evaluate(clustered, clustered.copy(), k=5, n_queries=30)
    assert report["recall@5"] == 1.0
    with pytest.raises(vectro.VectroError, match="rows"):
        vectro.evaluate(clustered, clustered[:-1], k=5)
    with pytest.raises(vectro.VectroError, match="metric"):
        vectro.evaluate(clustered, clustered, metric="hamming")
    with pytest.raises(vectro.VectroError, match="k=400"):
        vectro.evaluate(clustered, clustered, k=400)


def test_evaluate_rerank_rescores_the_shortlist_exactly(sample):
    base, queries = sample
    packed = vectro.compress(base, "binary")
    report = vectro.evaluate(base, packed, queries=queries, rerank=50)
    assert report["rerank"] == 50 and report["recall@10_rerank"] > report["recall@10"] + 0.1
    exact = vectro.evaluate(base, vectro.compress(base, "float32"), queries=queries, rerank=10)
    assert exact["recall@10_rerank"] == 1.0


def test_evaluate_reuses_a_given_truth_and_checks_its_shape(sample):
    base, queries = sample
    truth = vectro.exact_search(base, queries, 10)
    packed = vectro.compress(base, "int8")
    assert vectro.evaluate(base, packed, queries=queries, truth=truth) == vectro.evaluate(base, packed, queries=queries)
    with pytest.raises(vectro.VectroError, match="truth must hold"):
        vectro.evaluate(base, packed, queries=queries, truth=truth[:, :5])
    with pytest.raises(vectro.VectroError, match="rerank must be an integer >= k"):
        vectro.evaluate(base, packed, queries=queries, rerank=5)
