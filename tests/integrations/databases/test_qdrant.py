"""Qdrant through the real engine in-process (qdrant-edge-py) and qdrant-client's local mode."""

import json
import os
import sys

import numpy as np
import pytest

import vectro
from vectro.errors import MissingExtraError, VectroError
from vectro.integrations.databases import module_for, qdrant

from ._helpers import StopAfter, recall_at_10, unit


def test_codec_to_qdrant_quantisation_mapping():
    assert qdrant.quantization_for("int8", 384)["quantization"] == {"scalar": {"type": "int8", "always_ram": True}}
    assert "binary" in qdrant.quantization_for("binary", 384)["quantization"]
    assert qdrant.quantization_for("rq:2", 384)["quantization"]["turbo"]["bits"] == "bits2"
    assert "scalar" in qdrant.quantization_for("rq:3", 384)["quantization"]  # no 3-bit TurboQuant
    assert qdrant.quantization_for("pq:96", 384)["quantization"]["product"]["compression"] == "x16"
    assert qdrant.quantization_for("float16", 384) == {"quantization": None, "datatype": "float16"}
    assert "binary" in qdrant.quantization_for("pca:128+binary", 384)["quantization"]
    for spec in ("int8", "binary", "rq:2", "pq:96", "float16", "float32"):
        storage = qdrant.quantization_for(spec, 384)
        assert qdrant.codec_for(storage["quantization"], storage["datatype"], 384) == spec


def test_edge_int8_round_trip_searches_through_qdrant(tmp_path, db_data):
    base, queries, truth = db_data
    packed = vectro.compress(base, "int8")
    summary = qdrant.export(packed, f"qdrant-edge://{tmp_path}", "docs", batch_size=400)
    assert summary == {"collection": "docs", "written": 1000, "resumed_at": 0, "n": 1000}
    config = json.loads((tmp_path / "docs" / "edge_config.json").read_text())["vectors"][""]
    assert config["quantization_config"] == {"scalar": {"type": "int8", "always_ram": True}}
    ids, scores = qdrant.search(f"qdrant-edge://{tmp_path}", "docs", queries, k=10)
    assert recall_at_10(ids, truth) >= 0.95
    exact = unit(queries) @ unit(packed.decompress()).T  # Qdrant rescored with the decoded floats
    np.testing.assert_allclose(scores[:, 0], exact[np.arange(len(queries)), ids[:, 0]], atol=1e-4)
    back = qdrant.import_(f"qdrant-edge://{tmp_path}", "docs", out="compressed")
    assert back.codec.spec == "int8" and len(back) == 1000  # rows in id order, as exported
    cosines = np.sum(unit(back.decompress()) * unit(base), axis=1)
    assert cosines.min() > 0.999


def test_edge_binary_index_with_string_ids_and_payloads(tmp_path, db_data):
    base, queries, truth = db_data
    index = vectro.Index(base.shape[1], "binary")
    names = [f"doc-{i}" for i in range(len(base))]
    index.add(base, ids=names, payloads=[{"n": i, "tags": ["even" if i % 2 == 0 else "odd"]} for i in range(len(base))])
    qdrant.export(index, f"qdrant-edge://{tmp_path}", "bits", batch_size=500)
    config = json.loads((tmp_path / "bits" / "edge_config.json").read_text())["vectors"][""]
    assert "binary" in config["quantization_config"]
    ids, _ = qdrant.search(f"qdrant-edge://{tmp_path}", "bits", queries, k=10, oversampling=4)
    truth_names = np.array(names, dtype=object)[truth]
    assert recall_at_10(ids, truth_names) >= 0.6  # binary codes, rescored with their +-1 floats
    back = qdrant.import_(f"qdrant-edge://{tmp_path}", "bits")
    assert back.codec.spec == "binary" and sorted(back.ids()) == sorted(names)
    assert back.payloads(["doc-7", "doc-10"]) == [{"n": 7, "tags": ["odd"]}, {"n": 10, "tags": ["even"]}]
    np.testing.assert_array_equal(np.sign(back.get(["doc-3"])), np.sign(index.get(["doc-3"])))


def test_interrupted_export_resumes_where_it_stopped(tmp_path, db_data):
    base = db_data[0][:600]
    target = f"qdrant-edge://{tmp_path}"
    stop = StopAfter(2)
    with pytest.raises(KeyboardInterrupt):
        qdrant.export(base, target, "docs", batch_size=200, progress=stop)
    seen = []
    summary = qdrant.export(base, target, "docs", batch_size=200, progress=lambda done, total: seen.append(done))
    assert summary["resumed_at"] == 400 and summary["written"] == 200 and seen == [400, 600]
    back = qdrant.import_(target, "docs", out="compressed")
    np.testing.assert_allclose(back.decompress(), unit(base), atol=1e-6)
    other = db_data[0][600:1000]
    with pytest.raises(VectroError, match="not a part of this export"):
        qdrant.export(other, target, "docs", ids=np.arange(5000, 5400), batch_size=200)
    with pytest.raises(VectroError, match="already exists"):
        qdrant.export(other, target, "docs", if_exists="fail")
    assert qdrant.export(other, target, "docs", if_exists="replace")["written"] == 400


def test_client_in_memory_and_local_folder(tmp_path, db_data):
    from qdrant_client import QdrantClient

    base, queries, truth = db_data
    from vectro.integrations import QdrantCompressor  # the seed's import path and helper

    compressor = QdrantCompressor(QdrantClient(":memory:"))
    compressor.compress_and_index(base, "docs", payloads=[{"row": i} for i in range(len(base))])
    ids, scores = compressor.search(queries, "docs", k=10)
    assert recall_at_10(ids, truth) >= 0.95  # local mode scores the decoded int8 vectors exactly
    index = qdrant.import_(compressor.target, "docs")
    assert index.payloads([5, 999]) == [{"row": 5}, {"row": 999}]
    small = base[:50]
    qdrant.export(small, f"qdrant-local://{tmp_path / 'local'}", "few", ids=[f"k{i}" for i in range(50)])
    found, _ = qdrant.search(f"qdrant-local://{tmp_path / 'local'}", "few", small[:3], k=1)
    assert found[:, 0].tolist() == ["k0", "k1", "k2"]


def test_urls_and_missing_extra(monkeypatch):
    assert module_for("qdrant-edge:///x") is qdrant
    with pytest.raises(VectroError, match="unknown database URL"):
        module_for("mysql://x")
    monkeypatch.setitem(sys.modules, "qdrant_edge", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"vectro\[qdrant\]"):
        qdrant.export(np.ones((2, 3)), "qdrant-edge:///tmp/none", "x")


def test_export_killed_mid_way_resumes_in_a_new_process(tmp_path, db_data):
    import subprocess

    base = db_data[0][:500]
    np.save(tmp_path / "base.npy", base)
    script = (
        "import os, signal, numpy as np\n"
        "from vectro.integrations.databases import qdrant\n"
        "def kill(done, total):\n"
        "    if done >= 300: os.kill(os.getpid(), signal.SIGKILL)  # as a crash or an OOM kill would\n"
        f"qdrant.export(np.load({str(tmp_path / 'base.npy')!r}), 'qdrant-edge://{tmp_path}', 'docs', batch_size=100,"
        " progress=kill)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    assert subprocess.run([sys.executable, "-c", script], env=env).returncode == -9
    summary = qdrant.export(base, f"qdrant-edge://{tmp_path}", "docs", batch_size=100)
    assert summary["resumed_at"] == 300 and summary["written"] == 200
    np.testing.assert_allclose(qdrant.import_(f"qdrant-edge://{tmp_path}", "docs", out="compressed").decompress(),
                               unit(base), atol=1e-6)
