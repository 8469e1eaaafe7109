"""`evaluate` streams: exact ground truth and every metric over memory-mapped blocks, peak memory independent of n."""

import tracemalloc

import numpy as np
import pytest

import vectro
from tests.conftest import clustered_npy
from vectro.metrics import mrr_at_k, ndcg_at_k, recall_at_k


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A memory-mapped input many blocks long (60,000 x 64 float32) and its int8 .vectro."""
    folder = tmp_path_factory.mktemp("eval")
    path = clustered_npy(folder / "big.npy", 60_000, 64)
    np.save(folder / "small.npy", np.load(path, mmap_mode="r")[:10_000])
    vectro.compress_file(path, folder / "big.vectro", "int8")
    vectro.compress_file(folder / "small.npy", folder / "small.vectro", "int8")
    return folder


def _peak(folder, name):
    original = np.load(folder / f"{name}.npy", mmap_mode="r")
    packed = vectro.load(folder / f"{name}.vectro")
    tracemalloc.start()
    report = vectro.evaluate(original, packed, k=10, n_queries=100, block_rows=2_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, report


def test_eval_peak_memory_is_independent_of_n(big):
    peak_small, _ = _peak(big, "small")
    peak_big, report = _peak(big, "big")
    block_bytes = 2_000 * 64 * 4
    # six times the rows, the same peak: a few block-sized temporaries, never the input (15 MB)
    assert peak_big < peak_small + block_bytes, (peak_small, peak_big)
    assert peak_big < 12 * block_bytes < (big / "big.npy").stat().st_size / 2, peak_big
    assert report["n"] == 60_000 and report["queries"] == 100


def test_streamed_metrics_equal_a_float64_brute_force(big):
    X = np.load(big / "big.npy")
    packed = vectro.load(big / "big.vectro")
    report = vectro.evaluate(np.load(big / "big.npy", mmap_mode="r"), packed, k=10, n_queries=100, seed=3,
                             block_rows=7_000, shortlist=30)
    # the reference: held-out rows (seed 3), exact float64 cosine over the other rows, all at once
    held = np.sort(np.random.default_rng(3).choice(60_000, 100, replace=False))
    X64 = X.astype(np.float64)
    unit = X64 / np.linalg.norm(X64, axis=1, keepdims=True)
    exact = unit[held] @ unit.T
    exact[np.arange(100), held] = -np.inf
    truth = np.argsort(-exact, axis=1, kind="stable")[:, :10]
    decoded = packed.decompress().astype(np.float64)
    approx = (unit[held] @ decoded.T) / np.linalg.norm(decoded, axis=1)
    approx[np.arange(100), held] = -np.inf
    found = np.argsort(-approx, axis=1, kind="stable")[:, :10]
    assert report["recall@10"] == pytest.approx(recall_at_k(found, truth, 10), abs=0.002)
    assert report["ndcg@10"] == pytest.approx(ndcg_at_k(found, truth, 10), abs=0.002)
    assert report["mrr@10"] == pytest.approx(mrr_at_k(found, truth, 10), abs=0.01)
    cos = np.einsum("ij,ij->i", X64, decoded) / (np.linalg.norm(X64, axis=1) * np.linalg.norm(decoded, axis=1))
    assert report["mean_cosine"] == pytest.approx(cos.mean(), abs=1e-9)
    assert report["min_cosine"] == pytest.approx(cos.min(), abs=1e-9)
    assert 1 - report["p5_cosine"] == pytest.approx(1 - np.percentile(cos, 5), rel=0.01)
    assert set(report["worst"]) == set(np.argsort(cos, kind="stable")[:10].tolist())
    assert report["recall@10_rescored"] >= report["recall@10"]


def test_truth_progress_and_a_float64_input(big, tmp_path):
    X = np.load(big / "small.npy")
    seen = []
    truth = vectro.exact_search(np.load(big / "small.npy", mmap_mode="r"), X[:5], 3, block_rows=3_000,
                                progress=lambda done, total: seen.append((done, total)))
    reference = np.argsort(-(X[:5] / np.linalg.norm(X[:5], axis=1, keepdims=True)) @
                           (X / np.linalg.norm(X, axis=1, keepdims=True)).T, axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(truth, reference)
    assert seen == [(3000, 10000), (6000, 10000), (9000, 10000), (10000, 10000)]
    np.save(tmp_path / "x64.npy", X.astype(np.float64))
    report = vectro.evaluate(np.load(tmp_path / "x64.npy", mmap_mode="r"), vectro.load(big / "small.vectro"),
                             n_queries=20)
    assert report["original_bytes"] == 10_000 * 64 * 8 and report["original_dtype"] == "float64"
