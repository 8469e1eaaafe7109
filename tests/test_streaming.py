"""File-to-file compression streams: bounded memory, identical codes, nothing written on failure."""

import os
import tracemalloc

import numpy as np
import pytest

import vectro
from tests.conftest import clustered_npy


@pytest.fixture
def big_npy(tmp_path):
    """A memory-mapped input many times the block size (60,000 x 64 float32 = 15 MB)."""
    return clustered_npy(tmp_path / "big.npy", 60_000, 64)


def _peak_bytes(src, dst, spec):
    tracemalloc.start()
    vectro.compress_file(src, dst, spec, block_rows=2_000, fit_rows=500)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


@pytest.mark.parametrize("spec", ["int8", "int8-dim"])
def test_peak_memory_is_independent_of_n(tmp_path, big_npy, spec):
    small = tmp_path / "small.npy"
    np.save(small, np.load(big_npy, mmap_mode="r")[:10_000])
    peak_small = _peak_bytes(small, tmp_path / "small.vectro", spec)
    peak_big = _peak_bytes(big_npy, tmp_path / "out.vectro", spec)
    block_bytes = 2_000 * 64 * 4
    # six times the rows, the same peak: a dozen block-sized temporaries at most, never the input
    assert peak_big < peak_small + block_bytes, (peak_small, peak_big)
    assert peak_big < 12 * block_bytes < os.path.getsize(big_npy) / 2
    streamed = vectro.load(tmp_path / "out.vectro")
    in_memory = vectro.compress(np.load(big_npy), spec, fit_rows=500)
    if spec == "int8":
        np.testing.assert_array_equal(np.asarray(streamed.codes), in_memory.codes)
    assert len(streamed) == 60_000


def test_nan_late_in_the_file_writes_nothing(tmp_path, big_npy):
    data = np.load(big_npy, mmap_mode="r+")
    data[55_123, 3] = np.nan
    data.flush()
    del data
    out = tmp_path / "out.vectro"
    with pytest.raises(vectro.VectroError, match="row 55123"):
        vectro.compress_file(big_npy, out, "int8", block_rows=4_000)
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["big.npy"]


def test_progress_callback_reaches_total(tmp_path, big_npy):
    seen = []
    vectro.compress_file(big_npy, tmp_path / "o.vectro", "binary", block_rows=25_000,
                         progress=lambda done, total: seen.append((done, total)))
    assert seen == [(25_000, 60_000), (50_000, 60_000), (60_000, 60_000)]


def test_decompress_file_round_trip(tmp_path, big_npy):
    packed = vectro.compress_file(big_npy, tmp_path / "o.vectro", "float16")
    vectro.decompress_file(tmp_path / "o.vectro", tmp_path / "back.npy")
    back = np.load(tmp_path / "back.npy")
    np.testing.assert_array_equal(back, packed.decompress())
    assert vectro.mean_cosine_similarity(back, np.load(big_npy)) > 0.99999
