"""Health (always open, with the limits) and Prometheus metrics."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from ... import __version__
from .deps import READ, service

router = APIRouter(tags=["system"])


@router.get("/health")
def health(request: Request):
    svc = service(request)
    return {"status": "ok", "version": __version__, "collections": len(svc.collections),
            "auth": request.app.state.auth.enabled(), "limits": asdict(svc.limits)}


@router.get("/metrics", dependencies=[READ], response_class=PlainTextResponse)
def metrics(request: Request):
    svc = service(request)
    sizes = {name: {"count": c.count(), **c.memory()} for name, c in list(svc.collections.items())}
    return PlainTextResponse(request.app.state.metrics.render(sizes),
                             media_type="text/plain; version=0.0.4; charset=utf-8")
