"""FAISS round trips keep the codes byte for byte; FAISS searches on them agree with vectro's."""

import numpy as np
import pytest

import vectro
from vectro.errors import VectroError

faiss = pytest.importorskip("faiss")
from vectro.integrations.frameworks import faiss as vfaiss  # noqa: E402



@pytest.fixture(scope="module", autouse=True)
def one_faiss_thread():
    """FAISS's OpenMP threads spin while waiting: on a shared, loaded machine one thread is far faster."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(threads)


MAPPED = ["float32", "float16", "bf16", "int8-dim", "pq:8", "pq:16x4", "opq:8", "binary"]


@pytest.fixture(scope="module")
def small(sample):
    base, queries = sample
    return base[:600], queries[:20]


@pytest.mark.parametrize("spec", MAPPED)
@pytest.mark.parametrize("hnsw_m", [None, 16])
def test_vectro_to_faiss_and_back_keeps_every_code_byte(small, spec, hnsw_m):
    base, _ = small
    packed = vectro.compress(base, spec, metric="ip")
    index = vfaiss.to_faiss(packed, hnsw_m=hnsw_m)
    assert index.ntotal == len(base)
    back, ids = vfaiss.from_faiss(index)
    assert ids is None and back.codec.spec == packed.codec.spec
    np.testing.assert_array_equal(back.codes, packed.codes)
    np.testing.assert_allclose(back.decompress(), packed.decompress(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("spec", ["float16", "int8-dim", "pq:8", "opq:8"])
def test_faiss_search_on_vectro_codes_matches_vectro_search(small, spec):
    base, queries = small
    vindex = vectro.Index(384, spec, metric="ip")
    vindex.train(base)
    vindex.add(base, ids=np.arange(len(base)) * 10)
    index = vfaiss.to_faiss(vindex)
    scores, ids = index.search(queries, 10)
    v_ids, v_scores = vindex.search(queries, 10)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, v_ids)]) >= 0.98  # ties aside
    np.testing.assert_allclose(scores[:, 0], v_scores[:, 0], rtol=2e-3, atol=2e-4)


def test_binary_index_hamming_search_matches_vectro_hamming(small):
    base, queries = small
    packed = vectro.compress(base, "binary")
    index = vfaiss.to_faiss(packed)
    q_codes = packed.codec.encode(queries)
    distances, _ = index.search(q_codes, 5)
    expected = np.sort(packed.codec.hamming(q_codes, packed.codes), axis=1)[:, :5]
    np.testing.assert_array_equal(distances, expected)


def test_native_faiss_sq8_and_pq_read_into_vectro(small, tmp_path):
    base, queries = small
    for index in (faiss.IndexScalarQuantizer(384, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT),
                  faiss.IndexPQ(384, 8, 8, faiss.METRIC_INNER_PRODUCT)):
        index.train(base)
        index.add(base)
        vfaiss.write_index(index, tmp_path / "x.faiss")
        packed, _ = vfaiss.from_faiss(vfaiss.read_index(tmp_path / "x.faiss"))
        np.testing.assert_allclose(packed.decompress(), index.reconstruct_n(0, index.ntotal), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(packed.codes, faiss.vector_to_array(index.codes).reshape(len(base), -1))
        again = vfaiss.to_faiss(packed)  # and back to FAISS: identical search results
        np.testing.assert_array_equal(again.search(queries, 10)[1], index.search(queries, 10)[1])


def test_int_ids_travel_through_an_idmap(small):
    base, _ = small
    vindex = vectro.Index(384, "binary")
    vindex.add(base[:100], ids=np.arange(100) + 1000)
    packed, ids = vfaiss.from_faiss(vfaiss.to_faiss(vindex, hnsw_m=8))
    np.testing.assert_array_equal(ids, np.arange(100) + 1000)
    np.testing.assert_array_equal(packed.codes, vindex.codes())


def test_codecs_without_a_faiss_counterpart_are_refused(small):
    with pytest.raises(VectroError, match="no FAISS counterpart"):
        vfaiss.to_faiss(vectro.compress(small[0][:50], "int8"))
    index = vectro.Index(384, "int8-dim").train(small[0])
    index.add(small[0][:10], ids=[f"d{i}" for i in range(10)])
    with pytest.raises(VectroError, match="string ids"):
        vfaiss.to_faiss(index)


def test_convert_cli_round_trip(small, tmp_path, capsys):
    from vectro.cli import main

    def run(*args):
        code = main([str(a) for a in args])
        return code, capsys.readouterr()

    a, b, npy = tmp_path / "a.vectro", tmp_path / "b.vectro", tmp_path / "base.npy"
    np.save(npy, small[0])
    assert run("compress", "--in", npy, "--out", a, "-c", "pq:8")[0] == 0
    code, _ = run("convert", "--in", a, "--out", tmp_path / "a.faiss", "--hnsw-m", "16")
    assert code == 0
    assert isinstance(faiss.read_index(str(tmp_path / "a.faiss")), faiss.IndexHNSWPQ)
    assert run("convert", "--in", tmp_path / "a.faiss", "--out", b)[0] == 0
    np.testing.assert_array_equal(vectro.load(b).codes, vectro.load(a).codes)
    assert run("convert", "--in", a, "--out", tmp_path / "a.parquet")[0] == 0
    assert run("convert", "--in", tmp_path / "a.parquet", "--out", tmp_path / "a.vxi")[0] == 0
    assert len(vectro.Index.load(tmp_path / "a.vxi")) == 600
    code, captured = run("convert", "--in", a, "--out", tmp_path / "a.txt")
    assert code == 2 and "cannot convert to" in captured.err
    code, captured = run("convert", "--in", npy, "--out", tmp_path / "c.faiss", "-c", "float16")
    assert code == 0 and faiss.read_index(str(tmp_path / "c.faiss")).ntotal == 600
