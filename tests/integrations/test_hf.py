"""Hugging Face Datasets offline: an embedding column compressed in batches, codes back as columns."""

import numpy as np
import pytest

import vectro

datasets = pytest.importorskip("datasets")
from vectro.integrations.frameworks import hf  # noqa: E402


@pytest.mark.parametrize("spec", ["int8", "nf4", "pq:8"])
def test_compress_column_of_a_local_dataset(sample, tmp_path, monkeypatch, spec):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    base, queries = sample
    X = base[:400]
    datasets.Dataset.from_dict({"text": [f"t{i}" for i in range(400)], "embedding": X}).save_to_disk(tmp_path / "ds")
    ds = datasets.load_from_disk(str(tmp_path / "ds"))
    out, codec = hf.compress_column(ds, "embedding", codec=spec, batch_size=64)
    assert out["text"] == ds["text"] and "codes" in out.column_names
    packed = hf.codes_from_dataset(out, codec)
    np.testing.assert_array_equal(packed.codes, codec.encode(X))  # batches give the same codes as one call
    if spec == "int8":
        np.testing.assert_allclose(np.asarray(out.with_format("numpy")["scales"])[:, 0],
                                   np.abs(X).max(axis=1) / 127, rtol=1e-6)
    np.testing.assert_allclose(packed.score(queries[:3]), codec.score(queries[:3], codec.encode(X)), rtol=1e-6)


def test_unknown_column_is_named(sample):
    ds = datasets.Dataset.from_dict({"x": [[1.0, 2.0]]})
    with pytest.raises(vectro.VectroError, match="no column 'embedding'"):
        hf.compress_column(ds, "embedding")
