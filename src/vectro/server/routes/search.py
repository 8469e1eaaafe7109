"""Search: one vector or a batch, with a filter applied before the top-k."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from ..errors import too_large
from ..schemas import Search
from ..text import query_vectors
from .deps import READ, as_vectors, json_response, on_a_core, parsed, self_parsed_body, service

router = APIRouter(tags=["search"])


@router.post("/collections/{name}/search", dependencies=[READ], openapi_extra=self_parsed_body(Search))
async def search(name: str, request: Request):
    """The k nearest records to each query (vector, vectors, text or texts), best first; a filter
    is applied before the top-k."""
    started = time.perf_counter()
    body = parsed(Search, await request.body(), request.headers.get("content-type"))  # straight from the bytes
    svc = service(request)
    coll = svc.collection(name)
    if body.k + body.offset > svc.limits.max_k:
        raise too_large(f"k + offset = {body.k + body.offset} is above max_k={svc.limits.max_k}", "k")
    many = body.vectors if body.vectors is not None else body.texts
    if many is not None and len(many) > svc.limits.max_batch_records:
        raise too_large(f"{len(many)} queries; the limit is max_batch_records={svc.limits.max_batch_records}",
                        "vectors" if body.vectors is not None else "texts")
    queries = None
    if body.text is not None or body.texts is not None:  # a remote model may take seconds: not on a search's core
        queries = await run_in_threadpool(query_vectors, request, coll, body, as_vectors)
    return await on_a_core(request, _search, request, coll, body, queries, started)


def _search(request: Request, coll, body, queries, started: float):
    Q, single = queries if queries is not None else query_vectors(request, coll, body, as_vectors)
    results = service(request).search(coll.config.name, Q, k=body.k, flt=body.filter, with_payload=body.with_payload,
                                      with_vector=body.with_vector, score_threshold=body.score_threshold,
                                      offset=body.offset, oversampling=body.oversampling, rescore=body.rescore,
                                      exact=body.exact)
    return json_response({"results": results[0] if single else results,
                          "took_ms": round(1000 * (time.perf_counter() - started), 3)})
