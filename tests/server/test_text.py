"""Text on the collection routes: records carry text instead of vectors, searches take text.

A fake bag-of-words model (`fake_text.WordsModel`) stands in for a real one so each request takes
microseconds; the results are checked against NumPy brute force over the same model's vectors.
"""

import numpy as np
import pytest
from fastapi.testclient import TestClient

from vectro.embed import load_registry
from vectro.server import create_app
from vectro.server.text import Embedder

from .fake_text import DIM, WordsModel, WordsServer, words_vector
from .test_api import error

DOCS = ["the cat sat on the mat", "dogs chase cats in the park", "a recipe for lemon cake",
        "stock markets fell on monday", "the mat was red and the cat was black", "bake the cake for an hour"]


@pytest.fixture
def model():
    return WordsModel()


@pytest.fixture
def tclient(service, model):
    app = create_app(service)
    app.state.embedder = Embedder(load_registry())
    app.state.embedder.register(model, default=True)
    with TestClient(app) as c:
        yield c


def load_docs(client, name="docs", **config):
    r = client.post("/collections", json={"name": name, "model": "words", **config})
    assert r.status_code == 201, r.text
    records = [{"id": f"d{i}", "text": t, "payload": {"n": i}} for i, t in enumerate(DOCS)]
    assert client.put(f"/collections/{name}/records", json={"records": records}).json() == {"upserted": len(DOCS)}


def test_collection_model_sets_the_dimension_and_is_checked(tclient):
    info = tclient.post("/collections", json={"name": "t", "model": "words"}).json()
    assert info["dimension"] == DIM and info["model"] == "words"
    # no model but the default model's dimension: the default is recorded; another dimension: none
    assert tclient.post("/collections", json={"name": "d", "dimension": DIM}).json()["model"] == "words"
    assert tclient.post("/collections", json={"name": "v", "dimension": 5}).json()["model"] is None
    assert "unknown embedding model 'nope'" in error(tclient.post("/collections", json={"name": "x", "model": "nope"}),
                                                     422, "model")
    assert "makes 32-d vectors" in error(tclient.post("/collections", json={"name": "x", "model": "words",
                                                                             "dimension": 8}), 422, "dimension")
    error(tclient.post("/collections", json={"name": "x"}), 422, "dimension")


def test_text_records_are_embedded_and_keep_their_text(tclient, model):
    load_docs(tclient)
    assert len(model.calls) == 1 and len(model.calls[0]) == len(DOCS)  # one call for the batch
    rec = tclient.get("/collections/docs/records/d2").json()
    assert rec["payload"] == {"n": 2, "text": DOCS[2]}
    np.testing.assert_array_equal(np.array(rec["vector"], np.float32), words_vector(DOCS[2]))
    # vectors and texts in one batch; the caller's payload is not changed
    payload = {"k": 1}
    v = words_vector("anything at all")
    body = {"records": [{"id": "v", "vector": v.tolist()}, {"id": "t", "text": "lemon tart", "payload": payload}]}
    assert tclient.put("/collections/docs/records", json=body).status_code == 200
    assert tclient.get("/collections/docs/records/t").json()["payload"] == {"k": 1, "text": "lemon tart"}
    assert tclient.get("/collections/docs/records/v").json()["payload"] is None


@pytest.mark.parametrize("record, path", [
    ({"id": "a", "text": "x", "vector": [0.0] * DIM}, "records[0]"),
    ({"id": "a"}, "records[0]"),
    ({"id": "a", "text": "   "}, "records.text"),
    ({"id": "a", "text": 7}, "records[0].text"),
])
def test_bad_text_records_store_nothing(tclient, record, path):
    load_docs(tclient)
    r = tclient.put("/collections/docs/records", json={"records": [record]})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["path"] == path
    assert tclient.get("/collections/docs").json()["count"] == len(DOCS)


def test_text_search_matches_brute_force_and_shows_the_text(tclient):
    load_docs(tclient)
    X = np.stack([words_vector(t) for t in DOCS]).astype(np.float64)
    for query in ("cat on a mat", "cake recipe", "markets"):
        q = words_vector(query).astype(np.float64)
        expected = sorted(range(len(DOCS)), key=lambda i: (-(X[i] @ q), f"d{i}"))[:3]
        hits = tclient.post("/collections/docs/search", json={"text": query, "k": 3}).json()["results"]
        assert [h["id"] for h in hits] == [f"d{i}" for i in expected]
        assert [h["payload"]["text"] for h in hits] == [DOCS[i] for i in expected]
        np.testing.assert_allclose([h["score"] for h in hits], [X[i] @ q for i in expected], atol=1e-5)
    batch = tclient.post("/collections/docs/search", json={"texts": ["cat", "cake"], "k": 1}).json()["results"]
    best = [f"d{int(np.argmax(X @ words_vector(q).astype(np.float64)))}" for q in ("cat", "cake")]
    assert [row[0]["id"] for row in batch] == best == ["d4", "d5"]


def test_text_on_a_collection_without_model_is_refused(tclient):
    tclient.post("/collections", json={"name": "v", "dimension": 5})
    assert "has no embedding model" in error(tclient.put("/collections/v/records",
                                                         json={"records": [{"id": "a", "text": "hi"}]}), 422, "text")
    assert "has no embedding model" in error(tclient.post("/collections/v/search", json={"text": "hi"}), 422, "text")
    r = tclient.post("/collections/v/search", json={"text": "hi", "vector": [1.0] * 5})
    assert r.status_code == 422 and "exactly one of" in r.json()["error"]["message"]


def test_the_server_caches_embeddings_in_its_data_folder(service, tmp_path):
    """Through a registry model (a `vectro` provider on a local /embed): each text is embedded once."""
    with WordsServer() as words:
        registry = load_registry(words.registry(tmp_path / "models.toml"))
        app = create_app(service)
        app.state.embedder = Embedder(registry, cache_path=service.data_dir / "embeddings.sqlite")
        seen = []
        original = words.httpd.RequestHandlerClass.do_POST

        def counting(handler):
            seen.append(handler.path)
            original(handler)

        words.httpd.RequestHandlerClass.do_POST = counting
        with TestClient(app) as client:
            assert client.post("/collections", json={"name": "c", "dimension": DIM}).json()["model"] == "words"
            body = {"records": [{"id": "a", "text": "red apple"}, {"id": "b", "text": "green pear"}]}
            assert client.put("/collections/c/records", json=body).status_code == 200
            assert client.put("/collections/c/records", json=body).status_code == 200
            hit = client.post("/collections/c/search", json={"text": "red apple", "k": 1}).json()["results"][0]
        assert hit["id"] == "a" and hit["score"] == pytest.approx(1.0, abs=1e-6)
        assert seen == ["/embed"]  # the second upsert and the search query came from the cache
        assert len(app.state.embedder.cache) == 2
        app.state.embedder.close()
