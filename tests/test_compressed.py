"""compress / decompress write each block straight into the output, with the same bytes as before."""

import numpy as np
import pytest

import vectro
from vectro.codecs import make_codec
from vectro.compressed import compress_file
from vectro.errors import VectroError

from .codecs.test_conformance import fitted
from .conftest import SPECS


def _seed_int8(X):
    """The seed Vectro's NumPy quantiser (an independent reference): int8 codes and float32 scales."""
    scales = np.max(np.abs(X), axis=1) / 127.0
    scales[scales == 0] = 1.0
    return np.round(X / scales[:, None]).astype(np.int8), scales.astype(np.float32)


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr("vectro.compressed.BLOCK_ROWS", 7)  # many blocks and a ragged last one


def test_int8_codes_match_the_seed_quantiser_across_blocks(sample, small_blocks):
    X = sample[0][:100]
    codes = vectro.compress(X, "int8").codes
    q, scales = _seed_int8(X)
    np.testing.assert_array_equal(codes[:, :384].view(np.int8), q)
    np.testing.assert_allclose(codes[:, 384:].copy().view("<f4")[:, 0], scales, rtol=1e-6)


@pytest.mark.parametrize("spec", SPECS)
def test_compress_in_blocks_gives_the_whole_array_encoding(spec, clustered, small_blocks):
    if "learned" in spec:  # compress never trains a projection: it takes a fitted codec as it is
        codec = fitted(spec, clustered)
        packed = vectro.compress(clustered, codec)
    else:
        packed = vectro.compress(clustered, spec)
        codec = make_codec(spec).fit(clustered)  # data-free and trainable codecs alike: fit on all 300 rows
    np.testing.assert_array_equal(packed.codes, codec.encode(clustered))
    np.testing.assert_array_equal(packed.decompress(), codec.decode(packed.codes))


@pytest.mark.parametrize("spec", ["int8", "int4", "nf4", "binary", "float16", "bf16", "int8-dim", "rq:3",
                                  "pca:6+int8"])
def test_encode_and_decode_write_into_out(spec, clustered):
    codec = make_codec(spec).fit(clustered)
    expected = codec.encode(clustered)
    codes = np.full((len(clustered) + 10, expected.shape[1]), 0xAB, dtype=np.uint8)
    returned = codec.encode(clustered, out=codes[5:-5])
    assert np.shares_memory(returned, codes)
    np.testing.assert_array_equal(codes[5:-5], expected)
    assert (codes[:5] == 0xAB).all() and (codes[-5:] == 0xAB).all()  # nothing written outside out
    decoded = np.full((len(clustered), 23), np.nan, dtype=np.float32)
    assert codec.decode(expected, out=decoded) is decoded
    np.testing.assert_array_equal(decoded, codec.decode(expected))


def test_decompress_into_a_given_array(sample, small_blocks):
    packed = vectro.compress(sample[0][:50], "nf4")
    out = np.zeros((50, 384), dtype=np.float32)
    assert packed.decompress(out=out) is out
    np.testing.assert_array_equal(out, packed.codec.decode(packed.codes))
    with pytest.raises(VectroError, match="out must have shape"):
        packed.decompress(out=np.zeros((49, 384), dtype=np.float32))


@pytest.mark.parametrize("bad", [np.zeros((300, 24), np.uint8), np.zeros((300, 27), np.int8),
                                 np.zeros((300, 54), np.uint8)[:, ::2], np.zeros((299, 27), np.uint8)])
def test_encode_refuses_an_out_that_does_not_fit(bad, clustered):
    codec = make_codec("int8").fit(clustered)
    with pytest.raises(VectroError, match="out must be a writeable C-contiguous uint8 array of shape"):
        codec.encode(clustered, out=bad)


def test_nan_in_a_later_block_names_its_row_in_the_whole_input(sample, small_blocks):
    X = sample[0][:40].copy()
    X[23, 5] = np.nan
    with pytest.raises(VectroError, match="row 23 holds nan at dimension 5"):
        vectro.compress(X, "int8")
    with pytest.raises(VectroError, match="row 23 holds nan at dimension 5"):
        vectro.compress(X, "pca:8+nf4")


@pytest.mark.parametrize("spec", ["int8", "nf4", "rq:3"])
def test_streamed_file_has_the_in_memory_codes(spec, sample, tmp_path):
    X = sample[0][:1000]
    np.save(tmp_path / "x.npy", X)
    streamed = compress_file(tmp_path / "x.npy", tmp_path / "x.vectro", spec, block_rows=333)
    np.testing.assert_array_equal(np.asarray(streamed.codes), vectro.compress(X, spec).codes)
