"""The seed Vectron's routes with its request and answer shapes, the model routes and tokens."""

import json
import time
import urllib.parse

import numpy as np
import pytest
from fastapi.testclient import TestClient

from vectro.embed import load_registry
from vectro.server import create_app
from vectro.server.auth import Authenticator
from vectro.server.text import Embedder
from vectro.server.tokens import TokenSigner

from .fake_text import DIM, WordsModel, WordsServer, words_vector
from .test_text import DOCS, model, tclient  # noqa: F401  (fixtures)


def seed_error(r, status, message=None):
    """The seed's fields (success false, message) beside the server's error envelope."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False and body["error"]["message"] == body["message"]
    if message is not None:
        assert message in body["message"], body
    return body


def test_root_is_json_for_clients_and_the_dashboard_for_browsers(tclient):
    body = tclient.get("/").json()
    assert body["success"] is True and body["dashboard"] == "/dashboard"
    r = tclient.get("/", headers={"Accept": "text/html,application/xhtml+xml"}, follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/dashboard"


def test_vector_routes_on_the_default_collection(tclient):
    v = words_vector("first vector")
    assert tclient.get("/vectors").json() == []
    r = tclient.post("/vector", json={"id": "a", "vector": v.tolist()})
    assert r.json() == {"success": True, "message": "Vector with ID a inserted", "count": 1}
    assert tclient.post("/vector", json={"id": "a", "vector": v.tolist()}).json()["message"] == "Vector with ID a updated"
    tclient.post("/vector", json={"id": "b", "vector": words_vector("second one").tolist()})
    info = tclient.get("/collections/default").json()
    assert info["model"] == "words" and info["dimension"] == DIM and info["count"] == 2  # made on first use
    got = tclient.get("/vector/a").json()
    assert got["id"] == "a" and got["success"] is True and got["message"] == "Vector with ID a found"
    np.testing.assert_array_equal(np.array(got["vector"], np.float32), v)
    assert tclient.get("/vectors").json() == ["a", "b"]
    hits = tclient.post("/search/vector?top_k=1", json={"vector": v.tolist()}).json()
    assert hits == [{"id": "a", "score": pytest.approx(1.0, abs=1e-6)}]  # the seed's bare list
    assert len(tclient.post("/search/vector", json={"vector": v.tolist()}).json()) == 2  # top_k default 5
    assert tclient.delete("/vector/a").json() == {"success": True, "message": "Vector with ID a deleted", "count": 1}
    # unlike the seed: 404 for an unknown id, 4xx for bad input
    body = seed_error(tclient.get("/vector/a"), 404, "Vector with ID a not found")
    assert body["id"] == "a" and body["vector"] is None and body["error"]["code"] == "not_found"
    seed_error(tclient.delete("/vector/a"), 404, "not found")
    assert tclient.post("/vector", json={"id": "c", "vector": [1.0, 2.0]}).status_code == 422
    seed_error(tclient.post("/vector", json={"id": "c"}), 422, "'vector' is required")
    seed_error(tclient.post("/vector", content=b"{nope", headers={"content-type": "application/json"}), 400,
               "malformed JSON")
    assert tclient.post("/search/vector?top_k=0", json={"vector": v.tolist()}).status_code == 422


def test_upsert_text_and_search_text(tclient):
    for i, text in enumerate(DOCS):
        r = tclient.post("/upsert-text", json={"id": f"doc{i}", "text": text})
        assert r.json() == {"success": True, "message": f"Vector from text with ID doc{i} inserted", "count": i + 1}
    X = np.stack([words_vector(t) for t in DOCS]).astype(np.float64)
    q = words_vector("the cat on the mat").astype(np.float64)
    order = sorted(range(len(DOCS)), key=lambda i: (-(X[i] @ q), i))[:3]
    body = tclient.post("/search/text?top_k=3", json={"text": "the cat on the mat"}).json()
    assert body["success"] is True and body["query"] == "the cat on the mat"
    assert body["message"] == "Found 3 similar vectors" and body["model_id"] == "words"
    assert [r["id"] for r in body["results"]] == [f"doc{i}" for i in order]
    assert [r["text"] for r in body["results"]] == [DOCS[i] for i in order]  # the text comes back
    np.testing.assert_allclose([r["score"] for r in body["results"]], [X[i] @ q for i in order], atol=1e-5)
    # the seed README's `curl -G`: an empty body, the JSON as a query-string key
    query = urllib.parse.quote(json.dumps({"text": "the cat on the mat"}), safe="") + "&top_k=3"
    assert tclient.post(f"/search/text?{query}", headers={"content-type": "application/json"}).json() == body
    seed_error(tclient.post("/upsert-text", json={"id": "x", "text": ""}), 422)
    assert tclient.post("/upsert-text", json={"id": "x", "text": "hi", "model_id": "nope"}).status_code == 422


def test_model_id_is_honoured_and_models_are_never_mixed(tclient):
    other = WordsModel("words-8", 8)
    tclient.app.state.embedder.register(other)
    tclient.post("/upsert-text", json={"id": "d", "text": "apples and pears"})
    r = tclient.post("/upsert-text", json={"id": "e", "text": "apples and pears", "model_id": "words-8"})
    assert r.json()["count"] == 1
    info = tclient.get("/collections/default-words-8").json()
    assert info["model"] == "words-8" and info["dimension"] == 8
    body = tclient.post("/search/text", json={"text": "apples", "model_id": "words-8"}).json()
    assert [h["id"] for h in body["results"]] == ["e"] and body["model_id"] == "words-8"
    assert other.calls[-1] == ["apples"]  # the query went through the named model
    assert [h["id"] for h in tclient.post("/search/text", json={"text": "apples"}).json()["results"]] == ["d"]


def test_embed_batch_embed_and_models(tclient):
    body = tclient.post("/embed", json={"text": "hello world"}).json()
    assert body["text"] == "hello world" and body["dimensions"] == DIM and body["success"] is True
    np.testing.assert_allclose(body["embedding"], words_vector("hello world"), atol=1e-7)
    # what the `vectro` provider sends
    body = tclient.post("/embed", json={"texts": ["a b", "c"], "model": "words"}).json()
    assert body["model"] == "words" and body["dimension"] == DIM
    np.testing.assert_allclose(body["embeddings"], [words_vector("a b"), words_vector("c")], atol=1e-7)
    body = tclient.post("/batch-embed", json={"texts": ["a b", "c"], "model_id": "words"}).json()
    assert body["count"] == 2 and body["dimensions"] == DIM and len(body["embeddings"]) == 2
    assert tclient.post("/embed", json={"text": "x", "texts": ["y"]}).status_code == 422
    assert tclient.post("/embed", json={"text": "x", "model_id": "nope"}).status_code == 422
    models = tclient.get("/models").json()
    assert models["default"] == "words"
    by_id = {m["id"]: m for m in models["models"]}
    assert by_id["words"]["available"] is True and by_id["minilm"]["dimensions"] == 384
    assert by_id["openai-small"]["dimensions"] == 1536


def test_a_remote_model_without_its_key_is_a_clear_error(tclient, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    r = tclient.post("/search/text", json={"text": "sample document", "model_id": "openai-small"})
    assert r.status_code == 400 and "OPENAI_API_KEY" in r.json()["error"]["message"]


def test_the_vectro_provider_embeds_through_this_server(tclient, tmp_path, monkeypatch):
    """A registry model of provider `vectro` pointed at a real server's /embed gets the same vectors."""
    from .process import Server

    with WordsServer() as words:
        monkeypatch.setenv("VECTRO_MODELS", words.registry(tmp_path / "models.toml"))
        server = Server(tmp_path / "emb", "--embeddings-only")
        try:
            (tmp_path / "client.toml").write_text(f'[models.remote]\nprovider = "vectro"\nurl = "{server.url}"\n'
                                                  f'model = "words"\ndimension = {DIM}\n')
            import vectro

            X = vectro.embed("remote", ["one two", "three"], registry=str(tmp_path / "client.toml"))
            np.testing.assert_allclose(X, [words_vector("one two"), words_vector("three")], atol=1e-7)
            assert server.request("GET", "/models")[0] == 200
            assert server.request("POST", "/upsert-text", {"id": "a", "text": "b"})[0] == 404  # embeddings only
            assert server.request("GET", "/collections")[0] == 404
        finally:
            server.stop()


def test_benchmark_routes(service, tmp_path):
    with WordsServer() as words:
        app = create_app(service)
        app.state.embedder = Embedder(load_registry(words.registry(tmp_path / "models.toml")))
        with TestClient(app) as client:
            texts = [{"text": "red apple", "group": "fruit"}, {"text": "green apple", "group": "fruit"},
                     {"text": "fast car", "group": "car"}, {"text": "red car", "group": "car"}]
            r = client.post("/models/benchmark", json={"models": ["words", "openai-small"], "texts": texts})
            assert r.status_code == 200, r.text
            rows = {row["model"]: row for row in r.json()["models"]}
            assert rows["words"]["dimension"] == DIM and rows["words"]["seconds_per_text"] > 0
            V = np.stack([words_vector(t["text"]) for t in texts]).astype(np.float64)
            S = V @ V.T
            expected = np.mean([S[0, 1], S[2, 3]]) - np.mean([S[0, 2], S[0, 3], S[1, 2], S[1, 3]])
            assert rows["words"]["contrast"] == pytest.approx(expected, abs=1e-5)
            assert "OPENAI_API_KEY" in rows["openai-small"]["error"]
            full = client.post("/benchmark", json={"codecs": ["int8"]}).json()  # the bundled labelled sample
            assert full["passages"] == 300 and full["queries"] == 40
            row = full["models"][0]
            assert row["model"] == "words" and 0 <= row["recall@10"] <= 1 and row["codecs"][0]["codec"] == "int8"
            assert client.post("/benchmark", json={"models": ["nope"]}).status_code == 422


def test_tokens_carry_the_key_scope_until_they_expire(service):
    from vectro.server.auth import create_key

    key_id, read_key = service.db.write(lambda conn: create_key(conn, "read"))
    auth = Authenticator(service.db)
    with TestClient(create_app(service, auth)) as client:
        assert client.get("/collections").status_code == 401
        r = client.post("/auth/token", json={"api_key": read_key, "expires_in": 60})
        assert r.status_code == 200
        tok = r.json()
        assert tok["token_type"] == "bearer" and tok["scope"] == "read" and tok["expires_in"] == 60
        assert tok["expires_at"] == pytest.approx(time.time() + 60, abs=5)
        bearer = {"Authorization": f"Bearer {tok['access_token']}"}
        assert client.get("/collections", headers=bearer).status_code == 200
        assert client.post("/collections", json={"name": "c", "dimension": 2}, headers=bearer).status_code == 403
        assert client.post("/auth/token", json={"api_key": "wrong-key-0123456789"}).status_code == 401
        assert client.post("/auth/token", json={"api_key": tok["access_token"]}).status_code == 422
        tampered = tok["access_token"][:-2] + ("AA" if not tok["access_token"].endswith("AA") else "BB")
        assert client.get("/collections", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
        # expired: a token signed by the same secret an hour ago
        old, _ = auth.tokens.issue("admin", 60, now=time.time() - 3600)
        assert client.get("/collections", headers={"Authorization": f"Bearer {old}"}).status_code == 401
        forged, _ = TokenSigner().issue("admin", 60)  # another secret
        assert client.get("/collections", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_token_route_on_an_open_server(tclient):
    r = tclient.post("/auth/token", json={"api_key": "anything-at-all-123"})
    assert r.status_code == 400 and "open" in r.json()["error"]["message"]
