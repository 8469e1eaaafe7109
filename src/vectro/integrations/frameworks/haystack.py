"""A Haystack DocumentStore whose embeddings stay compressed, and its embedding retriever component.

    from haystack import Pipeline
    from vectro.integrations.frameworks.haystack import VectroDocumentStore, VectroEmbeddingRetriever
    store = VectroDocumentStore(codec="int8")
    store.write_documents(documents_with_embeddings)
    pipe = Pipeline(); pipe.add_component("embedder", text_embedder)
    pipe.add_component("retriever", VectroEmbeddingRetriever(store, top_k=5))
    pipe.connect("embedder.embedding", "retriever.query_embedding")

Filters use Haystack's own filter syntax and matcher. Needs `vectro[haystack]` (haystack-ai).
"""

from __future__ import annotations

from typing import Any

from ...errors import VectroError, require
from ...index.documents import DocumentIndex

require("haystack", "haystack")
from haystack import Document, component, default_from_dict, default_to_dict  # noqa: E402
from haystack.document_stores.errors import DuplicateDocumentError  # noqa: E402
from haystack.document_stores.types import DuplicatePolicy  # noqa: E402
from haystack.utils.filters import document_matches_filter  # noqa: E402


class VectroDocumentStore:
    """Haystack DocumentStore over a vectro DocumentIndex (documents need embeddings to be written)."""

    def __init__(self, codec: str = "int8", metric: str = "cosine", rerank: str | None = None):
        self.codec, self.metric, self.rerank = codec, metric, rerank
        self.store = DocumentIndex(None, codec, metric, rerank)

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, codec=self.codec, metric=self.metric, rerank=self.rerank)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VectroDocumentStore":
        return default_from_dict(cls, data)

    def count_documents(self) -> int:
        return len(self.store)

    def _document(self, doc_id: str, score: float | None = None) -> Document:
        text, meta = self.store.docs[doc_id]
        return Document(id=doc_id, content=text, meta=dict(meta), score=score)

    def filter_documents(self, filters: dict[str, Any] | None = None) -> list[Document]:
        docs = [self._document(i) for i in self.store.docs]
        return docs if not filters else [d for d in docs if document_matches_filter(filters, d)]

    def write_documents(self, documents: list[Document], policy: DuplicatePolicy = DuplicatePolicy.NONE) -> int:
        fresh = []
        for doc in documents:
            if doc.embedding is None:
                raise VectroError(f"document {doc.id!r} has no embedding; embed documents before writing them")
            if doc.id in self.store or any(d.id == doc.id for d in fresh):
                if policy == DuplicatePolicy.SKIP:
                    continue
                if policy in (DuplicatePolicy.NONE, DuplicatePolicy.FAIL):
                    raise DuplicateDocumentError(f"document {doc.id!r} already exists")
            fresh.append(doc)
        self.store.upsert([d.id for d in fresh], [d.embedding for d in fresh], [d.content for d in fresh],
                          [d.meta for d in fresh])
        return len(fresh)

    def delete_documents(self, document_ids: list[str]) -> None:
        self.store.delete(document_ids)

    def embedding_retrieval(self, query_embedding: list[float], filters: dict | None = None,
                            top_k: int = 10) -> list[Document]:
        where = None
        if filters:
            where = {d.id for d in self.filter_documents(filters)}
        return [self._document(i, s) for i, s in self.store.search(query_embedding, top_k, where)]


@component
class VectroEmbeddingRetriever:
    """Retrieves documents from a VectroDocumentStore by embedding similarity, best first."""

    def __init__(self, document_store: VectroDocumentStore, filters: dict | None = None, top_k: int = 10):
        self.document_store, self.filters, self.top_k = document_store, filters, top_k

    @component.output_types(documents=list[Document])
    def run(self, query_embedding: list[float], filters: dict | None = None, top_k: int | None = None):
        return {"documents": self.document_store.embedding_retrieval(
            query_embedding, filters or self.filters, top_k or self.top_k)}
