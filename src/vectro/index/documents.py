"""`DocumentIndex`: a compressed Index plus each vector's text and JSON metadata, by string id.

The framework adapters (LangChain, LlamaIndex, Haystack, DSPy) are thin layers over it: vectors
stay as codes in RAM and on disk, never float32; text and metadata sit beside them.

    docs = DocumentIndex(384, codec="int8")
    docs.upsert(["a", "b"], vectors, texts=["...", "..."], metadatas=[{"lang": "en"}, {}])
    docs.search(query_vector, k=5, where={"lang": "en"})     # [(id, score)], best first
    docs.mmr_search(query_vector, k=5, fetch_k=20)           # diverse results
    docs.hybrid_search(query_vector, "query words", k=5)     # BM25 + dense, fused by RRF
    docs.save("docs.vxi"); docs = DocumentIndex.load("docs.vxi")   # one atomic file
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import FormatError, VectroError
from ..format import container
from .core import INDEX_FORMAT, Index
from .retrieval import BM25, hybrid_search, mmr

Where = dict | Callable[[dict], bool] | set | frozenset | None


def matches(where: Where, metadata: dict) -> bool:
    """A metadata filter: a callable, or a dict of key -> value (equal) or list of values (any of)."""
    if where is None:
        return True
    if callable(where):
        return bool(where(metadata))
    for key, wanted in where.items():
        value = metadata.get(key)
        if isinstance(wanted, (list, tuple, set)):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


class DocumentIndex:
    """See the module docstring. `dim` may be None: it is taken from the first vectors added."""

    def __init__(self, dim: int | None = None, codec: str = "int8", metric: str = "cosine",
                 rerank: str | None = None, **index_options):
        self._options = {"codec": codec, "metric": metric, "rerank": rerank, **index_options}
        self.index: Index | None = None if dim is None else Index(dim, **self._options)
        self.docs: dict[str, tuple[str | None, dict]] = {}  # id -> (text, metadata), in insertion order
        self._bm25: tuple[BM25, list[str]] | None = None

    def __len__(self) -> int:
        return len(self.docs)

    def __contains__(self, doc_id) -> bool:
        return doc_id in self.docs

    @property
    def dim(self) -> int | None:
        return None if self.index is None else self.index.dim

    # ----- writing ------------------------------------------------------------------------------
    def upsert(self, ids, vectors, texts=None, metadatas=None) -> list[str]:
        """Add or replace documents: ids (n,) strings, vectors (n, d), optional texts and metadata dicts."""
        ids = [str(i) for i in ids]
        vectors = np.asarray(vectors, dtype=np.float32)
        n = len(ids)
        texts = [None] * n if texts is None else list(texts)
        metadatas = [{} for _ in range(n)] if metadatas is None else [dict(m or {}) for m in metadatas]
        if not (len(vectors) == len(texts) == len(metadatas) == n):
            raise VectroError(f"upsert got {n} ids, {len(vectors)} vectors, {len(texts)} texts and "
                              f"{len(metadatas)} metadata dicts; they must match")
        if n == 0:
            return []
        json.dumps(metadatas)  # fail now, not at save time, on metadata JSON cannot hold
        if self.index is None:
            self.index = Index(vectors.shape[1], **self._options)
        self.index.add(vectors, ids=np.array(ids, dtype=object))
        for doc_id, text, metadata in zip(ids, texts, metadatas):
            self.docs.pop(doc_id, None)  # a replaced document moves to the end, as its vector did
            self.docs[doc_id] = (text, metadata)
        self._bm25 = None
        return ids

    def delete(self, ids) -> int:
        """Remove documents by id (unknown ids are ignored); returns how many were removed."""
        present = [str(i) for i in ids if str(i) in self.docs]
        if not present:
            return 0
        self.index.remove(present)
        for doc_id in present:
            del self.docs[doc_id]
        if self.index._ids.dead > max(1024, len(self.index)):  # reclaim tombstones once they dominate
            self.index.compact()
        self._bm25 = None
        return len(present)

    # ----- reading ------------------------------------------------------------------------------
    def get(self, ids) -> list[tuple[str, str | None, dict] | None]:
        """(id, text, metadata) for each id, None where unknown."""
        return [(str(i), *self.docs[str(i)]) if str(i) in self.docs else None for i in ids]

    def vectors(self, ids) -> np.ndarray:
        """Decoded vectors (n, d) of known ids (the finest representation the index keeps)."""
        return self.index.get(np.array([str(i) for i in ids], dtype=object))

    def allowed(self, where: Where) -> list[str] | None:
        """Ids whose metadata passes `where` (a set: the ids themselves; None: no filter)."""
        if where is None:
            return None
        if isinstance(where, (set, frozenset)):
            return [doc_id for doc_id in where if doc_id in self.docs]
        return [doc_id for doc_id, (_, metadata) in self.docs.items() if matches(where, metadata)]

    def search(self, vector, k: int = 4, where: Where = None, oversampling: float = 1.0) -> list[tuple[str, float]]:
        """[(id, score)] of the k nearest documents passing `where`, best first."""
        allowed = self.allowed(where)
        if not self.docs or allowed == []:
            return []
        ids, scores = self.index.search(np.asarray(vector, dtype=np.float32).reshape(-1), k=k,
                                        oversampling=oversampling, filter=allowed)
        return [(i, float(s)) for i, s in zip(ids.tolist(), scores.tolist()) if i is not None and np.isfinite(s)]

    def mmr_search(self, vector, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
                   where: Where = None) -> list[tuple[str, float]]:
        """Maximal marginal relevance among the fetch_k nearest: [(id, score)] in pick order."""
        hits = self.search(vector, max(k, fetch_k), where)
        if not hits:
            return []
        picked = mmr(vector, self.vectors([i for i, _ in hits]), k, lambda_mult)
        return [hits[p] for p in picked]

    def hybrid_search(self, vector, text: str, k: int = 4, depth: int = 50, where: Where = None,
                      weights=(1.0, 1.0)) -> list[tuple[str, float]]:
        """BM25 over the stored texts fused with the dense ranking (reciprocal rank fusion)."""
        allowed = self.allowed(where)
        if not self.docs or allowed == []:
            return []
        if self._bm25 is None:
            ids = list(self.docs)
            self._bm25 = (BM25([self.docs[i][0] for i in ids]), ids)
        bm25, bm25_ids = self._bm25
        return hybrid_search(self.index, bm25, bm25_ids, np.asarray(vector, dtype=np.float32).reshape(-1), text,
                             k=k, depth=depth, weights=weights, filter=allowed)

    # ----- persistence --------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write codes, ids, texts and metadata to one file, atomically."""
        if self.index is None:
            raise VectroError("nothing to save: add documents first (the dimension is not known yet)")
        meta, arrays = self.index.to_container()
        meta["documents"] = {"count": len(self.docs), "options": {k: v for k, v in self._options.items()
                                                                  if k not in ("codec", "metric", "rerank")}}
        payload = json.dumps([[i, t, m] for i, (t, m) in self.docs.items()]).encode()
        arrays["documents"] = np.frombuffer(payload, dtype=np.uint8)
        path = Path(path)
        container.write_container(path, meta, arrays)
        return path

    @classmethod
    def load(cls, path, mmap: bool = True) -> "DocumentIndex":
        path = Path(path)
        if not path.is_file():
            raise VectroError(f"document index file {path} does not exist")
        header, arrays = container.read_container(path, mmap=mmap)
        if header.get("format") != INDEX_FORMAT or "documents" not in arrays:
            raise FormatError(f"{path} is not a vectro document index (an index with texts and metadata)")
        index = Index.from_container(header, arrays)
        docs = cls(None, index.codec.spec, index.metric,
                   None if index.rerank_codec is None else index.rerank_codec.spec,
                   **header["documents"].get("options", {}))
        docs.index = index
        docs.docs = {i: (t, m) for i, t, m in json.loads(bytes(np.asarray(arrays["documents"])))}
        return docs
