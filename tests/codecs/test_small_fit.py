"""pq/opq on fewer vectors than k-means is advised: one clear warning, not FAISS's hundreds of lines."""

import warnings

import pytest

import vectro
import vectro.bench


@pytest.mark.parametrize("spec", ["pq:4", "opq:4"])
def test_small_inputs_warn_once(capfd, spec):
    pytest.importorskip("faiss")
    X = vectro.bench.clustered_vectors(600, 16, seed=2)  # 600 < 39 x 256 advised points
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        packed = vectro.compress(X, spec)
    printed = capfd.readouterr()
    assert "please provide" not in printed.err + printed.out
    messages = [str(w.message) for w in caught if "k-means is advised" in str(w.message)]
    assert len(messages) == 1 and "from 600 vectors" in messages[0] and "9,984" in messages[0]
    assert vectro.mean_cosine_similarity(X, packed.decompress()) > 0.9  # still a usable codebook


def test_enough_vectors_do_not_warn():
    pytest.importorskip("faiss")
    X = vectro.bench.clustered_vectors(700, 16, seed=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vectro.compress(X, "pq:4x4")  # 16 centroids: 624 points advised
    assert not [w for w in caught if "k-means is advised" in str(w.message)]
