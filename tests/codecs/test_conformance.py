"""Checks every codec must pass, run once per registered codec family (sklearn-style conformance)."""

import numpy as np
import pytest

import vectro
from vectro import kernels
from vectro.codecs import make_codec
from vectro.codecs.base import Codec
from vectro.errors import VectroError

from ..conftest import SPECS


def fitted(spec, X):
    """A fitted codec for spec: learned:D stages are trained (vectro.train), the rest fitted."""
    if "learned" in spec:
        from vectro.train import fit_codec

        return fit_codec(spec, X, epochs=2)
    return make_codec(spec).fit(X)


def test_every_registered_codec_is_covered():
    names = {spec.split("+")[-1].split(":")[0] for spec in SPECS} | {s.split(":")[0] for s in SPECS}
    assert set(vectro.registered_codecs()) <= names


@pytest.mark.parametrize("spec", SPECS)
def test_encode_decode_shapes_and_sizes(spec, clustered):
    codec = fitted(spec, clustered)
    codes = codec.encode(clustered)
    assert codes.dtype == np.uint8
    assert codes.shape == (len(clustered), codec.bytes_per_vector(23))
    decoded = codec.decode(codes)
    assert decoded.dtype == np.float32 and decoded.shape == clustered.shape
    assert np.isfinite(decoded).all()


@pytest.mark.parametrize("spec", SPECS)
def test_score_equals_decode_then_inner_product(spec, clustered):
    codec = fitted(spec, clustered)
    codes = codec.encode(clustered)
    queries = clustered[:7] + 0.01
    expected = queries @ codec.decode(codes).T
    np.testing.assert_allclose(codec.score(queries, codes), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("nq", [1, 5])
def test_few_query_scores_come_from_the_codes_in_place(spec, nq, clustered, monkeypatch):
    """Every codec scores one query or a small batch without decoding a vector (a compiled kernel,
    or tables / a projection of the queries), and agrees with decode-then-dot in float64."""
    codec = fitted(spec, clustered)
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
    scores = codec.inner_products(queries, codes)  # the name Compressed.score and Index.search call
    assert scores.dtype == np.float32 and scores.shape == (nq, len(clustered))
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("spec", SPECS)
def test_state_round_trip_gives_identical_decoding(spec, clustered):
    codec = fitted(spec, clustered)
    codes = codec.encode(clustered)
    rebuilt = Codec.from_state(codec.state())
    assert rebuilt.spec == codec.spec
    np.testing.assert_array_equal(rebuilt.decode(codes), codec.decode(codes))
    np.testing.assert_array_equal(rebuilt.encode(clustered), codes)


@pytest.mark.parametrize("spec", SPECS)
def test_same_input_same_codes_and_input_untouched(spec, clustered):
    before = clustered.copy()
    first = fitted(spec, clustered).encode(clustered)
    second = fitted(spec, clustered).encode(clustered)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(clustered, before)


@pytest.mark.parametrize("spec", SPECS)
def test_float64_and_non_contiguous_inputs_match_float32(spec, clustered):
    codec = fitted(spec, clustered)
    wide = np.asfortranarray(clustered.astype(np.float64))
    _assert_same_encoding(codec, codec.encode(wide), codec.encode(clustered))
    strided = np.repeat(clustered, 2, axis=0)[::2]
    _assert_same_encoding(codec, codec.encode(strided), codec.encode(clustered))


def _assert_same_encoding(codec, actual, expected):
    if any(name in codec.spec for name in ("pca", "rq", "opq", "rvq", "learned")):  # BLAS rounds by batch shape
        np.testing.assert_allclose(codec.decode(actual), codec.decode(expected), atol=0.02)
    else:
        np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("spec", SPECS)
def test_single_vector_and_block_boundaries(spec, clustered, monkeypatch):
    codec = fitted(spec, clustered)
    whole = codec.encode(clustered)
    whole_scores = codec.score(clustered[:3], whole)
    _assert_same_encoding(codec, codec.encode(clustered[:1]), whole[:1])
    # many small blocks with a ragged last one, on both paths: the NumPy kernels split by kernel_rows,
    # score() and compress() by BLOCK_ROWS (the compiled kernels take every row in one call)
    monkeypatch.setattr("vectro.codecs.base.kernel_rows", lambda dim: 7)
    monkeypatch.setattr("vectro.codecs.base.BLOCK_ROWS", 7)
    monkeypatch.setattr("vectro.compressed.BLOCK_ROWS", 7)
    blocks = []
    original = type(codec)._encode_block
    monkeypatch.setattr(type(codec), "_encode_block", lambda self, X: (blocks.append(len(X)), original(self, X))[1])
    with kernels.backend("numpy"):
        _assert_same_encoding(codec, codec.encode(clustered), whole)
        np.testing.assert_allclose(codec.score(clustered[:3], whole), whole_scores, rtol=1e-4, atol=1e-5)
    # the split really happened: 43 kernel calls, the ragged last block padded to a full one (a row's
    # code must not depend on where a block ends, see Codec.encode)
    assert len(blocks) == 43 and set(blocks) == {7}
    packed = vectro.compress(clustered, codec)  # the configured backend, 43 blocks of compress
    _assert_same_encoding(codec, packed.codes, whole)
    np.testing.assert_array_equal(codec.decode(whole), fitted(spec, clustered).decode(whole))


@pytest.mark.parametrize("spec", [s for s in SPECS if not s.startswith(("pca", "trunc", "spectral", "pq", "opq", "rvq", "learned"))])
@pytest.mark.parametrize("dim", [1, 7, 9, 65])
def test_odd_dimensions_round_trip(spec, dim, rng):
    X = rng.standard_normal((40, dim)).astype(np.float32)
    codec = fitted(spec, X)
    decoded = codec.decode(codec.encode(X))
    assert decoded.shape == X.shape
    if spec != "binary":
        assert vectro.mean_cosine_similarity(X, decoded) > 0.5


@pytest.mark.parametrize("spec", ["float32", "float16", "bf16", "int16", "int8", "int8:16", "int4", "int4:8", "nf4", "int2"])
def test_zero_vector_decodes_to_zeros(spec, clustered):
    X = clustered.copy()
    X[3] = 0
    codec = fitted(spec, X)
    decoded = codec.decode(codec.encode(X))
    np.testing.assert_array_equal(decoded[3], np.zeros(23, dtype=np.float32))


@pytest.mark.parametrize("spec", SPECS)
def test_very_large_magnitudes_stay_finite(spec, clustered):
    X = clustered * np.float32(1e30)
    codec = fitted(spec, X)
    assert np.isfinite(codec.decode(codec.encode(X))).all()


@pytest.mark.parametrize("spec", SPECS)
def test_wrong_dimension_and_nan_are_refused(spec, clustered):
    codec = fitted(spec, clustered)
    with pytest.raises(VectroError, match="23"):
        codec.encode(clustered[:, :20])
    bad = clustered.copy()
    bad[5, 2] = np.nan
    with pytest.raises(VectroError, match="row 5"):
        codec.encode(bad)
    with pytest.raises(VectroError, match="uint8"):
        codec.decode(np.zeros((2, 3), dtype=np.float32))


# Per-codec floors on the bundled real sample (2,000 all-MiniLM-L6-v2 rows, 100 queries), measured at
# this commit with the float64 references below and set 0.005-0.02 under the measurement:
# (spec, mean cosine between each row and its reconstruction, recall@10 of cosine ranking on the codes)
REAL_FLOORS = [
    ("float32", 0.9999, 0.999), ("float16", 0.9999, 0.999), ("bf16", 0.999, 0.995), ("int16", 0.9999, 0.999),
    ("int8", 0.999, 0.985), ("int8:16", 0.999, 0.99), ("int8-dim", 0.999, 0.985), ("int4", 0.985, 0.935),
    ("int4:8", 0.99, 0.945), ("nf4", 0.99, 0.94), ("int2", 0.93, 0.86), ("int2:32", 0.93, 0.855),
    ("binary", 0.785, 0.72), ("rq:1", 0.79, 0.725), ("rq:3", 0.975, 0.915), ("rq:4", 0.99, 0.94),
    ("spectral:16", 0.525, 0.50), ("pca:64+int8", 0.825, 0.70), ("trunc:192+int8", 0.70, 0.705),
    ("pca:64+nf4", 0.82, 0.69), ("pca:96+rq:2", 0.835, 0.715), ("rvq:16", 0.98, 0.90), ("rvq:32x4", 0.81, 0.67),
    ("tc:1", 0.925, 0.84), ("tc:2", 0.975, 0.935), ("tc:4", 0.995, 0.975), ("tc:8", 0.9999, 0.99),
]


@pytest.fixture(scope="module")
def real_slice(sample):
    base, queries = sample
    base, queries = base[:2000], queries[:100]
    unit = base.astype(np.float64) / np.linalg.norm(base.astype(np.float64), axis=1, keepdims=True)
    truth = np.argsort(-(queries.astype(np.float64) @ unit.T), axis=1, kind="stable")[:, :10]
    return base, queries, truth


@pytest.mark.parametrize("spec, min_cosine, min_recall", REAL_FLOORS)
def test_reconstruction_and_recall_floors_on_real_data(real_slice, spec, min_cosine, min_recall):
    base, queries, truth = real_slice
    decoded = vectro.compress(base, spec).decompress().astype(np.float64)
    original = base.astype(np.float64)
    norms = np.maximum(np.linalg.norm(decoded, axis=1), 1e-300)
    cosine = np.einsum("ij,ij->i", original, decoded) / (np.linalg.norm(original, axis=1) * norms)
    found = np.argsort(-(queries.astype(np.float64) @ (decoded / norms[:, None]).T), axis=1, kind="stable")[:, :10]
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    assert cosine.mean() >= min_cosine and recall >= min_recall, (cosine.mean(), recall)
