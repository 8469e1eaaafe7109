"""Files from the seed Vectro and its later releases load as vectro int8."""

import json

import numpy as np
import pytest

import vectro
from vectro.errors import FormatError
from vectro.format.legacy import VQZ_HEADER, write_vqz


@pytest.fixture
def seed_result(sample):
    return vectro.quantize_embeddings(sample[0][:200])


def test_seed_npz_written_by_vectro_is_the_mvp_layout(tmp_path, sample):
    packed = vectro.compress(sample[0][:200], "int8")
    path = packed.save(tmp_path / "c.npz")
    with np.load(path) as npz:
        assert sorted(npz.files) == ["dims", "q", "scales"]
        assert npz["q"].dtype == np.int8 and npz["q"].shape == (200, 384) and int(npz["dims"]) == 384
        reference = vectro.quantize_embeddings(sample[0][:200])
        np.testing.assert_array_equal(npz["q"], reference.quantized)
        np.testing.assert_array_equal(npz["scales"], reference.scales)
    np.testing.assert_array_equal(vectro.load(path).decompress(), packed.decompress())


def test_npz_refuses_other_codecs(tmp_path, sample):
    with pytest.raises(vectro.VectroError, match="per-vector int8 codes only"):
        vectro.compress(sample[0][:10], "int4").save(tmp_path / "c.npz")


def test_v2_npz_reads_and_future_versions_are_refused(tmp_path, seed_result):
    path = tmp_path / "v2.npz"
    fields = dict(quantized=seed_result.quantized, scales=seed_result.scales, dims=384, n=200,
                  precision_mode="int8", storage_format_version=2,
                  metadata_json=json.dumps({"user_metadata": {"model": "minilm"}}))
    np.savez_compressed(path, **fields)
    loaded = vectro.load(path)
    assert loaded.metadata["format"] == "vectro-npz-v2"
    np.testing.assert_allclose(loaded.decompress(), vectro.reconstruct_embeddings(seed_result))
    np.savez_compressed(path, **{**fields, "storage_format_version": 99})
    with pytest.raises(FormatError, match="storage_format_version 99"):
        vectro.load(path)
    np.savez_compressed(path, embeddings=np.zeros((2, 2)))
    with pytest.raises(FormatError, match="without Vectro's keys"):
        vectro.load(path)


@pytest.mark.parametrize("compression", ["none", "zlib", "zstd"])
def test_vqz_round_trip(tmp_path, seed_result, compression):
    path = tmp_path / "c.vqz"
    write_vqz(path, seed_result.quantized, seed_result.scales, compression, metadata=b'{"source": "test"}')
    raw = path.read_bytes()
    assert raw[:8] == b"VECTRO\x03\x00" and VQZ_HEADER.size == 64 and raw[38:64] == bytes(26)
    loaded = vectro.load(path)
    assert loaded.metadata["user"] == {"source": "test"}
    np.testing.assert_allclose(loaded.decompress(), vectro.reconstruct_embeddings(seed_result))


def test_vqz_corruption_and_truncation(tmp_path, seed_result):
    path = tmp_path / "c.vqz"
    write_vqz(path, seed_result.quantized, seed_result.scales, "zlib")
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="checksum"):
        vectro.load(path)
    path.write_bytes(bytes(data[:40]))
    with pytest.raises(FormatError, match="truncated"):
        vectro.load(path)
