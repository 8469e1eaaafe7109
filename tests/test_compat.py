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


def test_the_seed_readme_import_path_and_one_tuple(sample, tmp_path):
    from vectro.python.interface import mean_cosine_similarity, quantize_embeddings, reconstruct_embeddings

    X = sample[0][:40]
    out = quantize_embeddings(X)
    np.savez(tmp_path / "compressed.npz", q=out["q"], scales=out["scales"], dims=out["dims"])
    npz = np.load(tmp_path / "compressed.npz")
    recon = reconstruct_embeddings(npz["q"], npz["scales"], int(npz["dims"]))
    expected = npz["q"].astype(np.float64) * npz["scales"][:, None]  # the seed's definition, in float64
    np.testing.assert_allclose(recon, expected, rtol=1e-6)
    np.testing.assert_array_equal(reconstruct_embeddings((out.quantized, out.scales, out.dims)), recon)
    np.testing.assert_array_equal(reconstruct_embeddings((out.quantized, out.scales)), recon)
    assert mean_cosine_similarity(X, recon) > 0.9999


def test_other_codecs_and_backends_are_named_not_silently_replaced(sample):
    X = sample[0][:5]
    with pytest.raises(vectro.VectroError, match=r"vectro.compress\(X, codec='nf4'\)"):
        vectro.quantize_embeddings(X, precision_mode="nf4")
    for backend in ("mojo", "cython", "gpu"):
        with pytest.raises(vectro.VectroError, match=f"backend '{backend}' does not exist"):
            vectro.quantize_embeddings(X, backend=backend)
    assert vectro.quantize_embeddings(X, backend="numpy").quantized.shape == (5, 384)


def test_later_release_aliases_match_vectro_calls(sample, tmp_path):
    X = sample[0][:60]
    packed, scales = vectro.quantize_nf4(X)
    assert packed.shape == (60, 192) and packed.dtype == np.uint8 and scales.shape == (60,)
    np.testing.assert_allclose(scales, np.abs(X).max(axis=1), rtol=1e-6)  # abs-max scale: NF4 levels end at +-1
    np.testing.assert_array_equal(vectro.dequantize_nf4(packed, scales, 384), vectro.compress(X, "nf4").decompress())
    bits = vectro.quantize_binary(X)
    assert bits.shape == (60, 48)
    np.testing.assert_array_equal(vectro.dequantize_binary(bits, 384), np.where(X > 0, 1.0, -1.0))
    result = vectro.compress_vectors(X, "int8")
    np.testing.assert_array_equal(vectro.decompress_vectors(result), result.decompress())
    vectro.save_compressed(result, tmp_path / "c.vectro", metadata={"source": "test"})
    loaded = vectro.load_compressed(tmp_path / "c.vectro")
    assert loaded.metadata["user"] == {"source": "test"}
    np.testing.assert_array_equal(loaded.decompress(), result.decompress())
    seed = vectro.quantize_embeddings(X)
    vectro.save_compressed(seed, tmp_path / "s.npz")
    np.testing.assert_array_equal(vectro.decompress_vectors(vectro.load_compressed(tmp_path / "s.npz")),
                                  vectro.reconstruct_embeddings(seed))
