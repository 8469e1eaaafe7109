"""What every route shares: the service, the auth check by scope, and vectors from JSON."""

from __future__ import annotations

import asyncio
import json

import anyio
import numpy as np
from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from ...backend import core_count
from ..errors import ApiError, invalid
from ..service import Service


def service(request: Request) -> Service:
    return request.app.state.service


def scope(needed: str):
    """A dependency that lets the request through only with a key of scope `needed` or higher."""

    async def check(request: Request) -> None:  # async: a sync dependency costs a thread-pool hop per request
        request.app.state.auth.check(request.headers, needed)

    return Depends(check)


READ, WRITE, ADMIN = scope("read"), scope("write"), scope("admin")


async def on_a_core(request: Request, fn, *args):
    """`fn(*args)` on a worker thread, with at most one such call per core running at once; the rest
    wait on the event loop.

    A search is CPU-bound and takes the GIL between its kernel calls. With more threads than cores they
    spend their time handing the GIL over: in one process on 2 cores, 2 threads run 858 searches/s
    and 8 threads 544 (FastAPI's own pool would run up to 40). The cores, not VECTRO_THREADS:
    `vectro serve` sets that to 1 for the kernels, as each request is already one thread."""
    limiters = request.app.state.core_limiters  # one per event loop: a waiter is woken by its own loop
    loop = asyncio.get_running_loop()
    limiter = limiters.get(loop)
    if limiter is None:
        limiter = limiters[loop] = anyio.CapacityLimiter(core_count())
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)


#: the bodies that hot routes parse themselves (see `parsed`), by model name, for the OpenAPI schema
SELF_PARSED: dict[str, type[BaseModel]] = {}


def self_parsed_body(model: type[BaseModel]) -> dict:
    """The `openapi_extra` of a route that parses a `model` body itself: the schema still documents it."""
    SELF_PARSED[model.__name__] = model
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def parsed(model: type[BaseModel], raw: bytes, content_type: str | None):
    """`raw` validated by pydantic straight from the bytes: about twice as fast as FastAPI's way
    (JSON to dicts, then dicts to the model). Errors are FastAPI's own (422 naming the field, 400 for
    malformed JSON), as is what counts as JSON: no content type, or application/json or */*+json,
    and a leading UTF-8 byte-order mark is skipped; another content type is a 415."""
    if content_type and not _is_json(content_type):
        raise ApiError(415, f"the body must be JSON (Content-Type: application/json), not {content_type!r}")
    if not raw.strip():
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        return model.model_validate_json(raw.removeprefix(b"\xef\xbb\xbf"))
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def openapi_schemas() -> dict:
    """Component schemas of the self-parsed bodies and of what they refer to."""
    out = {}
    for name, model in SELF_PARSED.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        out.update({name: schema, **schema.pop("$defs", {})})
    return out


def json_response(content) -> Response:
    """`content` (plain dicts, lists, str, float) as a JSON response, encoded once by `json.dumps`.

    Hot routes return this: FastAPI's `jsonable_encoder`, which a returned dict goes through first,
    walks every value in Python and costs more than a brute-force search at 50k vectors."""
    body = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return Response(body, media_type="application/json")


def as_vectors(rows: list[list[float]], dim: int, path) -> np.ndarray:
    """float32 (n, dim) from JSON rows; a wrong length or NaN/Inf is a 422 naming the row (path(i))."""
    for i, row in enumerate(rows):
        if len(row) != dim:
            raise invalid(f"vector has {len(row)} dimensions, but the collection has {dim}", path(i))
    X = np.array(rows, dtype=np.float64).reshape(len(rows), dim)
    finite = (np.abs(X) <= np.finfo(np.float32).max).all(axis=1)  # False for NaN, Inf and beyond float32
    if not finite.all():
        bad = int(np.argmin(finite))
        raise invalid("vector holds NaN or Infinity (or a value beyond float32's range)", path(bad))
    return X.astype(np.float32)
