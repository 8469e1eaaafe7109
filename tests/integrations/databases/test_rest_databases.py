"""Weaviate and Pinecone cannot run here: their adapters run against local stand-ins of their REST APIs."""

import numpy as np
import pytest

import vectro
from vectro.errors import VectroError
from vectro.integrations.databases import module_for, pinecone, weaviate

from ._helpers import StopAfter, recall_at_10, unit
from .standins import Pinecone, Weaviate


@pytest.fixture
def weaviate_server():
    server = Weaviate()
    yield server
    server.close()


@pytest.fixture
def pinecone_server(monkeypatch):
    monkeypatch.setenv("PINECONE_API_KEY", "test-key")
    server = Pinecone()
    yield server
    server.close()


def test_weaviate_compression_mapping():
    assert weaviate.compression_for("int8") == {"sq": {"enabled": True}}
    assert weaviate.compression_for("binary") == {"bq": {"enabled": True}}
    assert weaviate.compression_for("pq:48") == {"pq": {"enabled": True, "segments": 48, "centroids": 256}}
    assert weaviate.compression_for("rq:8") == {"rq": {"enabled": True, "bits": 8}}
    assert weaviate.compression_for("float16") == {}
    assert module_for("weaviate://h:1") is weaviate and module_for("pinecone://h") is pinecone


def test_weaviate_round_trip_named_vector_and_resume(weaviate_server, db_data):
    base, queries, truth = db_data
    base = base[:400]
    index = vectro.Index(base.shape[1], "binary", rerank="int8")
    index.add(base, ids=[f"d{i}" for i in range(400)], payloads=[{"i": i, "nested": {"ok": True}} for i in range(400)])
    url = f"weaviate://127.0.0.1:{weaviate_server.port}"
    with pytest.raises(KeyboardInterrupt):
        weaviate.export(index, url, "Docs", batch_size=150, progress=StopAfter(1))
    assert weaviate.export(index, url, "Docs", batch_size=150)["resumed_at"] == 150
    schema = weaviate_server.classes["Docs"]["schema"]["vectorConfig"]["vectro"]["vectorIndexConfig"]
    assert schema == {"distance": "cosine", "bq": {"enabled": True}}  # the primary codec's compression
    ids, scores = weaviate.search(url, "Docs", base[:5], k=3)
    assert ids[:, 0].tolist() == ["d0", "d1", "d2", "d3", "d4"]
    np.testing.assert_allclose(scores[:, 0], np.sum(unit(base[:5]) * unit(index.get(ids[:, 0])), axis=1), atol=1e-5)
    back = weaviate.import_(url, "Docs")
    assert sorted(back.ids()) == sorted(index.ids()) and back.codec.spec == "binary"
    assert back.payloads(["d7"]) == [{"i": 7, "nested": {"ok": True}}]
    signs = np.where(index.get(["d9"]) > 0, 1, -1).astype(np.float32)  # re-encoded from the int8 floats
    np.testing.assert_array_equal(back.get(["d9"]), signs / np.sqrt(np.float32(384)))
    with pytest.raises(VectroError, match="class names start with a capital"):
        weaviate.export(base, url, "docs")


def test_pinecone_round_trip_search_and_resume(pinecone_server, db_data):
    base, queries, truth = db_data
    packed = vectro.compress(base, "int8")
    url = f"pinecone+http://127.0.0.1:{pinecone_server.port}"
    with pytest.raises(KeyboardInterrupt):
        pinecone.export(packed, url, "docs", batch_size=400, progress=StopAfter(1))
    assert pinecone.export(packed, url, "docs", batch_size=400)["resumed_at"] == 400
    assert pinecone_server.indexes["docs"]["tags"]["vectro_codec"] == "int8"
    ids, scores = pinecone.search(url, "docs", queries, k=10)
    assert recall_at_10(ids, truth) >= 0.95
    back = pinecone.import_(url, "docs", out="compressed")
    np.testing.assert_allclose(back.decompress(), packed.decompress(), rtol=1e-5, atol=1e-7)
    with pytest.raises(VectroError, match="payload field 'deep'"):
        pinecone.export(base[:2], url, "flat", payloads=[{"deep": {"x": 1}}, None])


def test_pinecone_string_ids_payloads_and_bulk_import_layout(pinecone_server, tmp_path, db_data):
    import pyarrow.parquet as pq

    base = db_data[0][:250]
    names = [f"doc {i}&x" for i in range(250)]  # a space and an & must survive the query strings
    payloads = [{"i": i, "tags": ["x"]} for i in range(250)]
    url = f"pinecone+http://127.0.0.1:{pinecone_server.port}"
    pinecone.export(base, url, "named", ids=names, payloads=payloads, metric="ip")
    ids, scores = pinecone.search(url, "named", base[:2], k=1)
    assert ids[:, 0].tolist() == ["doc 0&x", "doc 1&x"]
    np.testing.assert_allclose(scores[:, 0], np.sum(base[:2] ** 2, axis=1), rtol=1e-5)
    back = pinecone.import_(url, "named")
    assert back.metric == "ip" and back.payloads(["doc 3&x"]) == [{"i": 3, "tags": ["x"]}]
    files = pinecone.write_bulk_import(base, tmp_path, ids=names, payloads=payloads, namespace="ns", rows_per_file=100)
    assert [f.name for f in files] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    table = pq.read_table(tmp_path / "ns")
    assert table.column_names == ["id", "values", "metadata"] and table.num_rows == 250
    np.testing.assert_array_equal(np.array(table["values"][5].as_py(), dtype=np.float32), base[5])
