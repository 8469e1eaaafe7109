"""Text on the server: the embedder behind every text route, and text in records and searches.

The server embeds through one `Embedder` kept on `app.state.embedder` (made on first use from the
model registry, with an SQLite embedding cache in the data folder). Tests put their own there and
`register` a small fake model, as llm's conftest registers `embed-demo`:

    app.state.embedder = Embedder(registry)
    app.state.embedder.register(my_provider)       # a vectro.embed.Provider, found by its name

A collection's model is named at creation (`model`); without one it is the registry's default
model when the dimensions agree, recorded then so that a later change of default cannot mix
models. Records may carry `text` instead of `vector`: the text is embedded with the collection's
model and kept in the payload under `text`, so results show it.
"""

from __future__ import annotations

import threading

import numpy as np

from ..embed import EmbeddingCache, Provider, embed, load_registry
from ..embed.registry import Registry
from ..errors import VectroError
from .errors import ApiError, invalid

#: the payload field that holds a record's text
TEXT_FIELD = "text"
CACHE_NAME = "embeddings.sqlite"


class Embedder:
    """Models by name (the registry's, plus registered providers) and an optional embedding cache."""

    def __init__(self, registry: Registry | None = None, cache_path=None):
        self.registry = registry if registry is not None else load_registry()
        self.cache = EmbeddingCache(cache_path) if cache_path is not None else None
        self.extra: dict[str, Provider] = {}

    def register(self, provider: Provider, default: bool = False) -> None:
        """Serve `provider` under its name (not cached: meant for tests and in-process models)."""
        self.extra[provider.name] = provider
        if default:
            self._default = provider.name

    @property
    def default(self) -> str:
        return getattr(self, "_default", self.registry.default)

    def names(self) -> list[str]:
        return sorted({*self.registry.specs, *self.extra})

    def dimension(self, model: str | None, path: str = "model") -> int:
        """The dimension of a model (None: the default); 422 naming the known models if unknown."""
        model = model or self.default
        if model in self.extra:
            return self.extra[model].dimension
        if model not in self.registry.specs:
            raise invalid(f"unknown embedding model {model!r}; known: {', '.join(self.names())}", path)
        return self.registry.specs[model].dimension

    def embed(self, model: str | None, texts: list[str], path: str = "text") -> np.ndarray:
        """float32 (len(texts), dimension); a model that cannot run is a 400 saying why."""
        model = model or self.default
        self.dimension(model)
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise invalid("a text must be a non-empty string", path if len(texts) == 1 else f"{path}[{i}]")
        try:
            if model in self.extra:
                return self.extra[model].embed(texts)
            return embed(model, texts, registry=self.registry, cache=self.cache)
        except ApiError:
            raise
        except VectroError as exc:
            raise ApiError(400, str(exc), "model") from None

    def describe(self, model: str) -> dict:
        """One model for GET /models: id, provider, dimensions, description, and whether it can run here."""
        if model in self.extra:
            provider = self.extra[model]
            return {"id": model, "provider": provider.kind, "dimensions": provider.dimension,
                    "description": "registered in this process", "available": provider.missing() is None,
                    "missing": provider.missing(), "default": model == self.default}
        from ..embed.registry import provider_for

        spec = self.registry.get(model)
        try:
            missing = provider_for(spec).missing()
        except VectroError as exc:
            missing = str(exc)
        return {"id": model, "provider": spec.provider, "dimensions": spec.dimension,
                "description": spec.description, "model": spec.describe(), "available": missing is None,
                "missing": missing, "default": model == self.default}

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


_LOCK = threading.Lock()


def embedder(request) -> Embedder:
    """The app's embedder, made on first use from the registry (cache in the data folder)."""
    state = request.app.state
    with _LOCK:
        if getattr(state, "embedder", None) is None:
            folder = getattr(state.service, "data_dir", None)
            state.embedder = Embedder(cache_path=None if folder is None else folder / CACHE_NAME)
        return state.embedder


def collection_model(emb: Embedder, config) -> str:
    """The model that embeds text for a collection, or a 422 when it has none."""
    if config.model:
        return config.model
    raise invalid(f"collection {config.name!r} has no embedding model (its {config.dimension}-d vectors fit none "
                  "by default); create it with \"model\", or send vectors", "text")


def creation_model(emb: Embedder, model: str | None, dimension: int | None) -> tuple[str | None, int]:
    """(model, dimension) for a new collection. A given model is checked against the registry and
    gives the dimension when none is given; without one, the registry's default model is recorded
    when its dimension matches (else the collection takes vectors only)."""
    if model is None:
        if dimension is None:
            raise invalid("give dimension, or model (the collection then has the model's dimension)", "dimension")
        return (emb.default if emb.dimension(None) == dimension else None), dimension
    known = emb.dimension(model, "model")
    if dimension is not None and dimension != known:
        raise invalid(f"model {model!r} makes {known}-d vectors, but dimension is {dimension}", "dimension")
    return model, known


def with_text(payload: dict | None, text: str) -> dict:
    """A new payload holding `text` under TEXT_FIELD (the caller's dict is not changed)."""
    return {**(payload or {}), TEXT_FIELD: text}


def record_vectors(request, coll, records, as_vectors) -> tuple[np.ndarray, list]:
    """float32 (n, d) and payloads for records that each carry `vector` or `text` (texts embedded in one call)."""
    dim = coll.config.dimension
    texts = [i for i, r in enumerate(records) if r.text is not None]
    X = np.empty((len(records), dim), dtype=np.float32)
    payloads = [r.payload for r in records]
    given = [i for i, r in enumerate(records) if r.text is None]
    if given:
        X[given] = as_vectors([records[i].vector for i in given], dim, lambda j: f"records[{given[j]}].vector")
    if texts:
        emb = embedder(request)
        model = collection_model(emb, coll.config)
        X[texts] = emb.embed(model, [records[i].text for i in texts], "records.text")
        for i in texts:
            payloads[i] = with_text(records[i].payload, records[i].text)
    return X, payloads


def query_vectors(request, coll, body, as_vectors) -> tuple[np.ndarray, bool]:
    """(float32 (nq, d) queries, whether it was one query) from a search's vector(s) or text(s)."""
    dim = coll.config.dimension
    if body.text is not None or body.texts is not None:
        emb = embedder(request)
        single = body.text is not None
        texts = [body.text] if single else body.texts
        return emb.embed(collection_model(emb, coll.config), texts, "text" if single else "texts"), single
    single = body.vector is not None
    rows = [body.vector] if single else body.vectors
    return as_vectors(rows, dim, (lambda i: "vector") if single else (lambda i: f"vectors[{i}]")), single
