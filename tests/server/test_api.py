"""Every endpoint and every error, through an in-process ASGI client, against NumPy brute force."""

import numpy as np
import pytest

from .conftest import exact_top, load, payload_of
from .test_filters import ref


def error(r, status, path=None, code=None):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "path"}
    if path is not None:
        assert body["error"]["path"] == path, body
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]["message"]


# ----- collections ----------------------------------------------------------------------------
def test_collection_lifecycle(client):
    r = client.post("/collections", json={"name": "docs", "dimension": 4, "metric": "dot", "codec": "int8"})
    assert r.status_code == 201
    info = r.json()
    assert info["name"] == "docs" and info["dimension"] == 4 and info["metric"] == "dot"
    assert info["codec"]["in_effect"] == "int8" and info["count"] == 0 and info["keep_originals"] == "float32"
    assert info["compression_ratio"] == pytest.approx(16 / 8)
    # same config again: the existing one (200); another config: 409; get_or_create: the existing one
    assert client.post("/collections", json={"name": "docs", "dimension": 4, "metric": "dot"}).status_code == 200
    error(client.post("/collections", json={"name": "docs", "dimension": 5}), 409, "name", "conflict")
    r = client.post("/collections", json={"name": "docs", "dimension": 5, "get_or_create": True})
    assert r.status_code == 200 and r.json()["dimension"] == 4
    client.post("/collections", json={"name": "a-2_B", "dimension": 2})
    names = [c["name"] for c in client.get("/collections").json()["collections"]]
    assert names == ["a-2_B", "docs"]
    assert client.delete("/collections/docs").json() == {"deleted": "docs"}
    error(client.get("/collections/docs"), 404, code="not_found")
    error(client.delete("/collections/docs"), 404)
    assert [c["name"] for c in client.get("/collections").json()["collections"]] == ["a-2_B"]


@pytest.mark.parametrize("body, path", [
    ({"name": "bad name", "dimension": 4}, "name"),
    ({"name": "x" * 65, "dimension": 4}, "name"),
    ({"name": "ok", "dimension": 0}, "dimension"),
    ({"name": "ok", "dimension": 4, "metric": "hamming"}, "metric"),
    ({"name": "ok", "dimension": 4, "codec": "int9"}, "codec"),
    ({"name": "ok", "dimension": 4, "colour": "red"}, "colour"),
    ({"name": "ok"}, "dimension"),
    ({"name": "ok", "dimension": 4, "codec": "pq:2", "keep_originals": False}, "keep_originals"),
    ({"name": "ok", "dimension": 4, "keep_originals": False, "rescore": True}, "rescore"),
    ({"name": "ok", "dimension": 4, "ann": "ivf"}, "ann"),
])
def test_collection_schema_errors(client, body, path):
    error(client.post("/collections", json=body), 422, path, "invalid")


def test_collection_reports_ram_and_disk(client, vectors):
    X, _ = vectors
    load(client, "c", X[:500])
    info = client.get("/collections/c").json()
    assert info["count"] == 500
    assert info["codec"]["bytes_per_vector"] == 388
    assert info["ram_bytes"] >= 500 * 388 and info["ram_bytes"] < 500 * 1536  # codes in RAM, not floats
    assert info["disk_bytes"] >= 500 * 1536  # the originals, on disk


# ----- records --------------------------------------------------------------------------------
def test_records_crud(client, vectors):
    X, _ = vectors
    load(client, "c", X[:50])
    r = client.get("/collections/c/records/7")
    assert r.status_code == 200
    rec = r.json()
    assert rec["id"] == "7" and rec["payload"] == payload_of(7)
    np.testing.assert_array_equal(np.array(rec["vector"], np.float32), X[7])  # float32 originals, exactly
    error(client.get("/collections/c/records/nope"), 404, "id", "not_found")
    error(client.get("/collections/none/records/7"), 404)
    # integer ids become strings; upsert replaces
    r = client.put("/collections/c/records", json={"records": [{"id": 7, "vector": X[8].tolist(), "payload": {"v": 2}}]})
    assert r.json() == {"upserted": 1}
    rec = client.get("/collections/c/records/7").json()
    assert rec["payload"] == {"v": 2} and np.array_equal(np.array(rec["vector"], np.float32), X[8])
    assert client.post("/collections/c/records/count", json={}).json() == {"count": 50}
    # batch get: order kept, unknown ids left out, vectors on request
    r = client.post("/collections/c/records/get", json={"ids": ["3", "zz", 1], "with_vector": True})
    got = r.json()["records"]
    assert [g["id"] for g in got] == ["3", "1"] and got[0]["payload"] == payload_of(3)
    assert np.array_equal(np.array(got[1]["vector"], np.float32), X[1])
    assert "vector" not in client.post("/collections/c/records/get", json={"ids": ["3"]}).json()["records"][0]
    assert "payload" not in client.post("/collections/c/records/get",
                                        json={"ids": ["3"], "with_payload": False}).json()["records"][0]
    # deletes: by id (404 when unknown), by ids, by filter
    assert client.delete("/collections/c/records/7").json() == {"deleted": 1}
    error(client.delete("/collections/c/records/7"), 404, "id")
    assert client.post("/collections/c/records/delete", json={"ids": ["1", "2", "zz"]}).json() == {"deleted": 2}
    group3 = [i for i in range(50) if i % 10 == 3]
    assert client.post("/collections/c/records/delete", json={"filter": {"group": 3}}).json() == {"deleted": len(group3)}
    assert client.post("/collections/c/records/count", json={}).json() == {"count": 50 - 3 - len(group3)}
    assert client.post("/collections/c/records/count", json={"filter": {"group": 3}}).json() == {"count": 0}
    error(client.post("/collections/c/records/delete", json={}), 422)
    error(client.post("/collections/c/records/delete", json={"ids": ["1"], "filter": {"a": 1}}), 422)


def test_upsert_errors_store_nothing(client, vectors):
    X, _ = vectors
    client.post("/collections", json={"name": "c", "dimension": 384})
    good = [{"id": str(i), "vector": X[i].tolist()} for i in range(5)]

    def bad(i, **change):
        records = [dict(r) for r in good]
        records[i].update(change)
        return {"records": records}

    error(client.put("/collections/c/records", json=bad(3, vector=X[3, :10].tolist())), 422, "records[3].vector")
    error(client.put("/collections/c/records", json=bad(2, id="")), 422, "records[2].id")
    error(client.put("/collections/c/records", json=bad(2, id="é" * 129)), 422, "records[2].id")
    error(client.put("/collections/c/records", json=bad(2, id=1.5)), 422, "records[2].id")
    error(client.put("/collections/c/records", json=bad(4, payload=[1, 2])), 422, "records[4].payload")
    error(client.put("/collections/c/records", json=bad(1, extra=1)), 422, "records[1].extra")
    error(client.put("/collections/c/records", json=bad(4, id="0")), 422, "records[4].id")  # duplicate in a batch
    error(client.put("/collections/c/records", json={"records": []}), 422, "records")
    # NaN and Infinity are not JSON, but Python's parser reads them: refused with the row named
    text = '{"records": [{"id": "a", "vector": [%s]}, {"id": "b", "vector": [%s]}]}'
    ok, nan = ",".join(["0.5"] * 384), ",".join(["0.5"] * 383 + ["NaN"])
    error(client.put("/collections/c/records", content=text % (ok, nan), headers={"content-type": "application/json"}),
          422, "records[1].vector")
    inf = ",".join(["1e39"] * 384)  # beyond float32
    error(client.put("/collections/c/records", content=text % (inf, ok), headers={"content-type": "application/json"}),
          422, "records[0].vector")
    error(client.put("/collections/c/records", content=b'{"records": [', headers={"content-type": "application/json"}),
          400, code="bad_request")
    error(client.put("/collections/zz/records", json={"records": good}), 404)
    assert client.post("/collections/c/records/count", json={}).json() == {"count": 0}


def test_limits_are_published_and_enforced(client, vectors):
    X, _ = vectors
    limits = client.get("/health").json()["limits"]
    assert limits["max_batch_records"] == 600 and limits["max_request_bytes"] == 8 << 20
    client.post("/collections", json={"name": "c", "dimension": 384})
    records = [{"id": str(i), "vector": X[i % 600].tolist()} for i in range(601)]
    msg = error(client.put("/collections/c/records", json={"records": records}), 413, "records", "payload_too_large")
    assert "max_batch_records=600" in msg
    big = b'{"records": [' + b" " * (8 << 20) + b"]}"
    msg = error(client.put("/collections/c/records", content=big, headers={"content-type": "application/json"}), 413)
    assert "max_request_bytes=8,388,608" in msg
    error(client.post("/collections/c/search", json={"vector": X[0].tolist(), "k": 20000}), 413, "k")

    def chunked():  # no Content-Length: the limit is found while the body streams in
        yield b'{"records": ['
        for _ in range(9):
            yield b" " * (1 << 20)
        yield b"]}"

    for method, path in [("PUT", "records"), ("POST", "search"), ("POST", "records/scroll")]:
        r = client.request(method, f"/collections/c/{path}", content=chunked(), headers={"content-type": "application/json"})
        assert "content-length" not in r.request.headers
        assert "max_request_bytes=8,388,608" in error(r, 413, code="payload_too_large")
    assert client.post("/collections/c/records/count", json={}).json() == {"count": 0}


def test_bodies_are_json(client, vectors):
    """What FastAPI takes as a JSON body, the self-parsed routes (search, upsert) take too, and no more."""
    X, _ = vectors
    client.post("/collections", json={"name": "c", "dimension": 384, "codec": "float32"})
    upsert = b'{"records": [{"id": "a", "vector": %s}]}' % str(X[0].tolist()).encode()
    search = b'{"vector": %s, "k": 1}' % str(X[0].tolist()).encode()
    for path, method, body in [("records", "PUT", upsert), ("search", "POST", search)]:
        url = f"/collections/c/{path}"
        for ctype in ("text/plain", "application/x-www-form-urlencoded"):
            msg = error(client.request(method, url, content=body, headers={"content-type": ctype}), 415,
                        code="unsupported_media_type")
            assert ctype in msg and "application/json" in msg
        for ctype in ("application/json; charset=utf-8", "application/vnd.api+json", None):
            headers = {"content-type": ctype} if ctype else {}
            assert client.request(method, url, content=body, headers=headers).status_code == 200, ctype
        bom = client.request(method, url, content=b"\xef\xbb\xbf" + body, headers={"content-type": "application/json"})
        assert bom.status_code == 200
        for empty in (b"", b"  \n"):
            msg = error(client.request(method, url, content=empty, headers={"content-type": "application/json"}), 422)
            assert msg == "the request body is required"
    assert client.post("/collections/c/search", json={"vector": X[0].tolist(), "k": 1}).json()["results"][0]["id"] == "a"


def test_scroll_pages_in_id_order(client, vectors):
    X, _ = vectors
    load(client, "c", X[:95])
    ids, cursor = [], None
    while True:
        body = {"limit": 20} if cursor is None else {"limit": 20, "cursor": cursor}
        page = client.post("/collections/c/records/scroll", json=body).json()
        ids += [r["id"] for r in page["records"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert ids == sorted(str(i) for i in range(95))
    page = client.post("/collections/c/records/scroll", json={"limit": 4, "filter": {"group": 2}}).json()
    assert [r["id"] for r in page["records"]] == sorted(str(i) for i in range(95) if i % 10 == 2)[:4]
    assert page["records"][0]["payload"] == payload_of(int(page["records"][0]["id"]))
    rest = client.post("/collections/c/records/scroll", json={"limit": 100, "filter": {"group": 2},
                                                               "cursor": page["next_cursor"]}).json()
    assert [r["id"] for r in rest["records"]] == sorted(str(i) for i in range(95) if i % 10 == 2)[4:]
    assert rest["next_cursor"] is None
    error(client.post("/collections/c/records/scroll", json={"limit": 0}), 422, "limit")
    error(client.post("/collections/c/records/scroll", json={"limit": 20000}), 413, "limit")


# ----- search ---------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_search_matches_brute_force(client, vectors, metric):
    X, Q = vectors
    load(client, "c", X, metric=metric)
    for q in Q[:10]:
        r = client.post("/collections/c/search", json={"vector": q.tolist(), "k": 10})
        hits = r.json()["results"]
        truth = exact_top(X, q, 10, metric)
        assert [h["id"] for h in hits] == [t[0] for t in truth]  # rescored on the originals: exact
        np.testing.assert_allclose([h["score"] for h in hits], [t[1] for t in truth], rtol=1e-5, atol=1e-4)
        assert hits[0]["payload"] == payload_of(int(hits[0]["id"])) and "vector" not in hits[0]


def test_search_without_rescore_scores_the_codes(client, vectors):
    X, Q = vectors
    load(client, "c", X)
    truth_ids = [[t[0] for t in exact_top(X, q, 10)] for q in Q]
    r = client.post("/collections/c/search", json={"vectors": Q.tolist(), "k": 10, "rescore": False})
    results = r.json()["results"]
    recall = np.mean([len({h["id"] for h in res} & set(t)) / 10 for res, t in zip(results, truth_ids)])
    assert recall >= 0.95  # int8 codes alone
    exact = client.post("/collections/c/search", json={"vectors": Q.tolist(), "k": 10, "exact": True}).json()["results"]
    assert [[h["id"] for h in res] for res in exact] == truth_ids


@pytest.mark.parametrize("flt", [{"group": 3}, {"meta.lang": "fr", "score": {"$gt": 30}}, {"tags": {"$in": ["u1"]}},
                                 {"$or": [{"group": 1}, {"flag": True}]}, {"score": {"$exists": False}}])
def test_filtered_search_returns_k_hits_from_the_matching_records(client, vectors, flt):
    X, Q = vectors
    load(client, "c", X)
    allowed = {i for i in range(len(X)) if ref(payload_of(i), flt)}
    for q in Q[:5]:
        hits = client.post("/collections/c/search", json={"vector": q.tolist(), "top_k": 10, "filter": flt}).json()["results"]
        truth = exact_top(X, q, 10, allowed=allowed)
        assert [h["id"] for h in hits] == [t[0] for t in truth] and len(hits) == min(10, len(allowed))


def test_selective_filter_still_fills_k(client, vectors):
    X, Q = vectors
    load(client, "c", X)
    flt = {"name": {"$in": ["doc-5", "doc-17", "doc-400"]}}
    hits = client.post("/collections/c/search", json={"vector": Q[0].tolist(), "limit": 10, "filter": flt}).json()["results"]
    assert sorted(h["id"] for h in hits) == ["17", "400", "5"]
    assert client.post("/collections/c/search", json={"vector": Q[0].tolist(), "filter": {"group": 77}}).json()["results"] == []


def test_payload_fields_are_indexed_once_a_filter_names_them_and_stay_indexed(tmp_path, vectors):
    """A field no filter names is not held in RAM (a chunk's text stays on disk); the first filter on a field
    indexes it from the stored payloads, later writes keep it current, and a restart indexes it again."""
    from fastapi.testclient import TestClient

    from vectro.server import Service, create_app

    X, Q = vectors
    texts = {i: f"chunk {i} " + "words " * 40 for i in range(300)}
    service = Service(tmp_path / "data")
    with TestClient(create_app(service)) as client:
        load(client, "c", X[:300], payload=lambda i: {**payload_of(i), "text": texts[i]})
        assert client.get("/collections/c").json()["payload_index"] == []
        assert not service.collection("c").payloads.values, "nothing is indexed before a filter names it"
        for route in ("count", "delete"):
            error(client.post(f"/collections/c/records/{route}", json={"filter": {"group": {"$regex": "3"}}}), 400,
                  "filter.group.$regex")
        assert client.get("/collections/c").json()["payload_index"] == [], "a malformed filter indexes nothing"
        assert not service.collection("c").payloads.paths

        flt = {"group": 3, "meta.lang": {"$ne": "en"}}
        allowed = {i for i in range(300) if ref(payload_of(i), flt)}
        hits = client.post("/collections/c/search", json={"vector": Q[0].tolist(), "k": 5, "filter": flt}).json()
        assert [h["id"] for h in hits["results"]] == [t[0] for t in exact_top(X[:300], Q[0], 5, allowed=allowed)]
        assert client.get("/collections/c").json()["payload_index"] == ["group", "meta.lang"]
        assert set(service.collection("c").payloads.values) == {"group", "meta.lang"}, "the text is not in RAM"

        load_more = [{"id": str(i), "vector": X[i].tolist(), "payload": payload_of(i)} for i in range(300, 400)]
        client.put("/collections/c/records", json={"records": load_more})
        client.put("/collections/c/records", json={"records": [{"id": "3", "vector": X[3].tolist(), "payload": {"group": 4}}]})
        assert client.post("/collections/c/records/delete", json={"filter": {"group": 3, "name": "doc-13"}}).json() == {
            "deleted": 1}
        payloads = {i: payload_of(i) for i in range(400) if i != 13}
        payloads[3] = {"group": 4}
        expected = sorted(str(i) for i, p in payloads.items() if ref(p, flt))
        assert sorted(r["id"] for r in client.post("/collections/c/records/scroll", json={
            "filter": flt, "limit": 500}).json()["records"]) == expected
        assert client.get("/collections/c").json()["payload_index"] == ["group", "meta.lang", "name"]
    service.close()
    service = Service(tmp_path / "data")
    try:
        assert sorted(service.collection("c").payloads.paths) == ["group", "meta.lang", "name"]
        assert service.count("c", flt) == len(expected) and service.count("c", {"name": "doc-14"}) == 1
    finally:
        service.close()


def test_search_options(client, vectors):
    X, Q = vectors
    load(client, "c", X)
    q = Q[1].tolist()
    full = client.post("/collections/c/search", json={"vector": q, "k": 15}).json()["results"]
    assert len(full) == 15 and client.post("/collections/c/search", json={"vector": q}).json()["results"] == full[:10]
    page = client.post("/collections/c/search", json={"vector": q, "k": 5, "offset": 10}).json()["results"]
    assert page == full[10:15]
    threshold = full[6]["score"]
    above = client.post("/collections/c/search", json={"vector": q, "k": 15, "score_threshold": threshold}).json()["results"]
    assert above == [h for h in full if h["score"] >= threshold] and len(above) >= 7
    bare = client.post("/collections/c/search", json={"vector": q, "k": 3, "with_payload": False, "with_vector": True,
                                                      "oversampling": 10}).json()["results"]
    assert "payload" not in bare[0] and np.array_equal(np.array(bare[0]["vector"], np.float32), X[int(bare[0]["id"])])
    batch = client.post("/collections/c/search", json={"vectors": [q, Q[2].tolist()], "k": 15}).json()
    assert batch["results"][0] == full and len(batch["results"][1]) == 15 and batch["took_ms"] >= 0


@pytest.mark.parametrize("body, status, path", [
    ({"k": 3}, 422, None),  # neither vector nor vectors
    ({"vector": [0.0] * 384, "vectors": [[0.0] * 384]}, 422, None),
    ({"vector": [0.0] * 384, "k": 3, "limit": 3}, 422, None),
    ({"vector": [0.0] * 384, "k": 0}, 422, "k"),
    ({"vector": [0.0] * 384, "topk": 3}, 422, "topk"),
    ({"vector": [0.0] * 10}, 422, "vector"),
    ({"vectors": [[0.0] * 384, [0.0] * 3]}, 422, "vectors[1]"),
    ({"vector": [0.0] * 384, "filter": {"g": {"$regex": "a"}}}, 400, "filter.g.$regex"),
    ({"vector": [0.0] * 384, "oversampling": 0.5}, 422, "oversampling"),
])
def test_search_errors(client, vectors, body, status, path):
    X, _ = vectors
    load(client, "c", X[:20])
    msg = error(client.post("/collections/c/search", json=body), status, path)
    if status == 400:
        assert "$regex" in msg


def test_search_unknown_collection_and_empty_collection(client):
    error(client.post("/collections/none/search", json={"vector": [1.0, 2.0]}), 404)
    client.post("/collections", json={"name": "e", "dimension": 2})
    assert client.post("/collections/e/search", json={"vector": [1.0, 2.0]}).json()["results"] == []


def test_concurrent_searches_run_one_per_core(client, service, vectors, monkeypatch):
    """Searches past the core count wait on the event loop instead of each taking a thread: 8 threads
    on 2 cores spend their time handing the GIL over."""
    import asyncio
    import threading
    import time

    import httpx

    from vectro.server import create_app
    from vectro.server.routes import deps

    X, Q = vectors
    load(client, "c", X[:50])
    monkeypatch.setattr(deps, "core_count", lambda: 2)
    monkeypatch.setenv("VECTRO_THREADS", "1")  # as `vectro serve` sets it for the kernels
    running, most, lock, plain = [0], [0], threading.Lock(), service.search

    def search(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)  # long enough for every request to arrive while the first ones run
        try:
            return plain(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(service, "search", search)

    async def eight_at_once():
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://vectro") as http:
            return await asyncio.gather(*(http.post("/collections/c/search", json={"vector": Q[i].tolist(), "k": 3})
                                          for i in range(8)))

    answers = asyncio.run(eight_at_once())
    assert [r.status_code for r in answers] == [200] * 8
    assert [r.json()["results"][0]["id"] for r in answers] == [
        client.post("/collections/c/search", json={"vector": Q[i].tolist(), "k": 3}).json()["results"][0]["id"]
        for i in range(8)]
    assert most[0] == 2


def test_unknown_route_and_method_use_the_envelope(client):
    error(client.get("/nope"), 404)
    error(client.put("/health"), 405)


# ----- storage options and codecs -------------------------------------------------------------
def test_float16_originals_and_codes_only(client, vectors):
    X, Q = vectors
    load(client, "h", X[:200], keep_originals="float16")
    rec = client.get("/collections/h/records/3").json()
    assert np.array_equal(np.array(rec["vector"], np.float32), X[3].astype(np.float16).astype(np.float32))
    hits = client.post("/collections/h/search", json={"vector": Q[0].tolist(), "k": 5}).json()["results"]
    truth = exact_top(X[:200].astype(np.float16).astype(np.float32), Q[0], 5)
    assert [h["id"] for h in hits] == [t[0] for t in truth]
    load(client, "codes", X[:200], keep_originals=False, codec="int8", rescore=False)
    info = client.get("/collections/codes").json()
    assert info["rescore"] is False and info["disk_bytes"] < 200 * 1536 // 3  # codes + payloads only
    error(client.post("/collections/codes/search", json={"vector": Q[0].tolist(), "rescore": True}), 400, "rescore")
    hits = client.post("/collections/codes/search", json={"vector": Q[0].tolist(), "k": 10}).json()["results"]
    overlap = len({h["id"] for h in hits} & {t[0] for t in exact_top(X[:200], Q[0], 10)})
    assert overlap >= 8
    vec = np.array(client.get("/collections/codes/records/3").json()["vector"])
    cos = vec @ X[3] / np.linalg.norm(vec) / np.linalg.norm(X[3])
    assert cos > 0.999  # decoded from the int8 codes


def test_trainable_codec_is_exact_until_fitted_then_fitted_at_fit_rows(client, vectors):
    X, Q = vectors
    load(client, "pq", X[:299], codec="pq:48", fit_rows=300)
    info = client.get("/collections/pq").json()
    assert info["codec"]["fitted"] is False and info["codec"]["in_effect"] == "float32"
    hits = client.post("/collections/pq/search", json={"vector": Q[0].tolist(), "k": 10, "rescore": False}).json()["results"]
    truth = exact_top(X[:299], Q[0], 10)
    assert [h["id"] for h in hits] == [t[0] for t in truth]
    np.testing.assert_allclose([h["score"] for h in hits], [t[1] for t in truth], rtol=1e-5)
    client.put("/collections/pq/records", json={"records": [{"id": "299", "vector": X[299].tolist()}]})
    info = client.get("/collections/pq").json()
    assert info["codec"]["fitted"] is True and info["codec"]["in_effect"] == "pq:48" and info["count"] == 300
    assert info["compression_ratio"] == pytest.approx(1536 / 48)
    hits = client.post("/collections/pq/search", json={"vector": Q[0].tolist(), "k": 10}).json()["results"]
    assert [h["id"] for h in hits] == [t[0] for t in exact_top(X[:300], Q[0], 10)]  # rescored: exact again


def test_payload_paths_are_capped_and_never_indexed_into_a_collection_that_replaced_theirs(tmp_path, vectors):
    from vectro.server import Limits, Service
    from vectro.server.collection import CollectionConfig
    from vectro.server.errors import ApiError

    X, _ = vectors
    service = Service(tmp_path / "data", Limits(max_payload_paths=2))
    try:
        service.create_collection(CollectionConfig("c", X.shape[1]))
        service.upsert("c", [str(i) for i in range(50)], X[:50], [payload_of(i) for i in range(50)])
        assert service.count("c", {"group": 3}) == 5
        with pytest.raises(ApiError, match="max_payload_paths=2") as info:
            service.count("c", {"name": "doc-1", "meta.lang": "en"})
        assert info.value.status == 400 and service.describe(service.collection("c"))["payload_index"] == ["group"]
        assert service.count("c", {"name": "doc-1"}) == 1  # the second path fits

        old = service.collection("c")  # as a search holds it while the collection is deleted and made again
        service.delete_collection("c")
        service.create_collection(CollectionConfig("c", X.shape[1]))
        service.upsert("c", ["a"], X[:1], [{"group": 3, "name": "x"}])
        with pytest.raises(ApiError, match="does not exist"):
            service._ensure_indexed(old, {"meta.lang": "en"})
        assert old.payloads.paths == {"group", "name"} and service.collection("c").payloads.paths == set()
        assert service.count("c", {"group": 3}) == 1
    finally:
        service.close()


@pytest.mark.parametrize("codec", ["int8:64", "int8"])
def test_hnsw_collection_takes_any_first_batch_builds_its_graph_and_restarts(tmp_path, vectors, codec, monkeypatch):
    """int8:64 has no row kernel: its FAISS graph learns its quantiser at fit_rows. int8 grows vectro's own
    graph from the first batch, and needs no FAISS."""
    from fastapi.testclient import TestClient

    from vectro import kernels
    from vectro.index import ann
    from vectro.server import Service, create_app

    monkeypatch.setattr(ann, "SCAN_BELOW", 100)  # searches walk the graph at this size
    faiss_graph = codec == "int8:64" or not kernels.native()
    if faiss_graph:
        pytest.importorskip("faiss")
    X, Q = vectors
    service = Service(tmp_path / "data")
    with TestClient(create_app(service)) as client:
        load(client, "g", X[:5], codec=codec, ann="hnsw", fit_rows=200)  # a FAISS graph cannot learn from 5 rows
        info = client.get("/collections/g").json()
        assert info["codec"]["fitted"] is not faiss_graph
        assert info["codec"]["in_effect"] == ("float32" if faiss_graph else codec)
        for start in range(5, 500, 165):
            client.put("/collections/g/records", json={"records": [
                {"id": str(i), "vector": X[i].tolist()} for i in range(start, min(start + 165, 500))]})
        info = client.get("/collections/g").json()
        assert info["codec"]["fitted"] is True and info["codec"]["in_effect"] == codec and info["count"] == 500
        assert service.collection("g").index.ann.own is not faiss_graph
        hits = client.post("/collections/g/search", json={"vector": Q[0].tolist(), "k": 10}).json()["results"]
        assert [h["id"] for h in hits] == [t[0] for t in exact_top(X[:500], Q[0], 10)]
    service.close()
    service = Service(tmp_path / "data")  # a restart rebuilds the graph from the stored rows
    try:
        index = service.collection("g").index
        assert index.ann is not None and index.codec.spec == codec and len(index) == 500
        assert [h["id"] for h in service.search("g", Q[:1], k=10)[0]] == [t[0] for t in exact_top(X[:500], Q[0], 10)]
    finally:
        service.close()


def test_optimize_fits_now(client, vectors):
    X, Q = vectors
    load(client, "d", X[:300], codec="int8-dim")
    assert client.get("/collections/d").json()["codec"]["fitted"] is False
    info = client.post("/collections/d/optimize").json()
    assert info["codec"]["fitted"] is True and info["codec"]["in_effect"] == "int8-dim" and info["count"] == 300
    hits = client.post("/collections/d/search", json={"vector": Q[0].tolist(), "k": 10}).json()["results"]
    assert [h["id"] for h in hits] == [t[0] for t in exact_top(X[:300], Q[0], 10)]
    load(client, "plain", X[:10])
    assert client.post("/collections/plain/optimize").json()["count"] == 10
    error(client.post("/collections/none/optimize"), 404)


# ----- snapshots, health, metrics, OpenAPI -----------------------------------------------------
def test_snapshot_holds_the_collection(client, vectors, tmp_path):
    import sqlite3

    X, _ = vectors
    load(client, "c", X[:40])
    r = client.post("/collections/c/snapshots")
    assert r.status_code == 201
    snap = r.json()
    assert snap["records"] == 40 and snap["collection"] == "c"
    conn = sqlite3.connect(snap["path"])
    assert conn.execute("SELECT count(*) FROM records").fetchone()[0] == 40
    conn.close()
    error(client.post("/collections/none/snapshots"), 404)


def test_metrics_and_openapi(client, vectors):
    X, _ = vectors
    load(client, "c", X[:30])
    client.post("/collections/c/search", json={"vector": X[0].tolist()})
    client.get("/collections/c/records/zz")
    text = client.get("/metrics").text
    assert 'vectro_requests_total{method="POST",route="/collections/{name}/search",status="200"} 1' in text
    assert 'vectro_requests_total{method="GET",route="/collections/{name}/records/{id}",status="404"} 1' in text
    assert 'vectro_request_duration_seconds_count{method="PUT",route="/collections/{name}/records"} 1' in text
    assert 'vectro_collection_records{collection="c"} 30' in text
    spec = client.get("/openapi.json").json()
    for path in ["/collections", "/collections/{name}", "/collections/{name}/records", "/collections/{name}/records/{id}",
                 "/collections/{name}/records/get", "/collections/{name}/records/delete", "/collections/{name}/records/count",
                 "/collections/{name}/records/scroll", "/collections/{name}/search", "/collections/{name}/optimize",
                 "/collections/{name}/snapshots", "/health", "/metrics"]:
        assert path in spec["paths"], path
    for path, method, model in [("/collections/{name}/records", "put", "Upsert"),
                                ("/collections/{name}/search", "post", "Search")]:  # bodies the routes parse themselves
        body = spec["paths"][path][method]["requestBody"]
        assert body["required"] and body["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}
    schemas = spec["components"]["schemas"]
    assert schemas["Upsert"]["properties"]["records"]["items"] == {"$ref": "#/components/schemas/Record"}
    assert schemas["Record"]["additionalProperties"] is False and schemas["Search"]["additionalProperties"] is False
    assert {"k", "vector", "vectors", "filter"} <= set(schemas["Search"]["properties"])


def test_a_repeated_filter_reuses_its_rows_until_the_next_write(service, vectors, monkeypatch):
    """A filter's rows are kept per collection and dropped by every write, so a search after an upsert, a
    payload change, a delete or a compaction answers from the records as they are (exact reference each time)."""
    from vectro.server.collection import CollectionConfig

    X, Q = vectors
    service.create_collection(CollectionConfig("c", 384))
    payloads = {i: payload_of(i) for i in range(300)}
    service.upsert("c", [str(i) for i in range(300)], X[:300], [payloads[i] for i in range(300)])
    matched = []
    real_match = service._match
    monkeypatch.setattr(service, "_match", lambda coll, flt: matched.append(flt) or real_match(coll, flt))
    flt = {"group": {"$in": [3, 4]}, "meta.lang": {"$ne": "en"}}

    def check(expect_match: bool):
        before = len(matched)
        allowed = {i for i, p in payloads.items() if ref(p, flt)}
        for q in Q[:3]:
            got = [(h["id"], h["score"]) for h in service.search("c", q[None], k=7, flt=flt)[0]]
            want = exact_top(X, q, 7, allowed=allowed)
            assert [g[0] for g in got] == [w[0] for w in want]
            np.testing.assert_allclose([g[1] for g in got], [w[1] for w in want], rtol=1e-5)
        assert len(matched) - before == (1 if expect_match else 0)  # one match per write, not per search

    check(expect_match=True)
    check(expect_match=False)
    service.upsert("c", ["300", "301"], X[300:302], [{"group": 3, "meta": {"lang": "fr"}}, {"group": 5}])
    payloads.update({300: {"group": 3, "meta": {"lang": "fr"}}, 301: {"group": 5}})
    check(expect_match=True)
    service.upsert("c", ["13"], X[13:14], [{"group": 9}])  # leaves the filter
    payloads[13] = {"group": 9}
    check(expect_match=True)
    victims = [str(i) for i, p in payloads.items() if ref(p, flt)][:5]
    service.delete_records("c", ids=victims)
    for v in victims:
        del payloads[int(v)]
    check(expect_match=True)
    service.collection("c").compact()  # a write, though the live rows keep their order
    check(expect_match=True)
    check(expect_match=False)


def test_a_fit_or_a_failed_write_leaves_no_filter_rows_behind(service, vectors, monkeypatch):
    """optimize fits the codec and rebuilds the Index in stored order, which moves a replaced record back
    to its first place: a filter's rows kept from before would pick other records. A write that fails
    part way drops them too."""
    from vectro.server.collection import CollectionConfig

    X, Q = vectors
    service.create_collection(CollectionConfig("c", 384, codec="int8-dim"))
    payloads = {i: payload_of(i) for i in range(300)}
    service.upsert("c", [str(i) for i in range(300)], X[:300], [payloads[i] for i in range(300)])
    service.upsert("c", ["3"], X[3:4], [payloads[3]])  # replaced: the last row of the Index until the fit
    flt = {"group": {"$in": [3, 5, 8]}}
    allowed = {i for i, p in payloads.items() if ref(p, flt)}

    def hits():
        return [h["id"] for h in service.search("c", Q[0][None], k=20, flt=flt)[0]]
    assert hits() == [i for i, _ in exact_top(X[:300], Q[0], 20, allowed=allowed)]
    coll = service.collection("c")
    assert coll.awaiting_fit and len(coll._filter_masks) == 1
    service.optimize("c")
    assert not coll.awaiting_fit and coll.index.ids().tolist()[3] == "3"
    assert hits() == [i for i, _ in exact_top(X[:300], Q[0], 20, allowed=allowed)]

    def broken(*args):
        raise RuntimeError("the payload index failed")
    assert len(coll._filter_masks) == 1
    monkeypatch.setattr(coll.payloads, "add", broken)
    with pytest.raises(RuntimeError):
        service.upsert("c", ["900"], X[:1], [{"group": 3}])
    assert not coll._filter_masks and not coll.consistent


def test_the_filter_cache_is_bounded(service, vectors, monkeypatch):
    from vectro.server import collection as collection_module
    from vectro.server.collection import CollectionConfig

    X, Q = vectors
    service.create_collection(CollectionConfig("c", 384))
    service.upsert("c", [str(i) for i in range(200)], X[:200], [payload_of(i) for i in range(200)])
    monkeypatch.setattr(collection_module, "FILTER_CACHE_ENTRIES", 3)
    coll = service.collection("c")
    for group in range(6):
        hits = service.search("c", Q[0][None], k=200, flt={"group": group}, with_payload=True)[0]
        assert sorted(int(h["id"]) for h in hits) == [i for i in range(200) if i % 10 == group]
    assert list(coll._filter_masks) == ['{"group":3}', '{"group":4}', '{"group":5}']  # the newest three
    service.search("c", Q[0][None], k=5, flt={"group": 3})  # used again: the last to go
    service.search("c", Q[0][None], k=5, flt={"group": 0})
    assert list(coll._filter_masks) == ['{"group":5}', '{"group":3}', '{"group":0}']
    assert coll.memory()["ram_bytes"] == coll.index.memory_usage()["ram_bytes"] + 3 * 25  # 200 bits each
    monkeypatch.setattr(collection_module, "FILTER_CACHE_BYTES", 60)  # room for two masks of 25 bytes
    service.search("c", Q[0][None], k=5, flt={"group": 1})
    assert list(coll._filter_masks) == ['{"group":0}', '{"group":1}']
    monkeypatch.setattr(collection_module, "FILTER_CACHE_BYTES", 10)  # one mask does not fit: none kept
    service.search("c", Q[0][None], k=5, flt={"group": 2})
    assert list(coll._filter_masks) == ['{"group":0}', '{"group":1}']
    # filters JSON would not give back as they are (from Python callers) are matched every time, never kept
    assert collection_module._filter_key({"b": 1, "a": [True, None]}) == '{"a":[true,null],"b":1}'
    assert collection_module._filter_key({"group": {"$in": (1, 2)}}) is None
    assert collection_module._filter_key({1: 2}) is None and collection_module._filter_key({"x": float("nan")}) is None
