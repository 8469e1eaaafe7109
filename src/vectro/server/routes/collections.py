"""Collections: create, list, describe, delete; optimize (fit the codec) and snapshots."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ..collection import CollectionConfig
from ..schemas import CreateCollection
from ..text import creation_model, embedder
from .deps import ADMIN, READ, service

router = APIRouter(tags=["collections"])


@router.post("/collections", status_code=201, dependencies=[ADMIN])
def create_collection(body: CreateCollection, request: Request, response: Response):
    model, dimension = creation_model(embedder(request), body.model, body.dimension)  # text: the model's
    keep = body.keep_originals
    keep = "float32" if keep is True else (None if keep is False else keep)
    config = CollectionConfig(name=body.name, dimension=dimension, metric=body.metric, codec=body.codec,
                              keep_originals=keep, rescore=bool(keep) if body.rescore is None else body.rescore,
                              ann=body.ann, fit_rows=body.fit_rows, oversampling=body.oversampling, model=model)
    info, created = service(request).create_collection(config, body.get_or_create)
    if not created:
        response.status_code = 200
    return info


@router.get("/collections", dependencies=[READ])
def list_collections(request: Request):
    return {"collections": service(request).list_collections()}


@router.get("/collections/{name}", dependencies=[READ])
def get_collection(name: str, request: Request):
    svc = service(request)
    return svc.describe(svc.collection(name))


@router.delete("/collections/{name}", dependencies=[ADMIN])
def delete_collection(name: str, request: Request):
    service(request).delete_collection(name)
    return {"deleted": name}


@router.post("/collections/{name}/optimize", dependencies=[ADMIN])
def optimize(name: str, request: Request):
    return service(request).optimize(name)


@router.post("/collections/{name}/snapshots", status_code=201, dependencies=[ADMIN])
def snapshot(name: str, request: Request):
    return service(request).snapshot(name)
