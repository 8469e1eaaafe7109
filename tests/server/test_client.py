"""vectro.Client against a real server: every call, numpy in and out, one exception type."""

import gc
import pickle
import threading

import numpy as np
import pytest

import vectro

from .conftest import exact_top
from .process import Server, free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("client")
    (folder / "keys.txt").write_text("admin:client-test-key-0123456789\nread:client-read-key-0123456789\n")
    s = Server(folder / "d", "--api-key-file", folder / "keys.txt")
    yield s
    s.stop()


def test_client_mirrors_the_api(server, sample):
    base, queries = sample
    X = base[:1000]
    with vectro.Client(server.url, api_key="client-test-key-0123456789") as client:
        assert client.health()["auth"] is True
        info = client.create_collection("docs", dimension=384, codec="int8", get_or_create=True)
        assert info["count"] == 0 and client.create_collection("docs", 384, get_or_create=True)["name"] == "docs"
        payloads = [{"g": i % 10} for i in range(len(X))]
        assert client.upsert("docs", X, ids=[f"d{i}" for i in range(len(X))], payloads=payloads, batch_size=300) == 1000
        assert client.count("docs") == 1000 and client.count("docs", filter={"g": 3}) == 100
        assert [c["name"] for c in client.list_collections()] == ["docs"]
        assert client.get_collection("docs")["count"] == 1000

        one = client.search("docs", queries[0], k=10, filter={"g": {"$in": [1, 2]}})
        allowed = {i for i in range(1000) if i % 10 in (1, 2)}
        truth = exact_top(X, queries[0], 10, allowed=allowed)
        assert one.ids.shape == (10,) and list(one.ids) == [f"d{t[0]}" for t in truth]
        np.testing.assert_allclose(one.scores, [t[1] for t in truth], rtol=1e-5)
        assert one.payloads[0]["g"] in (1, 2)
        batch = client.search("docs", queries[:3], k=5)
        assert batch.ids.shape == (3, 5) and batch.scores.dtype == np.float32
        ids, scores = batch
        assert list(ids[2]) == [f"d{t[0]}" for t in exact_top(X, queries[2], 5)]
        padded = client.search("docs", queries[0], k=5, filter={"g": 1, "$not": {"g": 1}})
        assert list(padded.ids) == [None] * 5 and np.isneginf(padded.scores).all()

        rec = client.get_record("docs", "d7")
        assert rec["payload"] == {"g": 7} and np.array_equal(rec["vector"], X[7])
        got = client.get("docs", ["d1", "nope", "d2"], with_vector=True)
        assert [r["id"] for r in got] == ["d1", "d2"] and got[1]["vector"].dtype == np.float32
        assert sorted(r["id"] for r in client.scroll("docs", filter={"g": 4}, limit=7)) == \
            sorted(f"d{i}" for i in range(1000) if i % 10 == 4)
        assert client.delete("docs", ids=["d1", "d2"]) == 2 and client.delete("docs", filter={"g": 3}) == 100
        assert client.count("docs") == 898
        assert client.optimize("docs")["count"] == 898 and client.snapshot("docs")["records"] == 898
        assert "vectro_requests_total" in client.metrics()

        with pytest.raises(vectro.ClientError) as info:
            client.get_record("docs", "d1")
        assert info.value.status == 404 and info.value.code == "not_found" and info.value.path == "id"
        with pytest.raises(vectro.ClientError) as info:
            client.upsert("docs", X[:2, :10])
        assert info.value.status == 422 and info.value.path == "records[0].vector"
        with pytest.raises(vectro.ClientError) as info:
            client.search("docs", queries[0], filter={"g": {"$like": 1}})
        assert info.value.status == 400 and "$like" in info.value.message
        client.delete_collection("docs")
        assert client.list_collections() == []


def test_client_errors_are_one_type(server):
    with pytest.raises(vectro.ClientError) as info:
        vectro.Client(server.url).list_collections()  # no key
    assert info.value.status == 401
    with pytest.raises(vectro.ClientError) as info:
        vectro.Client(server.url, api_key="client-read-key-0123456789").create_collection("x", 3)
    assert info.value.status == 403
    with pytest.raises(vectro.ClientError) as info:
        vectro.Client(f"http://127.0.0.1:{free_port()}").health()
    assert info.value.status is None and "cannot reach" in str(info.value)
    with pytest.raises(vectro.VectroError):
        vectro.Client("localhost:6390")


def test_one_client_shared_by_threads(server, sample):
    """http.client connections are not thread-safe: each thread must get its own, and every answer
    must be the one to its own request (a shared connection interleaves them, or fails)."""
    from concurrent.futures import ThreadPoolExecutor

    base, queries = sample
    X = base[:500]
    client = vectro.Client(server.url, api_key="client-test-key-0123456789")
    client.create_collection("shared", 384, codec="float32")
    client.upsert("shared", X, ids=[f"s{i}" for i in range(len(X))])
    truth = [[f"s{t[0]}" for t in exact_top(X, q, 5)] for q in queries[:40]]

    opened = []

    def ask(i):
        ids = list(client.search("shared", queries[i], k=5, with_payload=False).ids)
        opened.append(len(client._open))
        return ids

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, list(range(40)) * 3))
    assert answers == truth * 3
    assert max(opened) > 2  # the pool's threads had a connection each (and the main thread one)
    client.close()
    assert len(client._open) == 0 and ask(0) == truth[0]  # closed, and usable again

    # a connection lives as long as its thread: 30 short-lived threads leave none open behind them
    client.close()
    seen = []
    assert len(client._open) == 0
    for i in range(30):
        thread = threading.Thread(target=lambda: seen.append((ask(i) == truth[i], len(client._open))))
        thread.start()
        thread.join()
    gc.collect()
    assert seen == [(True, 1)] * 30 and len(client._open) == 0

    # pickled (e.g. for a process pool) without its connections, and it works on the other side
    copy = pickle.loads(pickle.dumps(client))
    assert list(copy.search("shared", queries[0], k=5).ids) == truth[0]
    client.delete_collection("shared")
    client.close()
    copy.close()
