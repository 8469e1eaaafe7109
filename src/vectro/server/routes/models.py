"""The embedding service's routes (what `vectro serve --embeddings-only` answers), and tokens.

    POST /embed         {text, model_id?}   -> {text, embedding, dimensions, success, message, model}  (the seed's)
                        {texts, model?}     -> {embeddings, model, dimension}   (what the `vectro` provider sends)
    POST /batch-embed   {texts, model_id?}  -> {embeddings, dimensions, count, model, success, message}
    GET  /models        -> {models: [{id, provider, dimensions, description, available, missing, default}], default}
    POST /models/benchmark, POST /benchmark  {models?, texts?, codecs?, k?} -> vectro.embed.benchmark_models' report
    POST /auth/token    {api_key, expires_in?} -> {access_token, token_type, expires_in, expires_at, scope}

`model` and `model_id` name the same thing (a registry model; absent: the default one).
"""

from __future__ import annotations

from typing import Optional, Union

from fastapi import APIRouter, Request
from pydantic import Field, model_validator

from ...embed.bench import DEFAULT_CODECS, Labelled, benchmark_model, benchmark_models
from ...embed.texts import Texts
from ...errors import VectroError
from ..errors import ApiError, invalid, too_large
from ..schemas import Strict
from ..text import embedder
from ..tokens import DEFAULT_TTL_S, MAX_TTL_S, is_token
from .deps import READ

router = APIRouter(tags=["models"])
MAX_BENCH_TEXTS = 5000


class ModelChoice(Strict):
    model: Optional[str] = None
    model_id: Optional[str] = None

    def chosen(self) -> Optional[str]:
        if self.model is not None and self.model_id is not None and self.model != self.model_id:
            raise invalid("model and model_id name the same thing; give one", "model_id")
        return self.model_id or self.model


class EmbedRequest(ModelChoice):
    text: Optional[str] = None
    texts: Optional[list[str]] = None

    @model_validator(mode="after")
    def _one(self):
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of text and texts")
        return self


class BatchEmbedRequest(ModelChoice):
    texts: list[str]


class TextItem(Strict):
    text: str
    group: Optional[str] = None


class BenchmarkRequest(Strict):
    models: Optional[list[str]] = Field(None, min_length=1)
    model_ids: Optional[list[str]] = Field(None, min_length=1, description="alias of models")
    texts: Optional[list[Union[str, TextItem]]] = Field(None, min_length=2, description="default: the bundled sample")
    codecs: list[str] = Field(list(DEFAULT_CODECS))
    k: int = Field(10, ge=1, le=100)


class TokenRequest(Strict):
    api_key: str = Field(min_length=1)
    expires_in: int = Field(DEFAULT_TTL_S, ge=1, le=MAX_TTL_S)


def _check_batch(request: Request, texts: list[str], path: str) -> None:
    limit = request.app.state.service.limits.max_batch_records
    if len(texts) > limit:
        raise too_large(f"{len(texts)} texts in one request; the limit is max_batch_records={limit}", path)


@router.post("/embed", dependencies=[READ])
def embed(body: EmbedRequest, request: Request):
    emb = embedder(request)
    model = body.chosen() or emb.default
    if body.text is not None:
        vector = emb.embed(model, [body.text])[0].tolist()
        return {"text": body.text, "embedding": vector, "dimensions": len(vector), "success": True,
                "message": f"Generated embedding with {len(vector)} dimensions", "model": model}
    _check_batch(request, body.texts, "texts")
    X = emb.embed(model, body.texts, "texts") if body.texts else []
    return {"embeddings": [row.tolist() for row in X], "model": model, "dimension": emb.dimension(model)}


@router.post("/batch-embed", dependencies=[READ])
def batch_embed(body: BatchEmbedRequest, request: Request):
    emb = embedder(request)
    model = body.chosen() or emb.default
    if not body.texts:
        raise invalid("texts is empty", "texts")
    _check_batch(request, body.texts, "texts")
    X = emb.embed(model, body.texts, "texts")
    return {"embeddings": X.tolist(), "dimensions": X.shape[1], "count": len(X), "model": model, "success": True,
            "message": f"Generated {len(X)} embeddings with {X.shape[1]} dimensions"}


@router.get("/models", dependencies=[READ])
def models(request: Request):
    emb = embedder(request)
    return {"models": [emb.describe(name) for name in emb.names()], "default": emb.default}


@router.post("/models/benchmark", dependencies=[READ])
@router.post("/benchmark", dependencies=[READ])
def benchmark(body: BenchmarkRequest, request: Request):
    """Compare models: time per text, dimension, contrast (texts with groups), and with the bundled
    sample recall@k and nDCG@k per codec. Models that cannot run here get a row with their error."""
    emb = embedder(request)
    if body.models and body.model_ids:
        raise invalid("models and model_ids are the same parameter; give one", "model_ids")
    names = body.models or body.model_ids or [emb.registry.default]
    for i, name in enumerate(names):
        if name not in emb.registry.specs:
            raise invalid(f"unknown embedding model {name!r}; known: {', '.join(sorted(emb.registry.specs))}",
                          f"models[{i}]")
    if body.texts is None:
        return benchmark_models(names, codecs=body.codecs, k=body.k, registry=emb.registry)
    if len(body.texts) > MAX_BENCH_TEXTS:
        raise too_large(f"{len(body.texts)} texts; the limit is {MAX_BENCH_TEXTS}", "texts")
    items = [TextItem(text=t) if isinstance(t, str) else t for t in body.texts]
    data = Labelled(Texts([t.text for t in items], [str(i) for i in range(len(items))], [t.group for t in items]))
    rows = []
    for name in names:
        try:
            rows.append(benchmark_model(name, data, emb.registry, body.codecs, body.k))
        except VectroError as exc:  # one model failing leaves the others' rows
            spec = emb.registry.get(name)
            rows.append({"model": name, "provider": spec.provider, "dimension": spec.dimension, "error": str(exc)})
    return {"k": body.k, "passages": len(items), "queries": 0, "models": rows}


@router.post("/auth/token")
def token(body: TokenRequest, request: Request):
    """Exchange an API key for a short-lived signed token, sent later as `Authorization: Bearer <token>`."""
    auth = request.app.state.auth
    if not auth.enabled():
        raise ApiError(400, "no API keys are configured: this server is open and needs no token")
    if is_token(body.api_key):
        raise invalid("send an API key, not a token", "api_key")
    scope = auth.scope_of(body.api_key)
    if scope is None:
        raise ApiError(401, "invalid or revoked API key", "api_key")
    access, expires = auth.tokens.issue(scope, body.expires_in)
    return {"access_token": access, "token_type": "bearer", "expires_in": body.expires_in, "expires_at": expires,
            "scope": scope}
