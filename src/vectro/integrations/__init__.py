"""Adapters that let code written for other tools run on vectro.

`vectro.integrations.databases.<db>` moves vectro data into and out of vector databases; the seed
Vectro's `from vectro.integrations import QdrantCompressor` still works (loaded on first use).
"""


def __getattr__(name: str):
    if name == "QdrantCompressor":
        from .databases.qdrant import QdrantCompressor

        return QdrantCompressor
    raise AttributeError(f"module 'vectro.integrations' has no attribute {name!r}")
