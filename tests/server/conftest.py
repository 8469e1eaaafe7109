import numpy as np
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from vectro.server import Limits, Service, create_app  # noqa: E402


@pytest.fixture
def service(tmp_path):
    svc = Service(tmp_path / "data", Limits(max_batch_records=600, max_request_bytes=8 << 20))
    yield svc
    svc.close()


@pytest.fixture
def client(service):
    with TestClient(create_app(service)) as c:
        yield c


@pytest.fixture(scope="session")
def vectors(sample):
    """600 real 384-d embeddings and 20 queries (float32)."""
    base, queries = sample
    return base[:600].copy(), queries[:20].copy()


def payload_of(i: int) -> dict:
    """A small payload per record, varied enough to exercise every filter operator."""
    payload = {"group": i % 10, "name": f"doc-{i}", "score": i / 7.0, "tags": [f"t{i % 3}", f"u{i % 5}"],
               "meta": {"lang": ["en", "fr", "de"][i % 3], "len": i % 50}}
    if i % 4 == 0:
        del payload["score"]
    if i % 6 == 0:
        payload["flag"] = i % 12 == 0
    return payload


def load(client, name, X, start=0, payload=payload_of, **config):
    r = client.post("/collections", json={"name": name, "dimension": X.shape[1], **config})
    assert r.status_code == 201, r.text
    records = [{"id": str(start + i), "vector": x.tolist(), "payload": payload(start + i)} for i, x in enumerate(X)]
    for s in range(0, len(records), 300):
        r = client.put(f"/collections/{name}/records", json={"records": records[s : s + 300]})
        assert r.status_code == 200, r.text
        assert r.json() == {"upserted": len(records[s : s + 300])}


def exact_top(X, q, k, metric="cosine", allowed=None):
    """float64 brute force: ids (as strings) and scores, best first, ties by id."""
    X64, q64 = X.astype(np.float64), q.astype(np.float64)
    if metric == "cosine":
        s = (X64 / np.linalg.norm(X64, axis=1, keepdims=True)) @ (q64 / np.linalg.norm(q64))
    elif metric == "dot":
        s = X64 @ q64
    else:
        s = -np.linalg.norm(X64 - q64, axis=1)
    pairs = [(str(i), s[i]) for i in range(len(X)) if allowed is None or i in allowed]
    pairs.sort(key=lambda p: (-p[1], p[0]))
    return pairs[:k]
