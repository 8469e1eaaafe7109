"""Text to vectors: local and remote embedding models behind one interface, with a cache.

    import vectro
    X = vectro.embed("minilm", ["open and possibly create a file", ...])   # float32 (n, 384)
    X = vectro.embed("minilm", texts, cache="~/.cache/vectro/embeddings.sqlite")
    vectro.embed.load_registry().get("openai-small")                        # a ModelSpec
    vectro.embed.benchmark_models(["minilm"])                               # the bundled sample

`vectro.embed` is this module and can be called: `vectro.embed(model, texts)` is
`vectro.embed.embed(model, texts)`. Models come from the registry (`registry.py`, TOML); each is
served by a `Provider` (`base.py`): `sentence-transformers` (local, offline, `local.py`),
`openai`, `cohere`, `huggingface` and `vectro` (HTTP, `remote.py`). A model that is not
installed or not reachable raises VectroError naming the package, path or key; no vector is
ever made up.

The embedding route, as the `vectro` provider calls it and a vectro server answers it:

    POST {url}/embed
    request:   {"texts": ["first text", "second text"], "model": "minilm"}
               ("model" may be null or absent: the server's default model)
    response:  200 {"embeddings": [[0.01, ...], [0.02, ...]], "model": "minilm", "dimension": 384}
               one float list per text, in request order, each of length "dimension"
    errors:    4xx/5xx with a JSON body whose message is at "error", "error.message", "message"
               or "detail"; 401/403 for a missing or wrong key (sent as "Authorization: Bearer
               $VECTRO_API_KEY" when that variable is set); 429/503 may carry Retry-After.
    batches:   the provider sends at most 256 texts per request.

This is a batch superset of the seed Vectron's single-text `/embed` ({"text"} -> {"embedding",
"dimensions", ...}); its `/batch-embed` answer ({"embeddings", "dimensions", "count"}) is read too.
"""

from __future__ import annotations

import sys
import types
from typing import Sequence

import numpy as np

from .base import Progress, Provider, check_texts
from .cache import EmbeddingCache
from .registry import ModelSpec, Registry, load_registry, provider_for

__all__ = ["embed", "get_provider", "load_registry", "provider_for", "benchmark_models", "Provider", "ModelSpec", "Registry",
           "EmbeddingCache"]


def get_provider(model: str | None = None, registry: Registry | str | None = None) -> Provider:
    """The provider of a registry model (None: the registry's default)."""
    if not isinstance(registry, Registry):
        registry = load_registry(registry)
    return provider_for(registry.get(model))


def embed(model: str | None, texts: Sequence[str], *, registry: Registry | str | None = None,
          cache: EmbeddingCache | str | None = None, progress: Progress | None = None) -> np.ndarray:
    """Embed texts with a registry model; returns float32 (len(texts), dimension), row i for texts[i].

    Each distinct text is embedded once; with `cache` (an EmbeddingCache or a SQLite path) texts
    embedded before by the same model are read back instead, and new ones are stored.
    registry: a Registry or a TOML path (default: built-in plus $VECTRO_MODELS).
    progress: called as progress(done, total) over the texts that need embedding.
    """
    items = check_texts(texts)
    if not isinstance(registry, Registry):
        registry = load_registry(registry)
    spec = registry.get(model)
    provider = provider_for(spec)
    unique = list(dict.fromkeys(items))
    store = EmbeddingCache(cache) if isinstance(cache, str) or hasattr(cache, "__fspath__") else cache
    try:
        known = store.get(spec.key, unique, spec.dimension) if store is not None else {}
        missing = [t for t in unique if t not in known]
        if missing:
            vectors = provider.embed(missing, progress=progress)
            if store is not None:
                store.put(spec.key, missing, vectors)
            known.update(zip(missing, vectors))
    finally:
        if store is not None and store is not cache:
            store.close()
    out = np.empty((len(items), spec.dimension), dtype=np.float32)
    for i, text in enumerate(items):
        out[i] = known[text]
    return out


def benchmark_models(*args, **kwargs):
    """Compare models on texts and labelled queries; see `vectro.embed.bench.benchmark_models`."""
    from .bench import benchmark_models as run

    return run(*args, **kwargs)


class _CallableModule(types.ModuleType):
    """Lets `vectro.embed(model, texts)` call `embed` while `vectro.embed.X` stays this module's X."""

    def __call__(self, model, texts, **kwargs):
        return embed(model, texts, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
