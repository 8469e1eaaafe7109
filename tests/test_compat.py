"""The seed Vectro's API works unchanged on `import vectro`."""

import numpy as np
import pytest

import vectro


def test_quantize_embeddings_is_a_mapping_and_a_named_tuple(sample):
    X = sample[0][:50]
    out = vectro.quantize_embeddings(X)
    assert out["q"] is out.quantized and out["scales"] is out.scales and out["dims"] == 384
    assert out.quantized.dtype == np.int8 and out.quantized.shape == (50, 384)
    assert out.scales.dtype == np.float32 and out.scales.shape == (50,)
    assert (out.n, out.precision_mode, out.group_size) == (50, "int8", 64)
    np.testing.assert_allclose(out.scales, np.abs(X).max(axis=1) / 127, rtol=1e-6)
    quantized, scales, dims, *_ = out
    assert dims == 384 and "q" in out and set(out.keys()) >= {"q", "scales", "dims"}


def test_reconstruct_both_call_styles(sample):
    X = sample[0][:50]
    out = vectro.quantize_embeddings(X)
    a = vectro.reconstruct_embeddings(out)
    b = vectro.reconstruct_embeddings(out["q"], out["scales"], out["dims"])
    np.testing.assert_array_equal(a, b)
    assert vectro.mean_cosine_similarity(X, a) > 0.9999


def test_int4_packs_two_codes_per_byte_with_group_scales(sample):
    X = sample[0][:20]
    out = vectro.quantize_embeddings(X, precision_mode="int4", group_size=64)
    assert out.quantized.shape == (20, 192) and out.quantized.dtype == np.uint8
    assert out.scales.shape == (20, 6)
    assert vectro.mean_cosine_similarity(X, vectro.reconstruct_embeddings(out)) > 0.99


def test_zero_rows_round_trip_to_zero_with_scale_one():
    X = np.zeros((2, 8), dtype=np.float32)
    X[1] = np.arange(8)
    out = vectro.quantize_embeddings(X)
    assert out.scales[0] == 1.0 and not out.quantized[0].any()
    np.testing.assert_array_equal(vectro.reconstruct_embeddings(out)[0], np.zeros(8))


def test_bad_calls_are_value_errors():
    with pytest.raises(ValueError, match="2-D"):
        vectro.quantize_embeddings(np.zeros(8))
    with pytest.raises(ValueError, match="precision_mode"):
        vectro.quantize_embeddings(np.ones((2, 8)), precision_mode="int3")
    with pytest.raises(ValueError, match="do not fit"):
        vectro.reconstruct_embeddings(np.zeros((2, 4), np.int8), np.ones(3), 4)


def test_backend_info_reports_threads_and_versions(monkeypatch):
    monkeypatch.setenv("VECTRO_THREADS", "1")
    info = vectro.get_backend_info()
    assert info["backend"] in info["available_backends"] and info["threads"] == 1
    assert info["vectro"] == vectro.__version__ and info["numpy"] == np.__version__
