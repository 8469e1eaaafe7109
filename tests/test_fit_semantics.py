"""Fitting never changes what the caller passed, never refits behind stored codes, and one seed
reaches every random choice (issue #14, defects 1, 2 and 9)."""

import numpy as np
import pytest

import vectro
from vectro.errors import VectroError


def cosines(a, b):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return np.einsum("ij,ij->i", a64, b64) / (np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1))


def test_compress_never_refits_or_changes_the_callers_codec(sample):
    base, _ = sample
    codec = vectro.make_codec("pca:8+int8")
    first = vectro.compress(base[:2000], codec)
    decoded = first.decompress().copy()
    assert not codec.is_fitted  # an unfitted codec passed in is cloned, never fitted in place
    vectro.compress(-base[2000:], codec)  # other data, which a refit would fit very differently
    np.testing.assert_array_equal(first.decompress(), decoded)
    assert cosines(base[:2000], decoded).mean() > 0.5


def test_a_fitted_codec_is_used_as_it_is(sample):
    base, _ = sample
    fitted = vectro.make_codec("int8-dim").fit(base[:1000])
    offset = fitted.offset_.copy()
    packed = vectro.compress(base[1000:] * 3, fitted)  # data out of the fitted range: still not refitted
    assert packed.codec is fitted
    np.testing.assert_array_equal(fitted.offset_, offset)
    with pytest.raises(VectroError, match="fitted on 384 dimensions, but the data has 10"):
        vectro.compress(base[:, :10], fitted)


def test_compress_file_does_not_fit_the_callers_codec(files_with_sample, tmp_path):
    codec = vectro.make_codec("rq:4")
    vectro.compress_file(files_with_sample / "base.npy", tmp_path / "a.vectro", codec)
    assert not codec.is_fitted


def test_index_clones_an_unfitted_codec_and_keeps_a_fitted_one(sample):
    base, queries = sample
    codec = vectro.make_codec("int8-dim")
    first, second = vectro.Index(384, codec), vectro.Index(384, codec)
    first.train(base[:2500])
    second.train(-base[2500:])
    assert not codec.is_fitted and first.codec is not second.codec
    fitted = vectro.make_codec("int8-dim").fit(base)
    index = vectro.Index(384, fitted)
    assert index.is_trained and index.codec is fitted
    state = {k: v.copy() for k, v in fitted.state()["arrays"].items()}
    index.train(-base[:100])  # trains what is not fitted (nothing here): the given codec stays as it is
    assert index.codec is fitted and all(np.array_equal(v, fitted.state()["arrays"][k]) for k, v in state.items())
    first.train(-base[:100])  # an empty index given an unfitted codec may be trained again, on its own copy
    unit = -base[:100] / np.linalg.norm(base[:100], axis=1, keepdims=True)  # cosine indexes fit unit rows
    np.testing.assert_allclose(first.codec.offset_, unit.min(axis=0), rtol=1e-5)
    assert not codec.is_fitted


def test_train_after_add_is_refused_and_changes_nothing(sample):
    base, queries = sample
    index = vectro.Index(384, "int8-dim")
    index.train(base)
    index.add(base[:1000])
    before = index.get(np.arange(1000))
    with pytest.raises(VectroError, match="already holds 1000 encoded vectors"):
        index.train(base[:10] * 5)
    np.testing.assert_array_equal(index.get(np.arange(1000)), before)


@pytest.mark.parametrize("spec", ["int8-dim", "pca:64+int8", "rq:4", "pq:48"])
def test_trainable_codecs_need_train_before_add(sample, spec):
    """Before: the first add() fitted the codec on whatever batch came (one row: recall@10 0.005)."""
    base, queries = sample
    index = vectro.Index(384, spec)
    assert not index.is_trained
    with pytest.raises(VectroError, match=r"call index.train\(X\)"):
        index.add(base[:1])
    assert len(index) == 0


def test_trained_int8_dim_index_fed_one_row_first_keeps_its_recall(sample):
    base, queries = sample
    index = vectro.Index(384, "int8-dim")
    index.train(base)
    index.add(base[:1])
    index.add(base[1:], ids=np.arange(1, len(base)))
    unit = base / np.linalg.norm(base, axis=1, keepdims=True)
    truth = np.argsort(-(queries.astype(np.float64) @ unit.T.astype(np.float64)), axis=1)[:, :10]
    found = index.search(queries, 10)[0]
    assert np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]) >= 0.99


def test_one_seed_reaches_pca_rq_and_pq(sample, monkeypatch):
    """Before: PCA sampled with seed 0 and rq rotated with seed 0 whatever compress(seed=) said."""
    base, _ = sample
    monkeypatch.setattr("vectro.codecs.projection.PCA_FIT_ROWS", 1000)  # 3000 rows: PCA fits on a sample
    for spec in ("pca:16", "rq:2", "pq:8"):  # rq: rotation and codebook sample; pq: k-means
        data = base[:3000]
        same = [vectro.compress(data, spec, seed=5).codec.state()["arrays"] for _ in range(2)]
        other = vectro.compress(data, spec, seed=6).codec.state()["arrays"]
        for name, value in same[0].items():
            np.testing.assert_array_equal(value, same[1][name])
        assert any(not np.array_equal(value, other[name]) for name, value in same[0].items()), spec
