"""rq:B: the structured rotation is orthogonal, kernels match NumPy, and quality holds on real data."""

import numpy as np
import pytest

import vectro
from vectro import kernels
from vectro.codecs import make_codec
from vectro.codecs.rotation import fwht, hadamard_block, lloyd_max


@pytest.mark.parametrize("dim, block", [(384, 128), (768, 256), (1024, 1024), (96, 32), (100, 0), (23, 0)])
def test_block_size_is_the_largest_power_of_two_factor_or_dense(dim, block):
    assert hadamard_block(dim) == block


def test_fwht_matches_the_sylvester_hadamard_matrix(rng):
    H = np.array([[1.0]])
    while len(H) < 32:
        H = np.block([[H, H], [H, -H]])
    X = rng.standard_normal((5, 64)).astype(np.float32)
    expected = np.hstack([X[:, :32] @ H.T, X[:, 32:] @ H.T])
    np.testing.assert_allclose(fwht(X, 32), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dim", [384, 96, 100])
def test_rotation_is_orthogonal_and_unrotate_inverts_it(dim, rng):
    X = rng.standard_normal((50, dim)).astype(np.float32)
    codec = make_codec("rq:4").fit(X)
    Y = codec.rotate(X)
    np.testing.assert_allclose(np.linalg.norm(Y, axis=1), np.linalg.norm(X, axis=1), rtol=1e-5)
    np.testing.assert_allclose(codec.unrotate(Y), X, atol=1e-5)
    assert ("signs_" in codec.state()["arrays"]) == bool(hadamard_block(dim))


@pytest.mark.skipif(not kernels.available(), reason="numba not installed")
@pytest.mark.parametrize("spec", ["rq:1", "rq:2", "rq:3", "rq:4", "rq:8"])
@pytest.mark.parametrize("dim", [384, 64])
@pytest.mark.parametrize("compiled", ["auto", "numba"])  # auto: the C encoder where it is built
def test_kernel_codes_are_bit_exact_with_numpy(spec, dim, compiled, rng):
    X = rng.standard_normal((300, dim)).astype(np.float32)
    X[1] = 0
    X[2] *= np.float32(3e30)
    codec = make_codec(spec).fit(X)
    # rows whose rotated coordinates lie beyond the outermost levels (all the mass on one or two
    # coordinates), at zero and in between: the C encoder counts rq:8's 255 thresholds on a grid of
    # cells, which must give what NumPy's searchsorted gives there too
    spikes = np.zeros((3, dim), dtype=np.float32)
    spikes[0, 5], spikes[1, [0, 1]], spikes[2, ::3] = 1, (-3, 1), rng.standard_normal(len(range(0, dim, 3)))
    X[4:7] = codec.unrotate(spikes)
    with kernels.backend(compiled):
        fast = codec.encode(X)
    decoded = codec.decode(fast)
    scores = codec.score(X[3:6], fast)  # per-byte lookup tables where 8 % B == 0
    with kernels.backend("numpy"):
        np.testing.assert_array_equal(codec.encode(X), fast)
        np.testing.assert_allclose(codec.decode(fast), decoded, rtol=1e-6, atol=1e-6 * np.abs(decoded).max())
        np.testing.assert_allclose(codec.score(X[3:6], fast), scores, rtol=1e-4, atol=1e-3 * np.abs(scores).max())


def test_rq1_with_reranking_recovers_the_neighbours(sample):
    base, queries = sample
    report = vectro.evaluate(base, vectro.compress(base, "rq:1"), queries=queries, shortlist=100)
    assert report["recall@10_rescored"] >= 0.97 > report["recall@10"]


def test_too_few_training_vectors_is_a_clear_error(rng):
    with pytest.raises(vectro.VectroError, match="at least 16 training vectors"):
        make_codec("rq:4").fit(rng.standard_normal((5, 64)))


# Max (1960), "Quantizing for minimum distortion": the optimal mean squared error of a unit Gaussian
# with 2, 4, 8 and 16 levels, and the high-rate limit (pi * sqrt(3) / 2) * 2^(-2b) for 256 levels.
@pytest.mark.parametrize("bits, optimum", [(1, 0.3634), (2, 0.1175), (3, 0.03454), (4, 0.009497),
                                           (8, np.pi * np.sqrt(3) / 2 * 2.0**-16)])
def test_lloyd_max_reaches_the_optimal_gaussian_quantiser(bits, optimum):
    values = np.random.default_rng(7).standard_normal(400_000)
    points = lloyd_max(values, 2**bits).astype(np.float64)
    assigned = points[np.searchsorted((points[1:] + points[:-1]) / 2, values)]
    assert np.mean((values - assigned) ** 2) <= 1.02 * optimum


def test_rq8_reconstructs_better_than_int8_at_the_same_size(sample):
    base, _ = sample

    def error(spec):
        packed = vectro.compress(base, spec)
        return packed.bytes_per_vector, np.mean(np.sum((base - packed.decompress()) ** 2, axis=1))

    (rq8_bytes, rq8_error), (int8_bytes, int8_error) = error("rq:8"), error("int8")
    assert rq8_bytes == int8_bytes and rq8_error < int8_error


# sha256 (first 16 hex digits) of the codes the rq kernel made before its speed-up (#17), for the
# input of test_codes_are_byte_identical_to_the_previous_kernel: the fast kernel must not change a byte.
PREVIOUS_KERNEL_DIGESTS = {1: "d3bfcf26ac8196cb", 2: "69eff4c763f11efd", 3: "88a11ba1c7aa959f",
                           4: "b95c6cd6d530bbf2", 8: "af873fe5f4094fa5"}


@pytest.mark.parametrize("bits", sorted(PREVIOUS_KERNEL_DIGESTS))
def test_codes_are_byte_identical_to_the_previous_kernel(bits):
    import hashlib

    X = vectro.bench.clustered_vectors(4000, 384, seed=17)
    X[:1000] *= np.random.default_rng(17).standard_normal((1000, 1)).astype(np.float32) * 100
    codes = make_codec(f"rq:{bits}").fit(X, seed=0).encode(X)
    assert hashlib.sha256(codes.tobytes()).hexdigest()[:16] == PREVIOUS_KERNEL_DIGESTS[bits]


@pytest.mark.skipif(not kernels.available(), reason="numba not installed")
@pytest.mark.parametrize("spec", ["rq:3", "rq:8", "rq:2"])
@pytest.mark.parametrize("dim", [385, 100, 7])
@pytest.mark.parametrize("compiled", ["auto", "numba"])
def test_kernel_codes_are_bit_exact_with_numpy_at_odd_widths(spec, dim, compiled, rng):
    X = np.vstack([vectro.bench.clustered_vectors(2000, dim, seed=dim), 5 * rng.standard_normal((500, dim))])
    X = X.astype(np.float32)
    X[1] = 0
    codec = make_codec(spec).fit(X)
    with kernels.backend(compiled):
        fast = codec.encode(X)
    with kernels.backend("numpy"):
        np.testing.assert_array_equal(codec.encode(X), fast)


@pytest.mark.skipif(not kernels.available(), reason="numba not installed")
def test_threshold_grid_counts_exactly_as_searchsorted(rng):
    from vectro.kernels import _jit

    thresholds = np.sort(rng.standard_normal(255)).astype(np.float32)
    thresholds[10:14] = thresholds[10]  # equal thresholds
    grid, start, scale = kernels.threshold_grid(thresholds)
    values = np.concatenate([thresholds, np.nextafter(thresholds, np.float32(np.inf)),
                             np.nextafter(thresholds, np.float32(-np.inf)), rng.standard_normal(5000) * 3,
                             start + np.arange(len(grid)) / scale,  # cell edges
                             [np.inf, -np.inf, 1e30, -1e30, 0.0]]).astype(np.float32)
    counts = _jit.count_below_all(thresholds, grid, start, scale, values)
    np.testing.assert_array_equal(counts, np.searchsorted(thresholds, values, side="left"))
    assert _jit.count_below_all(thresholds, grid, start, scale, np.array([np.nan], np.float32))[0] == 0


@pytest.mark.skipif(not kernels.available(), reason="numba not installed")
@pytest.mark.parametrize("spec", ["rq:1", "rq:3", "rq:4"])
def test_batches_up_to_table_queries_are_scored_without_decoding(spec, rng, monkeypatch):
    """Up to rotation.TABLE_QUERIES queries go through the few-query kernels, kernels.SMALL_BATCH a call
    (decoding every block cost rq:3 about 4x per query at 16); past it, decode + BLAS. Both agree with
    decode-then-dot in float64."""
    from vectro.codecs import rotation

    X = rng.standard_normal((600, 64)).astype(np.float32)
    codec = make_codec(spec).fit(X)
    codes = codec.encode(X)
    decoded = codec.decode(codes).astype(np.float64)
    plain, decodes = type(codec)._rotated_decode, []
    monkeypatch.setattr(type(codec), "_rotated_decode", lambda self, c: decodes.append(len(c)) or plain(self, c))
    for nq in (kernels.SMALL_BATCH + 1, rotation.TABLE_QUERIES, rotation.TABLE_QUERIES + 1):
        Q = rng.standard_normal((nq, 64)).astype(np.float32)
        expected = Q.astype(np.float64) @ decoded.T
        decodes.clear()
        np.testing.assert_allclose(codec.score(Q, codes), expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
        assert bool(decodes) == (nq > rotation.TABLE_QUERIES), f"nq={nq}"
