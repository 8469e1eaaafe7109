"""Search: one vector or a batch, with a filter applied before the top-k."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from ..errors import too_large
from ..schemas import Search
from .deps import READ, as_vectors, service

router = APIRouter(tags=["search"])


@router.post("/collections/{name}/search", dependencies=[READ])
def search(name: str, body: Search, request: Request):
    started = time.perf_counter()
    svc = service(request)
    coll = svc.collection(name)
    if body.k + body.offset > svc.limits.max_k:
        raise too_large(f"k + offset = {body.k + body.offset} is above max_k={svc.limits.max_k}", "k")
    single = body.vector is not None
    rows = [body.vector] if single else body.vectors
    if len(rows) > svc.limits.max_batch_records:
        raise too_large(f"{len(rows)} query vectors; the limit is max_batch_records={svc.limits.max_batch_records}",
                        "vectors")
    Q = as_vectors(rows, coll.config.dimension, (lambda i: "vector") if single else (lambda i: f"vectors[{i}]"))
    results = svc.search(name, Q, k=body.k, flt=body.filter, with_payload=body.with_payload,
                         with_vector=body.with_vector, score_threshold=body.score_threshold, offset=body.offset,
                         oversampling=body.oversampling, rescore=body.rescore, exact=body.exact)
    return {"results": results[0] if single else results, "took_ms": round(1000 * (time.perf_counter() - started), 3)}
