"""Parquet of codes: written by vectro, read by DuckDB and Polars (no vectro involved), loaded back."""

import json

import numpy as np
import pytest

import vectro
from vectro.errors import FormatError
from vectro.integrations.frameworks import arrow

pytest.importorskip("pyarrow")


@pytest.mark.parametrize("spec", ["int8", "int8:64", "int16", "nf4", "int4:32", "float32", "float16", "binary",
                                  "pq:16", "pca:64+int8", "int8-dim"])
def test_parquet_round_trip_keeps_codes_and_codec_state(sample, tmp_path, spec):
    base, queries = sample
    packed = vectro.compress(base[:600], spec)
    arrow.write_parquet(packed, tmp_path / "codes.parquet")
    back = arrow.read_parquet(tmp_path / "codes.parquet")
    assert back.codec.spec == packed.codec.spec
    np.testing.assert_array_equal(back.codes, packed.codes)
    np.testing.assert_array_equal(back.score(queries[:5]), packed.score(queries[:5]))


def test_duckdb_decodes_int8_codes_without_vectro(sample, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    base, _ = sample
    packed = vectro.compress(base[:300], "int8")
    path = tmp_path / "codes.parquet"
    arrow.write_parquet(packed, path)
    con = duckdb.connect()
    rows = con.execute(f"SELECT list_transform(codes, lambda x: x * scales[1]) FROM '{path}'").fetchall()
    decoded_by_duckdb = np.array([r[0] for r in rows], dtype=np.float32)
    np.testing.assert_allclose(decoded_by_duckdb, packed.decompress(), rtol=1e-6, atol=1e-8)
    # the codec spec travels in the schema metadata, readable by DuckDB too
    meta = dict(con.execute(f"SELECT decode(key), decode(value) FROM parquet_kv_metadata('{path}')").fetchall())
    assert json.loads(meta["vectro"])["codec"]["spec"] == "int8"


def test_polars_reads_codes_and_scales(sample, tmp_path):
    pl = pytest.importorskip("polars")
    base, _ = sample
    index = vectro.Index(384, "int8:128")
    index.add(base[:300], ids=[f"doc-{i}" for i in range(300)])
    arrow.write_parquet(index, tmp_path / "index.parquet")
    frame = pl.read_parquet(tmp_path / "index.parquet")
    assert frame.columns == ["id", "codes", "scales"]
    assert frame["id"].to_list() == [f"doc-{i}" for i in range(300)]
    q, scales = index.codec.split(index.codes())
    np.testing.assert_array_equal(np.stack(frame["codes"].to_numpy()), q)
    np.testing.assert_array_equal(np.stack(frame["scales"].to_numpy()), scales)


def test_index_from_parquet_searches_like_the_original(sample, tmp_path):
    base, queries = sample
    index = vectro.Index(384, "nf4")
    index.add(base[:1000], ids=np.arange(1000) * 3)
    index.remove([0, 3])
    arrow.write_parquet(index, tmp_path / "index.parquet")
    back = arrow.read_parquet(tmp_path / "index.parquet", as_index=True)
    assert len(back) == 998
    ids_a, scores_a = index.search(queries[:10], 10)
    ids_b, scores_b = back.search(queries[:10], 10)
    np.testing.assert_array_equal(ids_a, ids_b)
    np.testing.assert_allclose(scores_a, scores_b, rtol=1e-6)


def test_foreign_parquet_is_refused_with_a_clear_error(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "other.parquet")
    with pytest.raises(FormatError, match="not written by vectro"):
        arrow.read_parquet(tmp_path / "other.parquet")
