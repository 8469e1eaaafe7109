"""vectro's own HNSW graph (index/ann.py `Links`, walked and built by the C kernels on the index's codes)."""

import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import vectro
import vectro.bench
from vectro import kernels
from vectro.errors import FormatError
from vectro.index import ann as ann_module

pytestmark = pytest.mark.skipif(not kernels.native(), reason="vectro's graph is built by the C kernels")


@pytest.fixture
def data(monkeypatch):
    monkeypatch.setattr(ann_module, "SCAN_BELOW", 100)  # take the graph path on a test-sized index
    data = vectro.bench.clustered_vectors(4100, 48, seed=5, clusters=40)
    return data[:4000], data[4000:]


def decoded_truth(index, base, queries, k=10):
    """Independent float64 reference on what the index holds: the top-k rows and scores of the decoded codes."""
    X = index.codec.decode(index.codes()).astype(np.float64)
    Q = np.asarray(queries, np.float64)
    if index.metric == "cosine":
        Q = Q / np.linalg.norm(Q, axis=1, keepdims=True)
        S = Q @ X.T / np.linalg.norm(X, axis=1)
    elif index.metric == "l2":
        S = -((Q[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    else:
        S = Q @ X.T
    rows = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return rows, S


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
@pytest.mark.parametrize("codec", ["int8", "float32", "nf4", "int4", "int2", "rq:4"])
def test_graph_finds_the_exact_neighbours_on_the_codes_and_scores_them_exactly(data, codec, metric):
    base, queries = data
    index = vectro.Index(48, codec, metric=metric, ann="hnsw")
    if codec.startswith("rq"):
        index.train(base)
    index.add(base)
    assert index.ann.own  # every codec here has a row kernel: no FAISS copy
    ids, scores = index.search(queries, 10, ef=128)
    rows, S = decoded_truth(index, base, queries)
    found = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, rows)])
    assert found >= 0.97, found
    expected = np.take_along_axis(S, ids, axis=1)  # ids are rows here: added in order from 0
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-3 * np.abs(expected).max())


def test_graph_memory_is_links_only_and_faiss_is_never_imported(tmp_path):
    """The index holds its codes and the graph's links (2M int32 at level 0, about 1/M of nodes with M more
    above), and works in a process where FAISS cannot be imported."""
    script = textwrap.dedent("""
        import sys
        sys.modules["faiss"] = None  # importing FAISS now fails
        import numpy as np, vectro, vectro.bench
        from vectro.index import ann
        ann.SCAN_BELOW = 100
        X = vectro.bench.clustered_vectors(3000, 32, seed=1, clusters=20)
        index = vectro.Index(32, "int8", ann="hnsw", hnsw_m=16)
        index.add(X[:2000]); index.add(X[2000:])  # two adds: the graph grows in place
        ids, _ = index.search(X[:50], 5, ef=64)
        assert (ids[:, 0] == np.arange(50)).all(), ids[:, 0]
        ram = index.memory_usage()["ram"]
        print(ram["ann"], ram["codes"])
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    graph_bytes, code_bytes = map(int, done.stdout.split())
    links = 3000 * (2 * 16 * 4 + 4)  # level-0 lists and the upper-block pointer of each node
    assert links < graph_bytes <= 1.25 * links + 3000 * 16 * 4 * 0.2  # capacity slack and the upper levels
    assert code_bytes >= 3000 * 36


def test_searches_run_while_another_thread_adds(data):
    """Searches walk the graph without a lock while a writer grows it: each returns k rows that exist, scored
    as their codes score (checked after the writer ends, against the decoded codes)."""
    base, queries = data
    index = vectro.Index(48, "int8", ann="hnsw")
    index.add(base[:1000])
    found, errors = [], []

    def writer():
        for start in range(1000, 4000, 250):
            index.add(base[start : start + 250], ids=np.arange(start, start + 250))

    def reader():
        try:
            for i in range(60):
                ids, scores = index.search(queries[i % len(queries)], 10, ef=64)
                found.append((i % len(queries), ids, scores))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    rows, S = decoded_truth(index, base, queries)
    for query, ids, scores in found:
        assert (ids >= 0).all() and len(set(ids.tolist())) == 10
        np.testing.assert_allclose(scores, S[query, ids], rtol=1e-4, atol=1e-4)
    final = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(index.search(queries, 10, ef=128)[0], rows)])
    assert final >= 0.97


def test_an_index_saved_with_a_faiss_graph_still_loads_searches_and_grows(tmp_path, data, monkeypatch):
    pytest.importorskip("faiss")
    base, queries = data
    with monkeypatch.context() as patch:  # an index written before vectro's graph: FAISS's HNSW-SQ8
        patch.setattr(ann_module, "needs_faiss", lambda codec, dim: True)
        old = vectro.Index(48, "int8", ann="hnsw")
        old.add(base[:3000])
        assert not old.ann.own
        path = old.save(tmp_path / "old.vxi")
        expected = old.search(queries, 10, ef=64)
    loaded = vectro.Index.load(path)
    assert not loaded.ann.own
    ids, scores = loaded.search(queries, 10, ef=64)
    np.testing.assert_array_equal(ids, expected[0])
    loaded.add(base[3000:], ids=np.arange(3000, 4000))
    rows, _ = decoded_truth(loaded, base, queries)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(loaded.search(queries, 10, ef=128)[0], rows)]) >= 0.9


def test_saved_graph_round_trips_and_a_damaged_one_is_refused(tmp_path, data):
    base, queries = data
    index = vectro.Index(48, "nf4", metric="l2", ann="hnsw")
    index.add(base)
    loaded = vectro.Index.load(index.save(tmp_path / "g.vxi"))
    assert loaded.ann.own
    for a, b in zip(index.search(queries, 10, ef=64), loaded.search(queries, 10, ef=64)):
        np.testing.assert_array_equal(a, b)
    blob = index.ann.serialise().copy()
    links = ann_module.Links.from_bytes(blob)
    assert links.ntotal == 4000 and links.entries == index.ann.index.entries
    damaged = blob.copy()
    damaged[-4:] = np.frombuffer(np.int32(4000).tobytes(), np.uint8)  # the last link points past the last node
    with pytest.raises(FormatError, match="links to nodes"):
        ann_module.Links.from_bytes(damaged)
    with pytest.raises(FormatError, match="does not hold"):
        ann_module.Links.from_bytes(blob[:-8])
    upper_at = links.upper_at.copy()
    links.upper_at[np.flatnonzero(upper_at < 0)[0]] = -5  # a block before the first
    with pytest.raises(FormatError, match="blocks it does not hold"):
        ann_module.Links.from_bytes(links.to_bytes())
    links.upper_at = upper_at
    with pytest.raises(FormatError, match="4000 nodes for 3999 rows"):
        vectro.Index(48, "nf4", metric="l2", ann="hnsw").ann.deserialise(blob, 3999)
    # a top level above the entry's own: the walk reads other nodes' blocks, or none, never past the array
    links.entries[-1] = (links.entries[-1][0], ann_module.MAX_LEVEL)
    loaded.ann.index = links
    loaded._publish()
    ids, _ = loaded.search(queries, 10, ef=64)
    assert ((ids >= 0) & (ids < 4000)).all()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_a_thread_that_searched_leaves_no_memory_behind(monkeypatch):
    """Each search thread keeps one walker (visited marks as long as the graph) for its next search; it is
    freed when the thread ends. Before, 200 short-lived threads kept 200 of them (about 40 MB here)."""
    monkeypatch.setattr(ann_module, "SCAN_BELOW", 100)
    X = np.random.default_rng(0).standard_normal((100_000, 8)).astype(np.float32)
    index = vectro.Index(8, "int8", ann="hnsw", hnsw_m=4, ef_construction=16)
    index.add(X)

    def resident_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    index.search(X[:1], 5)
    before = resident_mb()
    for _ in range(200):
        t = threading.Thread(target=index.search, args=(X[:1], 5))
        t.start()
        t.join()
    assert resident_mb() - before < 15
