"""Chroma through chromadb.PersistentClient (its real Rust engine, in-process)."""

import numpy as np
import pytest

import vectro
from vectro.errors import VectroError
from vectro.integrations.databases import chroma, module_for

from ._helpers import StopAfter, recall_at_10, unit


def test_round_trip_search_and_resume(tmp_path, db_data):
    base, queries, truth = db_data
    packed = vectro.compress(base, "int8")
    url = f"chroma://{tmp_path}"
    assert module_for(url) is chroma
    with pytest.raises(KeyboardInterrupt):
        chroma.export(packed, url, "docs", batch_size=300, progress=StopAfter(2))
    summary = chroma.export(packed, url, "docs", batch_size=300)
    assert summary["resumed_at"] == 600 and summary["written"] == 400
    ids, scores = chroma.search(url, "docs", queries, k=10)
    assert recall_at_10(ids, truth) >= 0.9
    exact = unit(queries) @ unit(packed.decompress()).T
    np.testing.assert_allclose(scores[:, 0], exact[np.arange(len(queries)), ids[:, 0]], atol=1e-4)
    back = chroma.import_(url, "docs", out="compressed")
    assert back.codec.spec == "int8"  # recorded in the collection's metadata
    np.testing.assert_allclose(back.decompress(), packed.decompress(), rtol=1e-5, atol=1e-7)


def test_index_with_string_ids_and_flat_payloads(tmp_path, db_data):
    base = db_data[0][:200]
    index = vectro.Index(base.shape[1], "float16", metric="ip")
    index.add(base, ids=[f"d{i}" for i in range(200)], payloads=[{"i": i, "tags": ["a", "b"]} for i in range(200)])
    chroma.export(index, f"chroma://{tmp_path}", "idx")
    back = chroma.import_(f"chroma://{tmp_path}", "idx")
    assert back.metric == "ip" and back.codec.spec == "float16"
    assert back.payloads(["d0", "d150"]) == [{"i": 0, "tags": ["a", "b"]}, {"i": 150, "tags": ["a", "b"]}]
    np.testing.assert_allclose(back.get(["d7"]), index.get(["d7"]), atol=1e-3)
    ids, scores = chroma.search(f"chroma://{tmp_path}", "idx", base[:3], k=1)
    assert ids[:, 0].tolist() == ["d0", "d1", "d2"]
    np.testing.assert_allclose(scores[:, 0], np.sum(base[:3] ** 2, axis=1), rtol=1e-3)  # 1 - (1 - ip)
    with pytest.raises(VectroError, match="payload field 'nested'"):
        chroma.export(base[:2], f"chroma://{tmp_path}", "bad", payloads=[{"nested": {"a": 1}}, None])
    with pytest.raises(VectroError, match="Chroma collection names"):
        chroma.export(base[:2], f"chroma://{tmp_path}", "x")
