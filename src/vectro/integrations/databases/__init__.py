"""Vectro data into and out of the vector databases people already run, one module per database.

Every module has the same shape: `export(data, target, collection, ...)`, `import_(source,
collection, ...)` and `search(target, collection, queries, k)`, where `data` is a `Compressed`, an
`Index` or float vectors with ids and payloads. `connect_url(url)` picks the module for a URL.
Each database's client is an optional extra, imported only when its module is used.
"""

from __future__ import annotations

import importlib

from ...errors import VectroError

#: URL scheme -> module name
SCHEMES = {
    "qdrant": "qdrant", "qdrant+https": "qdrant", "qdrant-local": "qdrant", "qdrant-edge": "qdrant",
    "postgresql": "pgvector", "postgres": "pgvector",
    "milvus": "milvus", "milvus+http": "milvus", "milvus+https": "milvus",
    "lancedb": "lancedb",
    "weaviate": "weaviate", "weaviate+http": "weaviate", "weaviate+https": "weaviate",
    "pinecone": "pinecone", "pinecone+http": "pinecone", "pinecone+https": "pinecone",
    "chroma": "chroma", "chroma+http": "chroma", "chroma+https": "chroma",
}


def module_for(url: str):
    """The database module that handles a target URL such as qdrant://HOST:PORT or chroma://DIR."""
    scheme = str(url).partition("://")[0] if "://" in str(url) else ""
    if scheme not in SCHEMES:
        raise VectroError(f"unknown database URL {url!r}; use one of: "
                          + ", ".join(f"{s}://..." for s in SCHEMES))
    return importlib.import_module(f".{SCHEMES[scheme]}", __name__)
