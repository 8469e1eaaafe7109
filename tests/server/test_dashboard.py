"""The dashboard's files and its map endpoint: PCA and k-means checked against NumPy references."""

import numpy as np
import pytest

from vectro.server.projection import kmeans, pca_2d

from .fake_text import words_vector
from .test_api import error
from .test_text import DOCS, load_docs, model, tclient  # noqa: F401  (fixtures)


def test_the_page_and_its_files_are_served_from_the_package(tclient):
    page = tclient.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/dashboard/app.js">' in page.text and "http" not in page.text.replace("http://www.w3", "")
    js = tclient.get("/dashboard/app.js")
    assert js.status_code == 200 and "sessionStorage" in js.text and "localStorage" not in js.text
    assert tclient.get("/dashboard/style.css").headers["content-type"].startswith("text/css")
    error(tclient.get("/dashboard/secret.py"), 404)


def test_pca_matches_the_covariance_eigenvectors(sample):
    X = sample[0][:400].astype(np.float64)
    xy, share = pca_2d(X)
    C = np.cov(X - X.mean(0), rowvar=False, bias=True)
    values, vectors = np.linalg.eigh(C)
    top = vectors[:, ::-1][:, :2]
    reference = (X - X.mean(0)) @ top
    for j in range(2):  # equal up to the sign of each axis
        assert min(np.abs(xy[:, j] - reference[:, j]).max(), np.abs(xy[:, j] + reference[:, j]).max()) < 1e-8
    np.testing.assert_allclose(share, values[::-1][:2] / values.sum(), rtol=1e-8)


def test_kmeans_recovers_separated_groups():
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((4, 16)) * 10
    truth = np.repeat(np.arange(4), 50)
    X = centres[truth] + rng.standard_normal((200, 16))
    labels = kmeans(X, 4)
    # the same partition: each true group maps to exactly one label and back
    pairs = set(zip(truth.tolist(), labels.tolist()))
    assert len(pairs) == 4 and len({b for _, b in pairs}) == 4
    np.testing.assert_array_equal(kmeans(X, 4), labels)  # seeded


def test_map_endpoint_projects_the_decoded_codes(tclient):
    load_docs(tclient)
    body = tclient.get("/collections/docs/map", params={"color_by": "kmeans", "k": 2}).json()
    assert body["sample"] == body["count"] == len(DOCS) and len(body["points"]) == len(DOCS)
    ids = [p["id"] for p in body["points"]]
    assert ids == sorted(ids)
    codes = np.array(tclient.app.state.service.collection("docs").index.get(np.array(ids, dtype=object)))
    xy, share = pca_2d(codes)
    np.testing.assert_allclose([[p["x"], p["y"]] for p in body["points"]], xy, atol=1e-5)
    assert body["explained_variance"] == pytest.approx(share)
    assert {p["label"] for p in body["points"]} <= {"cluster 0", "cluster 1"}
    assert [p["text"] for p in body["points"]] == [DOCS[int(i[1:])] for i in ids]
    # the int8 codes decode close to the float32 vectors they came from
    originals = np.stack([words_vector(DOCS[int(i[1:])]) for i in ids])
    assert np.abs(codes - originals).max() < 0.02
    by_field = tclient.get("/collections/docs/map", params={"color_by": "n", "sample": 3}).json()
    assert by_field["sample"] == 3 and by_field["count"] == len(DOCS)
    assert all(p["label"] == str(int(p["id"][1:])) for p in by_field["points"])
    assert tclient.get("/collections/docs/map", params={"color_by": "missing"}).json()["labels"] == ["(none)"]
    error(tclient.get("/collections/nope/map"), 404)
    tclient.post("/collections", json={"name": "tiny", "dimension": 3})
    error(tclient.get("/collections/tiny/map"), 422, "sample")
