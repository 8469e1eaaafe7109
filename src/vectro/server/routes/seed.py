"""The seed Vectron's vector routes, with its request and answer shapes, on a default collection.

    GET  /                      JSON for API clients; a browser asking for HTML goes to /dashboard
    POST /vector                {id, vector}                  -> {success, message, count}
    GET  /vector/{id}           -> {id, vector, success, message}
    DELETE /vector/{id}         -> {success, message, count}
    GET  /vectors               -> ["id", ...]
    POST /upsert-text           {id, text, model_id?}         -> {success, message, count}
    POST /search/vector?top_k=  {vector}                      -> [{id, score}, ...]
    POST /search/text?top_k=    {text, model_id?}             -> {results: [{id, score, text}], query, success, message}

The collection of a model is created on first use: `default` for the registry's default model,
`default-<model>` for another `model_id`, so texts embedded by different models are never mixed
(a search with `model_id` searches what was stored with that model). Unlike the seed: an unknown
id is a 404 and bad input a 4xx, each with the seed's fields (`success: false`, `message`) beside
the server's error envelope; text is kept in the payload so text results show it; no embedding
is ever made up. As the seed's README sends it, /search/text also reads its JSON from the query
string when the body is empty (`curl -G` moves `-d` data there).
"""

from __future__ import annotations

import json
import re

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field, ValidationError

from ... import __version__
from ..collection import CollectionConfig
from ..errors import ApiError, location
from ..schemas import RecordId
from ..text import Embedder, embedder, with_text
from .deps import READ, WRITE, as_vectors, on_a_core, service

router = APIRouter(tags=["seed Vectron"])
DEFAULT_TOP_K = 5


class SeedError(ApiError):
    "An ApiError whose body also carries the seed's `success: false` and `message`."

    def __init__(self, status: int, message: str, path: str | None = None, **fields):
        super().__init__(status, message, path)
        self.fields = fields

    def envelope(self) -> dict:
        return {**self.fields, "success": False, "message": self.message, **super().envelope()}


class VectorData(BaseModel):
    id: RecordId
    vector: list[float]


class TextVectorData(BaseModel):
    id: RecordId
    text: str = Field(min_length=1)
    model_id: str | None = None


class VectorSearchQuery(BaseModel):
    vector: list[float]
    top_k: int | None = Field(None, ge=1)


class TextSearchQuery(BaseModel):
    text: str = Field(min_length=1)
    model_id: str | None = None
    top_k: int | None = Field(None, ge=1)


def collection_name(emb: Embedder, model: str | None) -> str:
    """`default` for the default model, `default-<model>` for another (checked against the registry)."""
    model = model or emb.default
    emb.dimension(model, "model_id")
    return "default" if model == emb.default else "default-" + re.sub(r"[^A-Za-z0-9_-]", "_", model)[:56]


def seed_collection(request: Request, model: str | None = None, create: bool = True):
    """The collection of `model`, made on first use (None when absent and `create` is false)."""
    svc, emb = service(request), embedder(request)
    name = collection_name(emb, model)
    if name not in svc.collections and create:
        model = model or emb.default
        svc.create_collection(CollectionConfig(name=name, dimension=emb.dimension(model), model=model),
                              get_or_create=True)
    return svc.collections.get(name)


async def body_of(request: Request, schema, query_json: bool = False):
    """The request's JSON validated by `schema`; errors are 4xx in the seed's shape."""
    raw = await request.body()
    if not raw.strip() and query_json:  # curl -G -d '{...}': the JSON is a query-string key
        raw = next((k.encode() for k in request.query_params if k.lstrip().startswith("{")), raw)
    try:
        data = json.loads(raw) if raw.strip() else None
    except ValueError as exc:
        raise SeedError(400, f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SeedError(422, "the body must be a JSON object")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = location(first["loc"])
        message = f"field {path!r} is required" if first["type"] == "missing" else f"{path}: {first['msg']}"
        raise SeedError(422, message, path) from None


def top_k_of(query_value: int | None, body_value: int | None, request: Request) -> int:
    k = query_value or body_value or DEFAULT_TOP_K
    if k > service(request).limits.max_k:
        raise SeedError(413, f"top_k {k} is above max_k={service(request).limits.max_k}", "top_k")
    return k


def _upsert(request: Request, coll, id_: str, vector, payload) -> dict:
    svc = service(request)
    existed = bool(svc.get_records(coll.config.name, [id_], with_payload=False))
    svc.upsert(coll.config.name, [id_], vector, [payload])
    return existed


@router.get("/", include_in_schema=False)
def root(request: Request):
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/dashboard", status_code=307)
    return {"success": True, "message": "Hello from vectro!", "version": __version__,
            "dashboard": "/dashboard", "docs": "/docs"}


@router.post("/vector", dependencies=[WRITE])
async def insert_vector(request: Request):
    data = await body_of(request, VectorData)
    coll = seed_collection(request)
    X = as_vectors([data.vector], coll.config.dimension, lambda i: "vector")
    existed = _upsert(request, coll, data.id, X, None)
    return {"success": True, "message": f"Vector with ID {data.id} {'updated' if existed else 'inserted'}",
            "count": coll.count()}


@router.get("/vector/{id}", dependencies=[READ])
def get_vector(id: str, request: Request):
    coll = seed_collection(request, create=False)
    found = service(request).get_records(coll.config.name, [id], with_vector=True) if coll else []
    if not found:
        raise SeedError(404, f"Vector with ID {id} not found", "id", id=id, vector=None)
    return {"id": id, "vector": found[0]["vector"], "success": True, "message": f"Vector with ID {id} found"}


@router.delete("/vector/{id}", dependencies=[WRITE])
def delete_vector(id: str, request: Request):
    coll = seed_collection(request, create=False)
    if coll is None or not service(request).delete_records(coll.config.name, ids=[id]):
        raise SeedError(404, f"Vector with ID {id} not found", "id", count=coll.count() if coll else 0)
    return {"success": True, "message": f"Vector with ID {id} deleted", "count": coll.count()}


@router.get("/vectors", dependencies=[READ])
def list_vectors(request: Request):
    coll = seed_collection(request, create=False)
    if coll is None:
        return []
    with coll.lock.read():
        return sorted(coll.payloads.all_ids())


@router.post("/upsert-text", dependencies=[WRITE])
async def upsert_text(request: Request):
    data = await body_of(request, TextVectorData)
    coll = seed_collection(request, data.model_id)
    X = embedder(request).embed(coll.config.model, [data.text])
    existed = _upsert(request, coll, data.id, X, with_text(None, data.text))
    return {"success": True, "message": f"Vector from text with ID {data.id} {'updated' if existed else 'inserted'}",
            "count": coll.count()}


def _hits(request: Request, coll, X, k: int) -> list[dict]:
    if coll is None:
        return []
    return service(request).search(coll.config.name, X, k=k)[0]


@router.post("/search/vector", dependencies=[READ])
async def search_by_vector(request: Request, top_k: int | None = Query(None, ge=1)):
    data = await body_of(request, VectorSearchQuery)
    coll = seed_collection(request, create=False)
    dim = coll.config.dimension if coll else embedder(request).dimension(None)
    X = as_vectors([data.vector], dim, lambda i: "vector")
    hits = await on_a_core(request, _hits, request, coll, X, top_k_of(top_k, data.top_k, request))
    return [{"id": h["id"], "score": h["score"]} for h in hits]


@router.post("/search/text", dependencies=[READ])
async def search_by_text(request: Request, top_k: int | None = Query(None, ge=1)):
    data = await body_of(request, TextSearchQuery, query_json=True)
    emb = embedder(request)
    model = data.model_id or emb.default
    coll = seed_collection(request, model, create=False)
    X = await run_in_threadpool(emb.embed, model, [data.text])  # even when nothing is stored: the model is honoured
    hits = await on_a_core(request, _hits, request, coll, X, top_k_of(top_k, data.top_k, request))
    results = [{"id": h["id"], "score": h["score"], "text": (h.get("payload") or {}).get("text")} for h in hits]
    return {"results": results, "query": data.text, "success": True,
            "message": f"Found {len(results)} similar vectors", "model_id": model}
