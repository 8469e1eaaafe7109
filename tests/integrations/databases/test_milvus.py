"""Milvus Lite (pymilvus + milvus-lite, MilvusClient("./x.db")): what Lite runs, and the full mapping."""

import numpy as np
import pytest

import vectro
from vectro.integrations.databases import milvus, module_for

from ._helpers import StopAfter, recall_at_10, unit


def test_codec_to_milvus_index_mapping():
    server = {spec: milvus.index_for(spec, 10_000) for spec in ("int8", "pq:48", "rq:1", "rq:4", "binary", "float16")}
    assert server["int8"]["index"] == "IVF_SQ8" and server["int8"]["params"] == {"nlist": 400}
    assert server["pq:48"]["index"] == "IVF_PQ" and server["pq:48"]["params"]["m"] == 48
    assert server["rq:1"]["index"] == "IVF_RABITQ" and "refine" not in server["rq:1"]["params"]
    assert server["rq:4"]["params"]["refine_type"] == "SQ8"
    assert (server["binary"]["field"], server["binary"]["index"], server["binary"]["metric"]) == \
        ("BINARY_VECTOR", "BIN_IVF_FLAT", "HAMMING")
    assert server["float16"]["field"] == "FLOAT16_VECTOR"
    lite = {spec: milvus.index_for(spec, 10_000, lite=True) for spec in ("pq:48", "binary", "float16")}
    assert [lite[s]["field"] for s in lite] == ["FLOAT_VECTOR"] * 3
    assert [lite[s]["index"] for s in lite] == ["IVF_SQ8", "IVF_FLAT", "HNSW"]
    assert module_for("milvus://x.db") is milvus


def test_lite_int8_runs_ivf_sq8_and_resumes(tmp_path, db_data):
    from pymilvus import MilvusClient

    base, queries, truth = db_data
    packed = vectro.compress(base, "int8")
    url = f"milvus://{tmp_path / 'v.db'}"
    with pytest.raises(KeyboardInterrupt):
        milvus.export(packed, url, "docs", batch_size=400, progress=StopAfter(1))
    assert milvus.export(packed, url, "docs", batch_size=400)["resumed_at"] == 400
    ids, scores = milvus.search(url, "docs", queries, k=10)
    assert recall_at_10(ids, truth) >= 0.95
    exact = unit(queries) @ unit(packed.decompress()).T
    np.testing.assert_allclose(scores[:, 0], exact[np.arange(len(queries)), ids[:, 0]], atol=0.02)  # SQ8 scores
    client = MilvusClient(str(tmp_path / "v.db"))
    assert client.describe_index("docs", "vector")["index_type"] == "IVF_SQ8"
    client.close()
    back = milvus.import_(url, "docs", out="compressed")
    assert back.codec.spec == "int8"
    np.testing.assert_allclose(back.decompress(), packed.decompress(), rtol=1e-5, atol=1e-7)


def test_lite_binary_index_with_string_ids_and_payloads(tmp_path, db_data):
    base = db_data[0][:300]
    index = vectro.Index(base.shape[1], "binary")
    index.add(base, ids=[f"d{i}" for i in range(300)], payloads=[{"i": i, "meta": {"x": [i]}} for i in range(300)])
    url = f"milvus://{tmp_path / 'b.db'}"
    milvus.export(index, url, "bits")
    back = milvus.import_(url, "bits")
    assert back.codec.spec == "binary" and back.payloads(["d4"]) == [{"i": 4, "meta": {"x": [4]}}]
    np.testing.assert_array_equal(back.get(["d1", "d2"]), index.get(["d1", "d2"]))
    ids, _ = milvus.search(url, "bits", base[:3], k=1)
    assert ids[:, 0].tolist() == ["d0", "d1", "d2"]
