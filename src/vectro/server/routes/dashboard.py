"""The web dashboard: static files shipped in `vectro/server/dashboard/`, and the map endpoint it draws.

    GET /dashboard                 the page (plain HTML, CSS and JS: no build step, no CDN)
    GET /dashboard/{file}          its script and style sheet
    GET /collections/{name}/map?sample=500&color_by=kmeans&k=6
        -> {points: [{id, x, y, label, text}], color_by, labels, explained_variance, sample, count}

The map projects a seeded sample of the collection's decoded codes to 2-D with PCA; points are
coloured by k-means clusters of the same codes, or by a payload field (`color_by=<field>`).
"""

from __future__ import annotations

from importlib.resources import files

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ..errors import invalid, not_found
from ..projection import kmeans, pca_2d
from ..text import TEXT_FIELD
from .deps import READ, service

router = APIRouter(tags=["dashboard"])
STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}
MAX_SAMPLE = 5000


def _static(name: str) -> Response:
    if name not in STATIC:
        raise not_found(f"no dashboard file {name!r}")
    body = (files("vectro.server.dashboard") / name).read_bytes()
    return Response(body, media_type=STATIC[name], headers={"Cache-Control": "no-cache"})


@router.get("/dashboard", include_in_schema=False)
def page():
    return _static("index.html")


@router.get("/dashboard/{name}", include_in_schema=False)
def asset(name: str):
    return _static(name)


@router.get("/collections/{name}/map", dependencies=[READ])
def collection_map(name: str, request: Request, sample: int = Query(500, ge=2, le=MAX_SAMPLE),
                   color_by: str = Query("kmeans", max_length=128), k: int = Query(6, ge=1, le=50)):
    svc = service(request)
    coll = svc.collection(name)
    with coll.lock.read():
        ids = sorted(coll.payloads.all_ids())
        if len(ids) < 2:
            raise invalid(f"collection {name!r} holds {len(ids)} records; a map needs at least 2", "sample")
        if len(ids) > sample:
            rows = np.sort(np.random.default_rng(0).choice(len(ids), sample, replace=False))
            ids = [ids[i] for i in rows]
        X = coll.index.get(np.array(ids, dtype=object))  # the decoded codes
    xy, share = pca_2d(X)
    payloads = {r["id"]: r.get("payload") or {} for r in svc.get_records(name, ids)}
    if color_by == "kmeans":
        labels = [f"cluster {c}" for c in kmeans(X, min(k, len(ids)))]
    else:
        labels = [_label(payloads.get(i, {}), color_by) for i in ids]
    points = [{"id": i, "x": round(float(x), 6), "y": round(float(y), 6), "label": label,
               "text": payloads.get(i, {}).get(TEXT_FIELD)} for i, (x, y), label in zip(ids, xy, labels)]
    return {"points": points, "color_by": color_by, "labels": sorted(set(labels)),
            "explained_variance": share, "sample": len(ids), "count": coll.count()}


def _label(payload: dict, field: str) -> str:
    """A payload field's value as a label (dotted paths reach into objects); '(none)' when absent."""
    value = payload
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "(none)" if value is None else str(value)
