"""LanceDB on a local folder: the real Lance engine with its quantised vector indexes."""

import numpy as np
import pytest

import vectro
from vectro.integrations.databases import lancedb, module_for

from ._helpers import StopAfter, recall_at_10, unit


def index_type(path, table):
    import lancedb as lance_db

    return lance_db.connect(path).open_table(table).list_indices()[0].index_type


def test_codec_to_lance_index_mapping():
    assert lancedb.index_for("int8")["index"] == "HnswSq"
    assert lancedb.index_for("pq:48") == {"column": "float32", "index": "IvfPq",
                                          "args": {"num_sub_vectors": 48, "num_bits": 8}}
    assert lancedb.index_for("rq:2")["args"] == {"num_bits": 2}
    assert lancedb.index_for("binary") == {"column": "bits", "index": "IvfFlat", "args": {"distance_type": "hamming"}}
    assert lancedb.index_for("float16")["column"] == "float16"
    assert module_for("lancedb://x") is lancedb


def test_int8_hnsw_sq_round_trip_and_resume(tmp_path, db_data):
    base, queries, truth = db_data
    packed = vectro.compress(base, "int8")
    url = f"lancedb://{tmp_path}"
    with pytest.raises(KeyboardInterrupt):
        lancedb.export(packed, url, "docs", batch_size=300, progress=StopAfter(1))
    assert lancedb.export(packed, url, "docs", batch_size=300)["resumed_at"] == 300
    assert index_type(tmp_path, "docs") == "IvfHnswSq"
    ids, scores = lancedb.search(url, "docs", queries, k=10)
    assert recall_at_10(ids, truth) >= 0.95
    exact = unit(queries) @ unit(packed.decompress()).T
    np.testing.assert_allclose(scores[:, 0], exact[np.arange(len(queries)), ids[:, 0]], atol=1e-4)  # refined
    back = lancedb.import_(url, "docs", out="compressed")
    np.testing.assert_allclose(back.decompress(), packed.decompress(), rtol=1e-5, atol=1e-7)


def test_rq_maps_to_ivf_rq(tmp_path, db_data):
    base, queries, truth = db_data
    lancedb.export(vectro.compress(base, "rq:2"), f"lancedb://{tmp_path}", "rq")
    assert index_type(tmp_path, "rq") == "IvfRq"
    ids, _ = lancedb.search(f"lancedb://{tmp_path}", "rq", queries, k=10)
    assert recall_at_10(ids, truth) >= 0.75  # rq:2 decoded vectors, refined by Lance


def test_binary_bits_with_hamming_then_rescoring(tmp_path, db_data):
    base, queries, truth = db_data
    index = vectro.Index(base.shape[1], "binary")
    names = [f"d'{i}" for i in range(len(base))]  # a quote, to exercise the id filter's escaping
    index.add(base, ids=names, payloads=[{"i": i} for i in range(len(base))])
    url = f"lancedb://{tmp_path}"
    lancedb.export(index, url, "bits", batch_size=500)
    assert lancedb.export(index, url, "bits", batch_size=500)["resumed_at"] == 1000  # all there: nothing rewritten
    ids, scores = lancedb.search(url, "bits", queries, k=10)
    reference_ids, reference = index.search(queries, k=10)
    assert recall_at_10(ids, np.array(names, dtype=object)[truth]) >= 0.6
    np.testing.assert_allclose(scores[:, 0], reference[:, 0], atol=1e-4)
    back = lancedb.import_(url, "bits")
    assert back.payloads(["d'5"]) == [{"i": 5}]
    np.testing.assert_array_equal(back.get(names[:20]), index.get(names[:20]))
