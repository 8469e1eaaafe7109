"""The ASGI app: routers over a `Service`, one error envelope, request limits and metrics.

    app = create_app(Service("vectro-data"))               # what `vectro serve` runs
    app = create_app(service, routers=[text_router])      # a feature adds its own routes
"""

from __future__ import annotations

import json
import logging
import time
import weakref

from starlette.exceptions import HTTPException

from ..errors import VectroError
from .auth import Authenticator
from .errors import ApiError, location
from .metrics import Metrics
from .service import Service

log = logging.getLogger("vectro.server")


def create_app(service: Service, auth: Authenticator | None = None, routers=(), embeddings_only: bool = False):
    """A FastAPI app serving `service`; `routers` are extra APIRouters included after the core ones.

    embeddings_only: only /health and the model routes (`vectro serve --embeddings-only`)."""
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    from .. import __version__
    from .routes import collections, dashboard, deps, models, records, search, seed, system

    app = FastAPI(title="vectro", version=__version__,
                  description="A vector database whose collections live compressed.")
    app.state.service = service
    app.state.auth = auth or Authenticator(service.db)
    app.state.metrics = Metrics()
    app.state.core_limiters = weakref.WeakKeyDictionary()  # event loop -> its search limiter (routes.deps.on_a_core)
    core = (collections.router, records.router, search.router, seed.router, dashboard.router)  # seed, dashboard: #16
    for router in (system.router, models.router, *(() if embeddings_only else core), *routers):
        app.include_router(router)
    plain_openapi = app.openapi

    def openapi():
        if app.openapi_schema is None:
            schema = plain_openapi()
            schema.setdefault("components", {}).setdefault("schemas", {}).update(deps.openapi_schemas())
        return app.openapi_schema

    app.openapi = openapi

    def envelope(exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.envelope(), status_code=exc.status)

    @app.exception_handler(ApiError)
    async def api_error(request, exc: ApiError):
        return envelope(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"msg": "invalid request", "loc": ()}
        if first.get("type") == "json_invalid":
            return envelope(ApiError(400, f"malformed JSON: {first.get('ctx', {}).get('error', first['msg'])}"))
        path = location(first.get("loc", ()))
        message = first["msg"]
        if first.get("type") == "extra_forbidden":
            message = f"unknown field {path!r}"
        elif first.get("type") == "missing":
            message = f"field {path!r} is required" if path else "the request body is required"
        return envelope(ApiError(422, message, path))

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):
        return envelope(ApiError(exc.status_code, str(exc.detail)))

    @app.exception_handler(VectroError)
    async def vectro_error(request, exc: VectroError):
        return envelope(ApiError(400, str(exc)))

    @app.exception_handler(Exception)
    async def internal_error(request, exc: Exception):
        log.exception("internal error on %s %s", request.method, request.url.path)
        return envelope(ApiError(500, f"internal error: {type(exc).__name__}"))

    return LimitsAndMetrics(app, service.limits.max_request_bytes, app.state.metrics)


class LimitsAndMetrics:
    """ASGI wrapper: refuse bodies over max_request_bytes (413), time and count every request by route."""

    def __init__(self, app, max_bytes: int, metrics: Metrics):
        self.app, self.max_bytes, self.metrics = app, max_bytes, metrics
        self.state = app.state  # tests and routes reach the FastAPI app's state through the wrapper

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = {"code": 500}

        async def sending(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_bytes:
                return await self._too_large(send, int(length))
            received = 0

            async def receiving():
                nonlocal received
                message = await receive()
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(received, self.max_bytes)
                return message

            try:
                await self.app(scope, receiving, sending)
            except _TooLarge as exc:
                await self._too_large(send, exc.size)
                status["code"] = 413
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(scope["method"], path, status["code"], time.perf_counter() - started)

    async def _too_large(self, send, size: int) -> None:
        body = json.dumps(ApiError(413, f"request body of {size:,} bytes is above max_request_bytes="
                                        f"{self.max_bytes:,}").envelope()).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(HTTPException):
    """Raised while a body without Content-Length streams in past max_request_bytes. An HTTPException,
    so that a route reading the body answers it with the 413 envelope (the handler above)."""

    def __init__(self, size: int, max_bytes: int):
        super().__init__(413, f"request body of at least {size:,} bytes is above max_request_bytes={max_bytes:,}")
        self.size = size
