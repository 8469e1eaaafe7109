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


def quantisation_table(codecs=("float32", "float16", "int8", "int4", "binary", "rq:1", "rq:2", "rq:8", "pq:48"),
                       dim: int = 384) -> str:
    """A Markdown table of what each database stores for each vectro codec, from the adapters' own mappings."""
    from . import lancedb, milvus, pgvector, qdrant, weaviate

    def qdrant_cell(spec):
        storage = qdrant.quantization_for(spec, dim)
        if storage["quantization"] is None:
            return f"{storage['datatype']} vectors"
        (kind, params), = storage["quantization"].items()
        detail = {"scalar": "scalar int8", "binary": "binary", "turbo": f"TurboQuant {params.get('bits', '')[4:]}-bit",
                  "product": f"product {params.get('compression', '')}"}[kind]
        return f"{detail}, rescored"

    def milvus_cell(spec, lite):
        plan = milvus.index_for(spec, 100_000, lite=lite)
        return plan["index"] + ("" if plan["field"] == "FLOAT_VECTOR" else f" on {plan['field']}")

    def pg_cell(spec):
        column = pgvector.column_for(spec)
        return {"bit": "bit + Hamming HNSW, rescored", "halfvec": "halfvec + HNSW", "vector": "vector + HNSW"}[column]

    def lance_cell(spec):
        plan = lancedb.index_for(spec)
        return {"bits": "IVF_FLAT hamming on bits, rescored", "float16": "IVF_FLAT on float16"}.get(
            plan["column"], {"HnswSq": "IVF_HNSW_SQ", "IvfPq": "IVF_PQ", "IvfRq": "IVF_RQ", "IvfFlat": "IVF_FLAT"}[plan["index"]])

    def weaviate_cell(spec):
        compression = weaviate.compression_for(spec)
        if not compression:
            return "none"
        (kind, params), = compression.items()
        return kind.upper() + (f" {params['bits']}-bit" if "bits" in params else "")

    lines = ["| vectro codec | Qdrant | Milvus server | Milvus Lite | pgvector | LanceDB | Weaviate | Chroma, Pinecone |",
             "|---|---|---|---|---|---|---|---|"]
    for spec in codecs:
        lines.append(f"| `{spec}` | {qdrant_cell(spec)} | {milvus_cell(spec, False)} | {milvus_cell(spec, True)} | "
                     f"{pg_cell(spec)} | {lance_cell(spec)} | {weaviate_cell(spec)} | float32 HNSW |")
    return "\n".join(lines)
