"""vectro: make embedding vectors small and keep them searchable.

    import vectro
    packed = vectro.compress(X, codec="int8")      # X: float (n, d)
    packed.save("vectors.vectro")
    report = vectro.evaluate(X, vectro.load("vectors.vectro"), queries=Q)
    report["recall@10"], report["bytes_per_vector"]

Nothing heavy is imported here: the CLI, Rich and optional extras load when first used.
"""

from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "compress": "compressed",
    "compress_file": "compressed",
    "decompress_file": "compressed",
    "load": "compressed",
    "Compressed": "compressed",
    "Index": "index.core",
    "evaluate": "metrics.evaluate",
    "exact_search": "metrics.evaluate",
    "mean_cosine_similarity": "metrics.evaluate",
    "tune": "metrics.tune",
    "TuneResult": "metrics.tune",
    "PROFILES": "codecs.profiles",
    "quantize_embeddings": "compat",
    "reconstruct_embeddings": "compat",
    "QuantizationResult": "compat",
    "get_backend_info": "backend",
    "set_threads": "kernels",
    "make_codec": "codecs.base",
    "registered_codecs": "codecs.base",
    "Codec": "codecs.base",
    "load_vectors": "format.inputs",
    "open_vectors": "format.inputs",
    "Client": "client",
    "ClientError": "client",
    "VectroError": "errors",
    "FormatError": "errors",
}

_SUBMODULES = {"embed"}  # vectro.embed is a callable module: vectro.embed("minilm", texts)

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES) + ["__version__", "sample_data"]


def __getattr__(name: str):
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vectro' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__


def sample_data():
    """The bundled real sample: base float32 (5000, 384) and queries float32 (200, 384)."""
    from importlib.resources import files

    import numpy as np

    folder = files(__name__) / "data"
    base = np.load(folder / "sample_base.npy").astype(np.float32)
    queries = np.load(folder / "sample_queries.npy").astype(np.float32)
    return base, queries
