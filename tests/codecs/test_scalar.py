"""Error bounds, bit layouts and quality floors of the scalar and binary codecs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import vectro
from vectro.codecs import make_codec
from vectro.codecs.scalar import NF4_LEVELS, pack_bits, unpack_bits

finite_rows = arrays(
    np.float32,
    st.tuples(st.integers(1, 8), st.integers(1, 70)),
    elements=st.floats(-1e6, 1e6, width=32, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=150, deadline=None)
@given(finite_rows)
def test_int8_error_is_at_most_half_a_step(X):
    codec = make_codec("int8").fit(X)
    codes = codec.encode(X)
    q, scales = codec.split(codes)
    expected_scale = np.abs(X).max(axis=1) / 127
    expected_scale[expected_scale == 0] = 1
    np.testing.assert_allclose(scales[:, 0], expected_scale, rtol=1e-6)
    error = np.abs(codec.decode(codes) - X)
    assert (error <= scales * (0.5 + 1e-5) + 1e-30).all()
    assert np.abs(q).max() <= 127


@settings(max_examples=100, deadline=None)
@given(finite_rows, st.sampled_from([None, 1, 5, 64]))
def test_int4_error_is_at_most_half_a_step_per_group(X, group):
    codec = make_codec("int4" if group is None else f"int4:{group}").fit(X)
    codes = codec.encode(X)
    _, scales = codec.split(codes)
    size = X.shape[1] if group is None else min(group, X.shape[1])
    per_dim_scale = np.repeat(scales, size, axis=1)[:, : X.shape[1]]
    assert (np.abs(codec.decode(codes) - X) <= per_dim_scale * (0.5 + 1e-5) + 1e-30).all()


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 3).map(lambda i: [1, 2, 4][i - 1]), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_pack_bits_round_trip(bits, dim, seed):
    values = np.random.default_rng(seed).integers(0, 2**bits, (3, dim)).astype(np.uint8)
    packed = pack_bits(values, bits)
    assert packed.shape == (3, -(-dim * bits // 8))
    np.testing.assert_array_equal(unpack_bits(packed, bits, dim), values)


def test_binary_bit_order_is_lsb_first_like_vectro():
    alternating = np.array([[1, -1, 1, -1, 1, -1, 1, -1, 1, -1]], dtype=np.float32)
    codes = make_codec("binary").fit(alternating).encode(alternating)
    assert codes.tolist() == [[0b01010101, 0b01]]


def test_binary_hamming_distances():
    X = np.array([[1, 1, 1, 1], [-1, -1, -1, -1], [1, -1, 1, -1]], dtype=np.float32)
    codec = make_codec("binary").fit(X)
    codes = codec.encode(X)
    assert codec.hamming(codes, codes).tolist() == [[0, 4, 2], [4, 0, 2], [2, 2, 0]]


def test_nf4_levels_and_codes():
    assert len(NF4_LEVELS) == 16 and NF4_LEVELS[0] == -1 and NF4_LEVELS[-1] == 1 and NF4_LEVELS[7] == 0
    assert (np.diff(NF4_LEVELS) > 0).all()
    X = np.array([[1.0, -1.0, 0.0, 0.5, 0.07]], dtype=np.float32)
    decoded = make_codec("nf4").fit(X).decode(make_codec("nf4").fit(X).encode(X))
    np.testing.assert_allclose(decoded, [[1.0, -1.0, 0.0, 0.44070982933044434, 0.07958029955625534]], rtol=1e-6)


def test_bf16_rounds_to_nearest_even():
    # 1 + 2^-8 lies halfway between bf16 neighbours 1 and 1 + 2^-7: ties go to the even mantissa (1.0)
    X = np.array([[1 + 2**-8, 1 + 3 * 2**-8, 3.0e38, -2.5]], dtype=np.float32)
    codec = make_codec("bf16").fit(X)
    decoded = codec.decode(codec.encode(X))[0]
    assert decoded[0] == 1.0 and decoded[1] == 1 + 2**-6 and decoded[3] == -2.5
    assert np.isfinite(decoded[2]) and abs(decoded[2] - 3.0e38) / 3.0e38 < 2**-8


def test_float16_saturates_instead_of_overflowing():
    X = np.array([[1e6, -1e6, 1.0]], dtype=np.float32)
    codec = make_codec("float16").fit(X)
    assert codec.decode(codec.encode(X)).tolist() == [[65504.0, -65504.0, 1.0]]


def test_int8_dim_learns_per_dimension_ranges():
    X = np.array([[0.0, 10.0], [1.0, 30.0], [0.6, 22.0]], dtype=np.float32)
    codec = make_codec("int8-dim").fit(X)
    np.testing.assert_allclose(codec.offset_, [0.0, 10.0])
    np.testing.assert_allclose(codec.step_, [1 / 255, 20 / 255], rtol=1e-6)
    assert codec.encode(X).tolist() == [[0, 0], [255, 255], [153, 153]]
    with pytest.raises(vectro.VectroError, match="not fitted"):
        make_codec("int8-dim").encode(X)


def test_unknown_and_malformed_specs_are_named():
    with pytest.raises(vectro.VectroError, match="unknown codec 'int7'"):
        make_codec("int7")
    with pytest.raises(vectro.VectroError, match="cannot parse"):
        make_codec("int8:")
    with pytest.raises(vectro.VectroError, match="group size"):
        make_codec("int8:zero")
    with pytest.raises(vectro.VectroError, match="only projections"):
        make_codec("int8+binary")
    with pytest.raises(vectro.VectroError, match="followed by a quantiser"):
        make_codec("trunc:8+pca:4")
    with pytest.raises(vectro.VectroError, match="takes no argument"):
        make_codec("binary:3")


def test_pca_needs_enough_rows_and_a_smaller_dimension(clustered):
    with pytest.raises(vectro.VectroError, match="at least 20 training vectors"):
        make_codec("pca:20").fit(clustered[:10])
    with pytest.raises(vectro.VectroError, match="exceeds the input's 23"):
        make_codec("pca:30").fit(clustered)


# Quality floors on the bundled real embeddings (measured: see docs/benchmarks.md); a regression
# in any codec's kernel shows up here as a drop in recall.
@pytest.mark.parametrize(
    "spec, bytes_per_vector, min_recall, min_cosine",
    [
        ("float16", 768, 0.999, 0.99999),
        ("bf16", 768, 0.99, 0.9999),
        ("int16", 772, 0.999, 0.99999),
        ("int8", 388, 0.99, 0.9999),
        ("int8-dim", 384, 0.99, 0.9999),
        ("nf4", 196, 0.95, 0.994),
        ("int4", 196, 0.93, 0.99),
        ("int2", 100, 0.84, 0.93),
        ("binary", 48, 0.70, 0.79),
        ("pca:128+int8", 132, 0.82, 0.91),
        ("rq:4", 196, 0.95, 0.994),
        ("rq:2", 100, 0.86, 0.935),
        ("rq:1", 52, 0.72, 0.79),
        ("pca:192+rq:4", 100, 0.90, 0.95),
        ("pq:48", 48, 0.76, 0.87),
        ("pq:96x4", 48, 0.74, 0.83),
        ("opq:16", 16, 0.66, 0.80),
    ],
)
def test_quality_floor_on_real_sample(sample, compressed_sample, spec, bytes_per_vector, min_recall, min_cosine):
    base, queries = sample
    packed = compressed_sample(spec)
    report = vectro.evaluate(base, packed, queries=queries, k=10)
    assert packed.bytes_per_vector == bytes_per_vector
    assert report["recall@10"] >= min_recall
    assert report["mean_cosine"] >= min_cosine


def test_lloyd_max_recovers_the_gaussian_quantiser():
    from vectro.codecs.rotation import lloyd_max

    values = np.random.default_rng(0).standard_normal(400_000)
    np.testing.assert_allclose(lloyd_max(values, 4), [-1.510, -0.4528, 0.4528, 1.510], atol=0.025)
    np.testing.assert_allclose(lloyd_max(values, 2), [-0.7979, 0.7979], atol=0.01)  # +-sqrt(2/pi)


def test_rotation_codec_is_orthogonal_and_unbiased_in_scale(sample):
    base, _ = sample
    codec = make_codec("rq:3").fit(base[:2000])
    R = codec.rotate(np.eye(384, dtype=np.float32)).T  # the structured rotation as a matrix: column j = R e_j
    np.testing.assert_allclose(R @ R.T, np.eye(384), atol=1e-5)
    decoded = codec.decode(codec.encode(base[:500]))
    ratio = np.linalg.norm(decoded, axis=1) / np.linalg.norm(base[:500], axis=1)
    assert abs(float(np.mean(ratio)) - 1) < 0.02  # the per-vector scale keeps norms


@pytest.mark.parametrize("spec", ["float16", "bf16", "int16", "int8", "int4", "int4:32", "int2:32", "binary",
                                  "int8-dim"])
def test_batches_up_to_in_place_queries_are_scored_on_the_codes(spec, rng, monkeypatch):
    """From kernels.SMALL_BATCH + 1 queries to kernels.IN_PLACE_QUERIES the in-place kernels score a batch,
    SMALL_BATCH queries a call, without decoding a vector (decoding every block made 9 queries cost
    5x what 8 did); past it, BLAS. Both agree with decode-then-dot in float64. A scale per group of 32
    (int4:32, int2:32; at d = 40 the second group holds 8) is read by the C kernel of packed levels."""
    from vectro import kernels

    if not kernels.available():
        pytest.skip("the compiled kernels are not available here")
    if ":" in spec and not kernels.native():
        pytest.skip("a scale per group is read in place by the C kernels only")
    X = rng.standard_normal((500, 40)).astype(np.float32)  # one block of codes: one kernel call per 8 queries
    codec = make_codec(spec).fit(X)
    codes = codec.encode(X)
    decoded = codec.decode(codes).astype(np.float64)
    calls = []
    fast, plain = type(codec)._score_fast, type(codec)._decode_block
    monkeypatch.setattr(type(codec), "_score_fast", lambda self, Q, c: calls.append(len(Q)) or fast(self, Q, c))
    monkeypatch.setattr(type(codec), "_decode_block", lambda self, c: calls.append("decode") or plain(self, c))
    for nq in (kernels.SMALL_BATCH + 1, kernels.IN_PLACE_QUERIES, kernels.IN_PLACE_QUERIES + 1):
        Q = rng.standard_normal((nq, 40)).astype(np.float32)
        expected = Q.astype(np.float64) @ decoded.T
        calls.clear()
        scores = codec.inner_products(Q, codes)
        np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
        if nq <= kernels.IN_PLACE_QUERIES:
            sizes = [min(kernels.SMALL_BATCH, nq - at) for at in range(0, nq, kernels.SMALL_BATCH)]
            assert calls == sizes, f"nq={nq}"
        else:
            assert kernels.SMALL_BATCH not in calls, f"nq={nq}"  # no kernel call of 8: BLAS, decoded or not
