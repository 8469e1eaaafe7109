"""MMR, reciprocal rank fusion, BM25 and hybrid search against hand-computed references."""

import math

import numpy as np
import pytest

import vectro
from vectro.index.documents import DocumentIndex
from vectro.index.retrieval import BM25, mmr, reciprocal_rank_fusion


def test_mmr_trades_relevance_for_diversity_as_computed_by_hand():
    query = [1.0, 0.0]
    a, b, c = [1.0, 0.0], [0.99, math.sqrt(1 - 0.99**2)], [0.7, math.sqrt(1 - 0.7**2)]
    # after a: gain(b) = l*0.99 - (1-l)*0.99, gain(c) = l*0.7 - (1-l)*0.7
    assert mmr(query, [a, b, c], k=2, lambda_mult=0.3) == [0, 2]  # b: -0.396, c: -0.28
    assert mmr(query, [a, b, c], k=2, lambda_mult=0.9) == [0, 1]  # b: 0.792, c: 0.56
    assert mmr(query, [a, b, c], k=3, lambda_mult=1.0) == [0, 1, 2]  # pure relevance
    with pytest.raises(vectro.VectroError, match="lambda_mult"):
        mmr(query, [a], lambda_mult=2)


def test_reciprocal_rank_fusion_by_hand():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]], k=60)
    assert [i for i, _ in fused] == ["a", "c", "b", "d"]
    np.testing.assert_allclose([s for _, s in fused], [1 / 61 + 1 / 62, 1 / 63 + 1 / 61, 1 / 62, 1 / 63])
    weighted = reciprocal_rank_fusion([["a", "b"], ["b", "a"]], k=1, weights=[1, 3], limit=1)
    assert weighted == [("b", pytest.approx(1 / 3 + 3 / 2))]


def test_bm25_scores_by_hand():
    bm25 = BM25(["a b", "a c c", "d"], k1=1.5, b=0.75)
    idf_c = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5))
    norm = 1.5 * (1 - 0.75 + 0.75 * 3 / 2)  # doc 1 has 3 tokens, the mean is 2
    np.testing.assert_allclose(bm25.scores("c"), [0, idf_c * 2 * 2.5 / (2 + norm), 0])
    rows, scores = bm25.top("a c", 3)
    assert rows.tolist() == [1, 0]  # doc 2 never scores


def test_hybrid_search_fuses_dense_and_keyword_rankings(rng):
    vectors = rng.standard_normal((6, 8)).astype(np.float32)
    texts = ["alpha beta", "gamma", "delta epsilon", "zeta unique word", "eta", "theta"]
    docs = DocumentIndex(8, codec="float32")
    docs.upsert([f"d{i}" for i in range(6)], vectors, texts)
    query = vectors[0] + 0.01
    dense = np.argsort(-(vectors @ query) / np.linalg.norm(vectors, axis=1))  # exact cosine ranking
    expected = reciprocal_rank_fusion([[f"d{i}" for i in dense], ["d3"]], limit=3)
    hits = docs.hybrid_search(query, "unique word", k=3)
    assert [i for i, _ in hits] == [i for i, _ in expected]
    np.testing.assert_allclose([s for _, s in hits], [s for _, s in expected])
    assert [i for i, _ in docs.hybrid_search(query, "unique word", k=2, where={"never": 1})] == []
