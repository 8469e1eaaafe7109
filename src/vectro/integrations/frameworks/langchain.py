"""A LangChain `VectorStore` whose vectors stay compressed (a vectro DocumentIndex underneath).

    from vectro.integrations.frameworks.langchain import VectroVectorStore
    store = VectroVectorStore.from_texts(texts, embeddings, metadatas=metas, codec="int8")
    store.similarity_search("query", k=4, filter={"source": "faq"})
    store.max_marginal_relevance_search("query", k=4, fetch_k=20)
    store.save("store.vxi"); store = VectroVectorStore.load("store.vxi", embeddings)

Any LangChain `Embeddings` works. Filters: a dict of metadata key -> value (or list of allowed
values), or a callable on the metadata dict. Needs `vectro[langchain]` (langchain-core).
"""

from __future__ import annotations

import uuid
from typing import Any, Iterable

from ...errors import require
from ...index.documents import DocumentIndex

_core = require("langchain_core", "langchain")
from langchain_core.documents import Document  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402
from langchain_core.vectorstores import VectorStore  # noqa: E402


class VectroVectorStore(VectorStore):
    """LangChain vector store over a compressed vectro index; see the module docstring."""

    def __init__(self, embedding: Embeddings, codec: str = "int8", metric: str = "cosine",
                 rerank: str | None = None, store: DocumentIndex | None = None):
        self.embedding = embedding
        self.store = store if store is not None else DocumentIndex(None, codec, metric, rerank)

    @property
    def embeddings(self) -> Embeddings:
        return self.embedding

    # ----- writing ------------------------------------------------------------------------------
    def add_texts(self, texts: Iterable[str], metadatas: list[dict] | None = None, *, ids: list[str] | None = None,
                  **kwargs: Any) -> list[str]:
        texts = list(texts)
        if ids is None:
            ids = [str(uuid.uuid4()) for _ in texts]
        ids = [str(uuid.uuid4()) if i is None else str(i) for i in ids]
        if not texts:
            return []
        vectors = self.embedding.embed_documents(texts)
        return self.store.upsert(ids, vectors, texts, metadatas)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        self.store.delete(list(self.store.docs) if ids is None else ids)
        return True

    # ----- reading ------------------------------------------------------------------------------
    def get_by_ids(self, ids, /) -> list[Document]:
        return [Document(id=i, page_content=text or "", metadata=dict(meta))
                for found in self.store.get(ids) if found is not None for i, text, meta in [found]]

    def _documents(self, hits) -> list[tuple[Document, float]]:
        return [(doc, score) for doc, (_, score) in zip(self.get_by_ids([i for i, _ in hits]), hits)]

    def similarity_search_with_score_by_vector(self, embedding: list[float], k: int = 4, filter=None,
                                               **kwargs: Any) -> list[tuple[Document, float]]:
        return self._documents(self.store.search(embedding, k, filter))

    def similarity_search_with_score(self, query: str, k: int = 4, filter=None, **kwargs: Any):
        return self.similarity_search_with_score_by_vector(self.embedding.embed_query(query), k, filter)

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, filter=None, **kwargs: Any):
        return [doc for doc, _ in self.similarity_search_with_score_by_vector(embedding, k, filter)]

    def similarity_search(self, query: str, k: int = 4, filter=None, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter)]

    def max_marginal_relevance_search_by_vector(self, embedding: list[float], k: int = 4, fetch_k: int = 20,
                                                lambda_mult: float = 0.5, filter=None, **kwargs: Any):
        hits = self.store.mmr_search(embedding, k, fetch_k, lambda_mult, filter)
        return [doc for doc, _ in self._documents(hits)]

    def max_marginal_relevance_search(self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
                                      filter=None, **kwargs: Any) -> list[Document]:
        return self.max_marginal_relevance_search_by_vector(self.embedding.embed_query(query), k, fetch_k,
                                                            lambda_mult, filter)

    def hybrid_search(self, query: str, k: int = 4, filter=None, depth: int = 50) -> list[Document]:
        """BM25 over the stored texts fused with the dense ranking (reciprocal rank fusion)."""
        hits = self.store.hybrid_search(self.embedding.embed_query(query), query, k, depth, filter)
        return [doc for doc, _ in self._documents(hits)]

    def _select_relevance_score_fn(self):
        metric = self.store._options["metric"]
        if metric == "l2":  # scores are -|q - x|^2
            return lambda score: self._euclidean_relevance_score_fn(max(-score, 0.0) ** 0.5)
        return lambda score: (score + 1) / 2  # cosine (and inner products of unit vectors) to [0, 1]

    # ----- construction and persistence --------------------------------------------------------
    @classmethod
    def from_texts(cls, texts: list[str], embedding: Embeddings, metadatas: list[dict] | None = None, *,
                   ids: list[str] | None = None, **kwargs: Any) -> "VectroVectorStore":
        store = cls(embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    def save(self, path):
        """Write codes, texts and metadata to one file, atomically."""
        return self.store.save(path)

    @classmethod
    def load(cls, path, embedding: Embeddings) -> "VectroVectorStore":
        return cls(embedding, store=DocumentIndex.load(path))
