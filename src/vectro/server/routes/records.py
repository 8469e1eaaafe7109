"""Records: batch upsert, get and delete by id or filter, count, scroll."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from ..errors import invalid, not_found, too_large
from ..schemas import CountRecords, DeleteRecords, GetRecords, Scroll, Upsert, record_id
from ..text import record_vectors
from .deps import READ, WRITE, as_vectors, json_response, parsed, self_parsed_body, service

router = APIRouter(tags=["records"])


@router.put("/collections/{name}/records", dependencies=[WRITE], openapi_extra=self_parsed_body(Upsert))
async def upsert(name: str, request: Request):
    """Insert or replace a batch of records in one transaction: all of them are stored, or none."""
    # parsed by pydantic straight from the bytes (deps.parsed), off the event loop: a batch can be megabytes
    raw = await request.body()
    return await run_in_threadpool(_upsert, request, name, raw)


def _upsert(request: Request, name: str, raw: bytes) -> dict:
    svc = service(request)
    coll = svc.collection(name)
    body = parsed(Upsert, raw, request.headers.get("content-type"))
    limit = svc.limits.max_batch_records
    if len(body.records) > limit:
        raise too_large(f"{len(body.records)} records in one request; the limit is max_batch_records={limit}",
                        "records")
    ids = [r.id for r in body.records]
    seen = {}
    for i, id_ in enumerate(ids):
        if id_ in seen:
            raise invalid(f"id {id_!r} appears twice in one batch (records[{seen[id_]}] and records[{i}])",
                          f"records[{i}].id")
        seen[id_] = i
    X, payloads = record_vectors(request, coll, body.records, as_vectors)  # vectors, or texts embedded
    return {"upserted": svc.upsert(name, ids, X, payloads)}


@router.get("/collections/{name}/records/{id}", dependencies=[READ])
def get_record(name: str, id: str, request: Request):
    return json_response(service(request).get_record(name, _path_id(id)))


@router.delete("/collections/{name}/records/{id}", dependencies=[WRITE])
def delete_record(name: str, id: str, request: Request):
    svc = service(request)
    id_ = _path_id(id)
    if not svc.delete_records(name, ids=[id_]):
        raise not_found(f"record {id_!r} does not exist in collection {name!r}", "id")
    return {"deleted": 1}


@router.post("/collections/{name}/records/get", dependencies=[READ])
def get_records(name: str, body: GetRecords, request: Request):
    return json_response({"records": service(request).get_records(name, body.ids, body.with_vector, body.with_payload)})


@router.post("/collections/{name}/records/delete", dependencies=[WRITE])
def delete_records(name: str, body: DeleteRecords, request: Request):
    return {"deleted": service(request).delete_records(name, ids=body.ids, flt=body.filter)}


@router.post("/collections/{name}/records/count", dependencies=[READ])
def count_records(name: str, body: CountRecords, request: Request):
    return {"count": service(request).count(name, body.filter)}


@router.post("/collections/{name}/records/scroll", dependencies=[READ])
def scroll(name: str, body: Scroll, request: Request):
    svc = service(request)
    if body.limit > svc.limits.max_scroll:
        raise too_large(f"limit {body.limit} is above max_scroll={svc.limits.max_scroll}", "limit")
    records, cursor = svc.scroll(name, body.limit, body.cursor, body.filter, body.with_vector, body.with_payload)
    return json_response({"records": records, "next_cursor": cursor})


def _path_id(value: str) -> str:
    try:
        return record_id(value)
    except ValueError as exc:
        raise invalid(str(exc), "id") from None

