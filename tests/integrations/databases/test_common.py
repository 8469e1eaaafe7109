"""What all database adapters share: input checks, result padding, URLs, and the documented mapping."""

from pathlib import Path

import numpy as np
import pytest

import vectro
from vectro.errors import VectroError
from vectro.integrations.databases import _common, module_for, quantisation_table


def test_readme_shows_the_mapping_the_adapters_use():
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    assert quantisation_table() in readme


def test_records_from_each_kind_of_input(clustered):
    packed = vectro.compress(clustered, "int8")
    records = _common.as_records(packed)
    np.testing.assert_array_equal(records.ids, np.arange(len(clustered)))  # row numbers become ids
    np.testing.assert_array_equal(records.vectors(3, 5), packed.decompress()[3:5])
    assert records.codec.spec == "int8" and records.payloads is None
    index = vectro.Index(clustered.shape[1], "float16", metric="ip")
    index.add(clustered[:4], ids=["a", "b", "c", "d"], payloads=[{"n": 1}, None, None, {"n": 4}])
    records = _common.as_records(index)
    assert records.ids.tolist() == ["a", "b", "c", "d"] and records.metric == "ip"
    assert records.payload_slice(0, 4) == [{"n": 1}, None, None, {"n": 4}]
    records = _common.as_records(clustered, ids=np.arange(100, 100 + len(clustered)))
    assert records.codec is None and records.ids[0] == 100 and records.payload_slice(0, 3) == [None] * 3
    with pytest.raises(VectroError, match="brings its own ids"):
        _common.as_records(index, ids=[1, 2, 3, 4])
    with pytest.raises(VectroError, match="one entry per vector"):
        _common.as_records(clustered, payloads=[{}])
    with pytest.raises(VectroError, match="appears more than once"):
        _common.as_records(clustered[:2], ids=[7, 7])


def test_hits_are_padded_like_index_search():
    ids, scores = _common.hits_to_arrays([[(5, 0.9)], []], k=2)
    assert ids.tolist() == [[5, -1], [-1, -1]] and scores[0, 0] == np.float32(0.9) and np.isneginf(scores[0, 1])
    ids, _ = _common.hits_to_arrays([[("a", 1.0)]], k=2)
    assert ids.tolist() == [["a", None]]


def test_bad_options_and_urls_are_named(tmp_path, clustered):
    from vectro.integrations.databases import qdrant

    with pytest.raises(VectroError, match="if_exists must be one of"):
        qdrant.export(clustered, f"qdrant-edge://{tmp_path}", "x", if_exists="merge")
    with pytest.raises(VectroError, match="batch_size must be a positive integer"):
        qdrant.export(clustered, f"qdrant-edge://{tmp_path}", "x", batch_size=0)
    with pytest.raises(VectroError, match="unknown database URL 'redis://h'"):
        module_for("redis://h")
    with pytest.raises(VectroError, match="does not exist"):
        qdrant.import_(f"qdrant-edge://{tmp_path}", "missing")
