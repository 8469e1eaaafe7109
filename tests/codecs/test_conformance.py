"""Checks every codec must pass, run once per registered codec family (sklearn-style conformance)."""

import numpy as np
import pytest

import vectro
from vectro import kernels
from vectro.codecs import make_codec
from vectro.codecs.base import Codec
from vectro.errors import VectroError

from ..conftest import SPECS


def test_every_registered_codec_is_covered():
    names = {spec.split("+")[-1].split(":")[0] for spec in SPECS} | {s.split(":")[0] for s in SPECS}
    assert set(vectro.registered_codecs()) <= names


@pytest.mark.parametrize("spec", SPECS)
def test_encode_decode_shapes_and_sizes(spec, clustered):
    codec = make_codec(spec).fit(clustered)
    codes = codec.encode(clustered)
    assert codes.dtype == np.uint8
    assert codes.shape == (len(clustered), codec.bytes_per_vector(23))
    decoded = codec.decode(codes)
    assert decoded.dtype == np.float32 and decoded.shape == clustered.shape
    assert np.isfinite(decoded).all()


@pytest.mark.parametrize("spec", SPECS)
def test_score_equals_decode_then_inner_product(spec, clustered):
    codec = make_codec(spec).fit(clustered)
    codes = codec.encode(clustered)
    queries = clustered[:7] + 0.01
    expected = queries @ codec.decode(codes).T
    np.testing.assert_allclose(codec.score(queries, codes), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("nq", [1, 5])
def test_few_query_scores_come_from_the_codes_in_place(spec, nq, clustered, monkeypatch):
    """Every codec scores one query or a small batch without decoding a vector (a compiled kernel,
    or tables / a projection of the queries), and agrees with decode-then-dot in float64."""
    codec = make_codec(spec).fit(clustered)
    codes = codec.encode(clustered)
    queries = clustered[:nq] * np.float32(1.7) + np.float32(0.01)
    expected = queries.astype(np.float64) @ codec.decode(codes).astype(np.float64).T

    def refuse(*args, **kwargs):
        raise AssertionError("a few queries must be scored on the codes, not on decoded vectors")

    if kernels.available():
        for stage in [codec, *getattr(codec, "stages", [])]:
            for name in ("decode", "_decode_block", "_rotated_decode"):
                if hasattr(type(stage), name):
                    monkeypatch.setattr(type(stage), name, refuse)
    scores = codec.score(queries, codes)
    assert scores.dtype == np.float32 and scores.shape == (nq, len(clustered))
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("spec", SPECS)
def test_state_round_trip_gives_identical_decoding(spec, clustered):
    codec = make_codec(spec).fit(clustered)
    codes = codec.encode(clustered)
    rebuilt = Codec.from_state(codec.state())
    assert rebuilt.spec == codec.spec
    np.testing.assert_array_equal(rebuilt.decode(codes), codec.decode(codes))
    np.testing.assert_array_equal(rebuilt.encode(clustered), codes)


@pytest.mark.parametrize("spec", SPECS)
def test_same_input_same_codes_and_input_untouched(spec, clustered):
    before = clustered.copy()
    first = make_codec(spec).fit(clustered).encode(clustered)
    second = make_codec(spec).fit(clustered).encode(clustered)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(clustered, before)


@pytest.mark.parametrize("spec", SPECS)
def test_float64_and_non_contiguous_inputs_match_float32(spec, clustered):
    codec = make_codec(spec).fit(clustered)
    wide = np.asfortranarray(clustered.astype(np.float64))
    _assert_same_encoding(codec, codec.encode(wide), codec.encode(clustered))
    strided = np.repeat(clustered, 2, axis=0)[::2]
    _assert_same_encoding(codec, codec.encode(strided), codec.encode(clustered))


def _assert_same_encoding(codec, actual, expected):
    if any(name in codec.spec for name in ("pca", "rq", "opq", "learned")):  # BLAS rounds by batch shape
        np.testing.assert_allclose(codec.decode(actual), codec.decode(expected), atol=0.02)
    else:
        np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("spec", SPECS)
def test_single_vector_and_block_boundaries(spec, clustered, monkeypatch):
    codec = make_codec(spec).fit(clustered)
    whole = codec.encode(clustered)
    _assert_same_encoding(codec, codec.encode(clustered[:1]), whole[:1])
    monkeypatch.setattr("vectro.codecs.base.BLOCK_ROWS", 7)  # many small blocks, a ragged last one
    _assert_same_encoding(codec, codec.encode(clustered), whole)
    np.testing.assert_array_equal(codec.decode(whole), make_codec(spec).fit(clustered).decode(whole))


@pytest.mark.parametrize("spec", [s for s in SPECS if not s.startswith(("pca", "trunc", "spectral", "pq", "opq", "learned"))])
@pytest.mark.parametrize("dim", [1, 7, 9, 65])
def test_odd_dimensions_round_trip(spec, dim, rng):
    X = rng.standard_normal((40, dim)).astype(np.float32)
    codec = make_codec(spec).fit(X)
    decoded = codec.decode(codec.encode(X))
    assert decoded.shape == X.shape
    if spec != "binary":
        assert vectro.mean_cosine_similarity(X, decoded) > 0.5


@pytest.mark.parametrize("spec", ["float32", "float16", "bf16", "int16", "int8", "int8:16", "int4", "int4:8", "nf4", "int2"])
def test_zero_vector_decodes_to_zeros(spec, clustered):
    X = clustered.copy()
    X[3] = 0
    codec = make_codec(spec).fit(X)
    decoded = codec.decode(codec.encode(X))
    np.testing.assert_array_equal(decoded[3], np.zeros(23, dtype=np.float32))


@pytest.mark.parametrize("spec", SPECS)
def test_very_large_magnitudes_stay_finite(spec, clustered):
    X = clustered * np.float32(1e30)
    codec = make_codec(spec).fit(X)
    assert np.isfinite(codec.decode(codec.encode(X))).all()


@pytest.mark.parametrize("spec", SPECS)
def test_wrong_dimension_and_nan_are_refused(spec, clustered):
    codec = make_codec(spec).fit(clustered)
    with pytest.raises(VectroError, match="23"):
        codec.encode(clustered[:, :20])
    bad = clustered.copy()
    bad[5, 2] = np.nan
    with pytest.raises(VectroError, match="row 5"):
        codec.encode(bad)
    with pytest.raises(VectroError, match="uint8"):
        codec.decode(np.zeros((2, 3), dtype=np.float32))
