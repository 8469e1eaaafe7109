"""pq / opq: sizes, errors before FAISS sees the data, lookup-table scoring and quality on real data."""

import numpy as np
import pytest

import vectro
from vectro import kernels
from vectro.codecs import make_codec
from vectro.codecs.product import TABLE_QUERIES
from vectro.errors import VectroError


@pytest.mark.parametrize("spec, size", [("pq:48", 48), ("pq:96x4", 48), ("pq:7x4", 4), ("opq:16", 16)])
def test_bytes_per_vector_follow_from_the_spec(spec, size):
    assert make_codec(spec).bytes_per_vector(384) == size


@pytest.mark.parametrize("spec", ["pq", "pq:0", "pq:8x3", "pq:x4", "opq:abc"])
def test_bad_specs_are_refused(spec):
    with pytest.raises(VectroError, match="sub-quantisers"):
        make_codec(spec)


def test_dimension_not_divisible_by_m_names_the_divisors(sample):
    base, _ = sample
    with pytest.raises(VectroError, match=r"d=384 is not divisible by M=10.*2, 3, 4, 6, 8"):
        make_codec("pq:10").fit(base[:500])


def test_too_few_training_vectors_is_a_clear_error(sample):
    base, _ = sample
    with pytest.raises(VectroError, match="needs at least 256 training vectors, got 100"):
        make_codec("pq:48").fit(base[:100])
    make_codec("pq:48x4").fit(base[:100])  # 16 centroids: 100 vectors are enough


@pytest.mark.parametrize("spec", ["pq:24", "pq:48x4", "pq:47x4"])
def test_lookup_table_scores_equal_decoded_inner_products(spec, rng, monkeypatch):
    X = rng.standard_normal((400, 94 if spec == "pq:47x4" else 96)).astype(np.float32)
    codec = make_codec(spec).fit(X)
    codes = codec.encode(X)
    decoded = codec.decode(codes)
    plain, decodes = type(codec)._decode_block, []
    monkeypatch.setattr(type(codec), "_decode_block", lambda self, c: decodes.append(len(c)) or plain(self, c))
    # lookup tables up to TABLE_QUERIES queries (kernels.SMALL_BATCH a call), BLAS above
    for queries in (X[:3], X[:TABLE_QUERIES], X[:40]):
        decodes.clear()
        np.testing.assert_allclose(codec.score(queries, codes), queries @ decoded.T, rtol=1e-4, atol=1e-4)
        assert bool(decodes) == (len(queries) > TABLE_QUERIES)


def test_codes_are_the_nearest_centroids(rng):
    X = rng.standard_normal((300, 8)).astype(np.float32)
    codec = make_codec("pq:2").fit(X)
    codes = codec.encode(X[:20])
    for part in range(2):
        sub = X[:20, 4 * part : 4 * part + 4]
        distances = ((sub[:, None, :] - codec.centroids_[part][None]) ** 2).sum(-1)
        np.testing.assert_array_equal(codes[:, part], distances.argmin(axis=1))


def test_opq_beats_pq_at_the_same_size(sample, compressed_sample):
    base, queries = sample
    recall = {spec: vectro.evaluate(base, compressed_sample(spec), queries=queries)["recall@10"]
              for spec in ("pq:16", "opq:16")}
    assert recall["opq:16"] > recall["pq:16"] + 0.05


def test_round_trip_through_a_vectro_file(sample, compressed_sample, tmp_path):
    base, queries = sample
    packed = compressed_sample("opq:16")
    loaded = vectro.load(packed.save(tmp_path / "x.vectro"))
    np.testing.assert_array_equal(loaded.codes, packed.codes)
    np.testing.assert_array_equal(loaded.score(queries[:3]), packed.score(queries[:3]))
    assert kernels.SMALL_BATCH >= 3


def test_fit_reports_each_sub_space_and_matches_faiss_product_quantizer(sample):
    faiss = pytest.importorskip("faiss")
    X = sample[0][:3000]
    steps = []
    packed = vectro.compress(X, "pq:8", seed=3, fit_progress=lambda done, total: steps.append((done, total)))
    assert steps == [(j, 8) for j in range(1, 9)]
    # the same seeded k-means FAISS's own ProductQuantizer.train runs, one sub-space at a time
    reference = faiss.ProductQuantizer(X.shape[1], 8, 8)
    reference.cp.niter, reference.cp.seed = 25, 3
    reference.cp.max_points_per_centroid, reference.cp.min_points_per_centroid = 256, 1
    scale = np.float32(np.abs(X).max())
    reference.train(np.ascontiguousarray(X / scale))
    expected = faiss.vector_to_array(reference.centroids).reshape(8, 256, -1) * scale
    np.testing.assert_allclose(packed.codec.centroids_, expected, rtol=1e-6, atol=1e-7)


def test_opq_fit_counts_its_iterations_then_the_codebooks(sample):
    from vectro.codecs.product import OPQ_ITERATIONS

    steps = []
    vectro.compress(sample[0][:1000], "opq:8", fit_progress=lambda done, total: steps.append((done, total)))
    total = OPQ_ITERATIONS + 8
    assert steps == [(done, total) for done in range(1, total + 1)]  # one count, monotone, ends at total


def test_opq_rotation_is_orthogonal_and_seeded(sample):
    X = sample[0][:1000]
    first, again, other = (make_codec("opq:8").fit(X, seed=seed) for seed in (7, 7, 8))
    R = first.rotation_.astype(np.float64)
    np.testing.assert_allclose(R @ R.T, np.eye(384), atol=1e-4)
    np.testing.assert_array_equal(first.rotation_, again.rotation_)
    np.testing.assert_array_equal(first.encode(sample[0]), again.encode(sample[0]))
    assert not np.array_equal(first.rotation_, other.rotation_)


def test_opq_rotation_lowers_the_error_of_the_same_codebook_training(sample):
    """The learned rotation, not the k-means, makes the difference: the same codebook training on the
    unrotated data reconstructs worse."""
    base = sample[0]
    errors = {spec: float(np.mean((base - vectro.compress(base, spec).decompress()) ** 2)) for spec in ("pq:8", "opq:8")}
    assert errors["opq:8"] < 0.9 * errors["pq:8"]


def test_lloyd_steps_match_a_float64_reference(rng):
    from vectro.codecs.product import _centroid_means, _nearest_centroids

    X = rng.standard_normal((500, 12)).astype(np.float32)
    centroids = rng.standard_normal((3, 16, 4)).astype(np.float32)
    centroids[1, 5] = 50  # far from every point: keeps its place
    codes = _nearest_centroids(X, centroids)
    parts = X.reshape(500, 3, 4).astype(np.float64)
    distances = ((parts[:, :, None, :] - centroids[None].astype(np.float64)) ** 2).sum(-1)  # (n, M, K)
    np.testing.assert_array_equal(codes, distances.argmin(axis=2))
    means = _centroid_means(X, codes, centroids)
    for s in range(3):
        for c in range(16):
            members = parts[codes[:, s] == c, s]
            expected = members.mean(axis=0) if len(members) else centroids[s, c]
            np.testing.assert_allclose(means[s, c], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(means[1, 5], centroids[1, 5])
