"""vectro.Index: recall on real data, ids across add/remove/save/load, filters, ANN, crash safety."""

import numpy as np
import pytest

import vectro
import vectro.bench
import vectro.format.container
from vectro.errors import FormatError, VectroError
from vectro.index import ann as ann_module


def recall(found, truth, k=10):
    return np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(found, truth)])


def brute_force(X, Q, k, metric="cosine"):
    """Independent float64 reference: (top-k rows, their scores) by cosine, inner product or -|q - x|^2."""
    X, Q = np.asarray(X, np.float64), np.asarray(Q, np.float64)
    if metric == "cosine":
        X = X / np.linalg.norm(X, axis=1, keepdims=True)
        Q = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    S = -((Q[:, None, :] - X[None, :, :]) ** 2).sum(axis=2) if metric == "l2" else Q @ X.T
    rows = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return rows, np.take_along_axis(S, rows, axis=1)


@pytest.fixture(scope="module")
def truth(sample):
    base, queries = sample
    return brute_force(base, queries, 10)[0]


# Measured on the bundled slice (5,000 x 384 real embeddings, 200 queries); floors sit just below.
@pytest.mark.parametrize(
    "codec, rerank, oversampling, floor",
    [("int8", None, 1, 0.99), ("int8", "float32", 4, 0.998), ("binary", "int8", 10, 0.99),
     ("binary", None, 1, 0.70), ("nf4", "float32", 4, 0.998), ("pca:128+int8", "float32", 10, 0.99)],
)
def test_recall_on_real_slice(sample, truth, codec, rerank, oversampling, floor):
    base, queries = sample
    index = vectro.Index(384, codec, rerank=rerank)
    if not index.is_trained:
        index.train(base)
    index.add(base)
    ids, scores = index.search(queries, 10, oversampling=oversampling)
    assert ids.shape == scores.shape == (200, 10)
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    assert recall(ids, truth) >= floor


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_float32_codec_gives_exact_results_for_each_metric(clustered, metric):
    X = clustered * np.linspace(0.5, 2, len(clustered))[:, None].astype(np.float32)  # unequal norms
    index = vectro.Index(23, "float32", metric=metric)
    index.add(X)
    ids, scores = index.search(X[:20] + 0.01, 5)
    expected_ids, expected_scores = brute_force(X, X[:20] + 0.01, 5, metric)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-4, atol=1e-5)


def test_brute_force_ranks_exactly_by_the_codes(sample):
    base, queries = sample
    index = vectro.Index(384, "int4")
    index.add(base)
    ids, scores = index.search(queries[:30], 10)
    codec = vectro.make_codec("int4")  # decode the stored rows, then rank them in float64 by cosine
    decoded = codec.decode(codec.encode(base / np.linalg.norm(base, axis=1, keepdims=True)))
    expected_ids, expected_scores = brute_force(decoded, queries[:30], 10)
    assert recall(ids, expected_ids) >= 0.99  # identical up to float ties
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)


def test_single_query_and_fewer_than_k(clustered):
    index = vectro.Index(23, "int8")
    index.add(clustered[:3])
    ids, scores = index.search(clustered[0], 5)
    assert ids.shape == (5,) and ids[0] == 0
    assert ids[3:].tolist() == [-1, -1] and np.isneginf(scores[3:]).all()


def test_string_ids_upsert_remove_get(clustered):
    index = vectro.Index(23, "float32")
    names = np.array([f"doc-{i}" for i in range(100)])
    returned = index.add(clustered[:100], ids=names)
    assert returned.tolist() == names.tolist() and len(index) == 100
    index.add(clustered[200:201], ids=["doc-7"])  # upsert: doc-7 now holds row 200's vector
    assert len(index) == 100
    np.testing.assert_allclose(index.get(["doc-7"])[0], clustered[200] / np.linalg.norm(clustered[200]), rtol=1e-6)
    ids, _ = index.search(clustered[200], 1)
    assert ids[0] == "doc-7"
    assert index.remove(["doc-1", "doc-2"]) == 2 and len(index) == 98 and "doc-1" not in index
    ids, _ = index.search(clustered[1], 100)
    assert "doc-1" not in ids.tolist() and ids.tolist().count(None) == 2
    with pytest.raises(VectroError, match="unknown id 'doc-1'"):
        index.get(["doc-1"])
    with pytest.raises(VectroError, match="unknown id 'nope'"):
        index.remove(["doc-3", "nope"])
    assert "doc-3" in index  # nothing removed by the failed call
    with pytest.raises(VectroError, match="string ids"):
        index.add(clustered[:1])
    int_index = vectro.Index(23)
    int_index.add(clustered[:1], ids=[3])
    with pytest.raises(VectroError, match="int ids"):
        int_index.add(clustered[:1], ids=["x"])


def test_filters_return_k_hits_whenever_k_are_allowed(sample):
    base, queries = sample
    index = vectro.Index(384, "int8")
    index.add(base)
    allowed = np.arange(0, 5000, 97)  # 52 allowed vectors, few of them near any query
    ids, scores = index.search(queries, 10, filter=allowed)
    assert np.isin(ids, allowed).all() and np.isfinite(scores).all()
    exact = brute_force(base[allowed], queries, 10)[0]
    assert recall(ids, allowed[exact]) >= 0.95
    mask = np.zeros(5000, dtype=bool)
    mask[[5, 6, 7]] = True
    ids, _ = index.search(queries[0], 10, filter=mask)
    assert sorted(ids[:3].tolist()) == [5, 6, 7] and ids[3:].tolist() == [-1] * 7
    listed, _ = index.search(queries[0], 10, filter=mask.tolist())  # a list of booleans is a mask too
    assert listed.tolist() == ids.tolist()
    with pytest.raises(VectroError, match="one entry per vector"):
        index.search(queries[0], 10, filter=np.ones(10, dtype=bool))


@pytest.mark.parametrize("as_type", [list, set, np.array])
def test_id_filters_allow_exactly_the_live_ids_named(as_type, rng):
    """An id filter (list, set or array; string ids) allows the rows of the named ids that are live
    now: unknown, removed and replaced ids resolve as one id at a time would."""
    index = vectro.Index(8, "int8")
    X = rng.standard_normal((40, 8)).astype(np.float32)
    index.add(X[:30], ids=[f"doc-{i}" for i in range(30)])
    index.remove(["doc-3", "doc-4"])
    index.add(X[30:32], ids=["doc-5", "doc-40"])  # doc-5 replaced: its new row, not its old one
    named = ["doc-1", "doc-3", "doc-5", "doc-40", "nobody", "doc-29", "doc-1"]
    view = index._snapshot(lookup=True).ids
    allowed = view.allowed_rows(as_type(named))
    expected = {view._row(key) for key in named} - {None}
    assert set(np.flatnonzero(allowed).tolist()) == expected
    assert len(expected) == 4 and view._row("doc-5") == 30  # row 5 was its first
    ids, _ = index.search(X[5], 10, filter=as_type(named))
    assert sorted(i for i in ids.tolist() if i is not None) == ["doc-1", "doc-29", "doc-40", "doc-5"]


def test_bad_input_is_named(clustered):
    with pytest.raises(VectroError, match=r"the dimension, not the vectors: Index\(23, codec"):
        vectro.Index(clustered)
    index = vectro.Index(23, "int8")
    with pytest.raises(VectroError, match="22 dimensions, but 23"):
        index.add(clustered[:, :22])
    bad = clustered.copy()
    bad[4, 1] = np.nan
    with pytest.raises(VectroError, match="row 4"):
        index.add(bad)
    assert len(index) == 0
    index.add(clustered)
    with pytest.raises(VectroError, match="queries"):
        index.search(np.full(23, np.inf), 3)
    with pytest.raises(VectroError, match="appears more than once"):
        index.add(clustered[:2], ids=[1000, 1000])
    with pytest.raises(VectroError, match="unknown metric"):
        vectro.Index(23, metric="manhattan")
    with pytest.raises(VectroError, match="metric 'hamming' compares sign bits: it needs codec='binary'"):
        vectro.Index(23, metric="hamming")  # int8 codes have no sign bits to count


def test_save_load_keeps_ids_tombstones_and_results(tmp_path, sample):
    base, queries = sample
    index = vectro.Index(384, "binary", rerank="float32")
    index.add(base[:3000], ids=np.arange(3000) * 10)
    index.remove([0, 10, 20])
    index.add(base[3000:3100], ids=np.arange(100) * 10 + 5)
    before = index.search(queries, 10, oversampling=10)
    path = index.save(tmp_path / "i.vxi")
    loaded = vectro.Index.load(path)
    assert len(loaded) == 3097 and 0 not in loaded and 15 in loaded
    assert loaded.memory_usage()["mapped_bytes"] >= 3100 * 48  # codes stay on disk
    after = loaded.search(queries, 10, oversampling=10)
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_allclose(after[1], before[1], rtol=1e-6)
    loaded.add(base[4000:4010], ids=np.arange(10) + 1)  # writes after a memory-mapped load copy first
    assert len(loaded) == 3106  # id 5 existed: replaced; 10 had been removed: added again
    assert loaded.search(base[4003], 1)[0][0] == 4 and loaded.search(base[4004], 1)[0][0] == 5
    assert len(vectro.Index.load(path)) == 3097  # the file is untouched


def test_compact_reclaims_rows_and_keeps_ids(sample):
    base, queries = sample
    index = vectro.Index(384, "int8")
    index.add(base[:1000])
    index.remove(np.arange(0, 1000, 2))
    before = index.search(queries, 10)
    rows_before = index.memory_usage()["ram"]["codes"]
    index.compact()
    assert index._codes.rows == 500 and index.memory_usage()["ram"]["codes"] < rows_before
    after = index.search(queries, 10)
    np.testing.assert_array_equal(after[0], before[0])
    assert index.ids().tolist() == list(range(1, 1000, 2))


def test_failed_save_keeps_the_old_file(tmp_path, sample, monkeypatch):
    index = vectro.Index(384, "int8")
    index.add(sample[0][:100])
    path = index.save(tmp_path / "i.vxi")
    before = path.read_bytes()
    index.add(sample[0][100:200])

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("vectro.format.container.ContainerWriter._finish", crash)
    with pytest.raises(OSError, match="disk full"):
        index.save(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["i.vxi"]


def test_corrupt_or_foreign_index_files_are_refused(tmp_path, sample):
    index = vectro.Index(384, "int8")
    index.add(sample[0][:100])
    path = index.save(tmp_path / "i.vxi")
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="checksum mismatch"):
        vectro.Index.load(path)
    vectro.compress(sample[0][:10], "int8").save(tmp_path / "c.vectro")
    with pytest.raises(FormatError, match="not an index"):
        vectro.Index.load(tmp_path / "c.vectro")
    with pytest.raises(VectroError, match="does not exist"):
        vectro.Index.load(tmp_path / "missing.vxi")


@pytest.fixture
def hnsw_data(monkeypatch):
    monkeypatch.setattr(ann_module, "SCAN_BELOW", 100)  # take the graph path on a test-sized index
    data = vectro.bench.clustered_vectors(4200, 48, seed=3, clusters=40)
    return data[:4000], data[4000:]


def test_binary_hnsw_uses_a_hamming_graph_then_reranks(sample, monkeypatch):
    """Measured on the real slice: brute force 0.996, Hamming graph 0.97 at oversampling 10."""
    monkeypatch.setattr(ann_module, "SCAN_BELOW", 100)
    base, queries = sample
    index = vectro.Index(384, "binary", rerank="int8", ann="hnsw")
    index.add(base)
    assert recall(index.search(queries, 10, oversampling=10, ef=128)[0], brute_force(base, queries, 10)[0]) >= 0.95


@pytest.mark.parametrize("codec", ["int8", "int4"])
def test_hnsw_mode_matches_brute_force_recall(hnsw_data, codec):
    base, queries = hnsw_data
    truth = brute_force(base, queries, 10)[0]
    exact = vectro.Index(48, codec, rerank="float32")
    exact.add(base)
    graph = vectro.Index(48, codec, rerank="float32", ann="hnsw")
    graph.add(base)
    brute = recall(exact.search(queries, 10, oversampling=4)[0], truth)
    approx = recall(graph.search(queries, 10, oversampling=4, ef=128)[0], truth)
    assert approx >= brute - 0.03 and approx >= 0.85


def test_hnsw_filters_removals_save_and_compact(tmp_path, hnsw_data):
    base, queries = hnsw_data
    index = vectro.Index(48, "int8", ann="hnsw")
    index.add(base)
    allowed = np.arange(0, 4000, 3)
    ids, _ = index.search(queries, 10, filter=allowed, ef=128)
    assert np.isin(ids, allowed).all()
    index.remove(np.arange(0, 4000, 2))
    ids, _ = index.search(queries, 10, ef=128)
    assert (ids >= 0).all() and (ids % 2 == 1).all()  # ten real hits, all of them live (odd) ids
    loaded = vectro.Index.load(index.save(tmp_path / "h.vxi"))
    np.testing.assert_array_equal(loaded.search(queries, 10, ef=128)[0], ids)
    loaded.compact()
    truth = np.arange(1, 4000, 2)[brute_force(base[1::2], queries, 10)[0]]
    assert recall(loaded.search(queries, 10, ef=128)[0], truth) >= 0.9


# ----- issue #14: empty indexes, filtered ANN, lazy checksums -------------------------------------
@pytest.mark.parametrize("rerank", [None, "float32", "int8"])
def test_empty_index_searches_saves_loads_and_grows(tmp_path, clustered, rerank):
    """Before: an empty index with re-ranking raised TypeError, and a saved empty index could not be extended."""
    index = vectro.Index(23, "int8", rerank=rerank)
    ids, scores = index.search(clustered[:2], 3, oversampling=2)
    assert ids.tolist() == [[-1] * 3] * 2 and np.isneginf(scores).all()
    loaded = vectro.Index.load(index.save(tmp_path / "empty.vxi"))
    assert len(loaded) == 0 and loaded.search(clustered[0], 2)[0].tolist() == [-1, -1]
    loaded.add(clustered[:10])
    assert len(loaded) == 10 and loaded.search(clustered[4], 1)[0][0] == 4
    loaded.remove(np.arange(10))
    loaded.compact()  # remove everything, compact, save, load, add again
    again = vectro.Index.load(loaded.save(tmp_path / "emptied.vxi"))
    assert len(again) == 0
    again.add(clustered[10:20], ids=np.arange(10, 20))
    ids, _ = again.search(clustered[15], 3, oversampling=2)
    assert ids[0] == 15 and set(ids.tolist()) <= set(range(10, 20))


def test_untrained_empty_index_saves_and_is_trained_after_loading(tmp_path, sample):
    base, _ = sample
    loaded = vectro.Index.load(vectro.Index(384, "int8-dim").save(tmp_path / "u.vxi"))
    assert not loaded.is_trained
    loaded.train(base)
    loaded.add(base[:50])
    assert loaded.search(base[7], 1)[0][0] == 7


@pytest.mark.parametrize("n_allowed", [3, 122, 600])
def test_filtered_hnsw_returns_k_whenever_k_are_allowed(hnsw_data, n_allowed):
    """Before: with 122 of 4,000 allowed, 36 of 100 queries got fewer than k hits from the graph."""
    base, queries = hnsw_data
    index = vectro.Index(48, "int8", ann="hnsw")
    index.add(base)
    allowed = np.sort(np.random.default_rng(n_allowed).choice(len(base), n_allowed, replace=False))
    ids, scores = index.search(queries, 10, filter=allowed, ef=32)
    hits = min(10, n_allowed)
    assert (ids[:, :hits] >= 0).all() and np.isin(ids[:, :hits], allowed).all()
    assert (ids[:, hits:] == -1).all() and np.isfinite(scores[:, :hits]).all()
    # independent float64 reference over the allowed vectors: the hits are near-exact neighbours
    unit = base[allowed].astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    truth = allowed[np.argsort(-(queries.astype(np.float64) @ unit.T), axis=1)[:, :hits]]
    assert recall(ids, truth, hits) >= 0.9


def test_memory_mapped_load_checks_the_codes_on_first_use(tmp_path, sample, monkeypatch):
    base, queries = sample
    index = vectro.Index(384, "int8", rerank="float32")
    index.add(base[:2000])
    path = index.save(tmp_path / "i.vxi")
    checked = []
    original = vectro.format.container.check_section
    monkeypatch.setattr(vectro.format.container, "check_section",
                        lambda p, entry, f=None: (checked.append(entry["name"]), original(p, entry, f))[1])
    loaded = vectro.Index.load(path)
    assert "codes" not in checked and "rerank" not in checked and "ids_int" in checked  # not read at load
    loaded.search(queries[0], 5)
    assert checked.count("codes") == checked.count("rerank") == 1
    loaded.search(queries[0], 5)
    assert checked.count("codes") == 1  # once only
    data = bytearray(path.read_bytes())
    _, arrays = vectro.format.container.read_container(path, verify=False)
    data[arrays["rerank"].offset + 1000] ^= 0xFF  # a byte of the float32 re-rank rows
    del arrays
    path.write_bytes(bytes(data))
    corrupt = vectro.Index.load(path)  # opening reads no rows...
    with pytest.raises(FormatError, match="checksum mismatch in section 'rerank'"):
        corrupt.search(queries[0], 5)  # ...the first search finds the damage
    with pytest.raises(FormatError, match="checksum mismatch"):
        vectro.Index.load(path, mmap=False)  # read into RAM: checked at once


def test_payloads_follow_ids_through_upsert_compact_save_and_load(tmp_path, clustered):
    index = vectro.Index(clustered.shape[1], "int8")
    index.add(clustered[:3], ids=["a", "b", "c"], payloads=[{"n": 1}, None, {"tags": ["x"]}])
    index.add(clustered[3:4], ids=["a"], payloads=[{"n": 2}])  # upsert replaces the payload too
    index.remove(["b"])
    index.compact()
    assert index.payloads(["a", "c"]) == [{"n": 2}, {"tags": ["x"]}]
    index.save(tmp_path / "p.vxi")
    loaded = vectro.Index.load(tmp_path / "p.vxi")
    assert loaded.payloads(["c", "a"]) == [{"tags": ["x"]}, {"n": 2}]
    with pytest.raises(VectroError, match="payload 0 cannot be stored as JSON"):
        index.add(clustered[:1], ids=["z"], payloads=[{"bad": object()}])
    with pytest.raises(VectroError, match="one entry per vector"):
        index.add(clustered[:2], ids=["y", "z"], payloads=[{}])


def test_mask_marks_the_ids_held_in_ids_order():
    """Index.mask: True where ids() holds one of the ids (unknown ids ignored), after removals and a
    replacement; as a filter it gives what the id list gives."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((50, 16)).astype(np.float32)
    index = vectro.Index(16, "int8")
    index.add(X, ids=[f"d{i}" for i in range(50)])
    index.remove(["d3", "d10"])
    index.add(X[:1], ids=["d7"])  # replaced: now the last row
    wanted = {"d7", "d10", "d11", "d40", "nobody"}
    mask = index.mask(wanted)
    assert mask.dtype == bool and mask.tolist() == [i in wanted for i in index.ids().tolist()]
    by_ids = index.search(X[:4], k=3, filter=sorted(wanted))
    by_mask = index.search(X[:4], k=3, filter=mask)
    assert by_mask[0].tolist() == by_ids[0].tolist()
    np.testing.assert_array_equal(by_mask[1], by_ids[1])
