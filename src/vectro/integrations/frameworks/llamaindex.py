"""A LlamaIndex vector store whose vectors stay compressed (a vectro DocumentIndex underneath).

    from llama_index.core import StorageContext, VectorStoreIndex
    from vectro.integrations.frameworks.llamaindex import VectroVectorStore
    store = VectroVectorStore(codec="int8")
    index = VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=store))
    index.as_retriever(similarity_top_k=3, filters=MetadataFilters.from_dicts([{"key": "lang", "value": "en"}]))
    store.persist("store.vxi"); store = VectroVectorStore.from_persist_path("store.vxi")

Query modes: default (dense), MMR (`vector_store_query_mode="mmr"`, `mmr_threshold` = lambda) and
hybrid (BM25 over the node texts fused with the dense ranking). Needs `vectro[llamaindex]`.
"""

from __future__ import annotations

from typing import Any

from ...errors import require
from ...index.documents import DocumentIndex

require("llama_index.core", "llamaindex")
from llama_index.core.bridge.pydantic import PrivateAttr  # noqa: E402
from llama_index.core.schema import BaseNode  # noqa: E402
from llama_index.core.vector_stores.types import (  # noqa: E402
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict  # noqa: E402


def _compare(op, value, wanted) -> bool:
    if op == FilterOperator.IS_EMPTY:
        return value is None or value == [] or value == ""
    if value is None:
        return op == FilterOperator.NE or op == FilterOperator.NIN
    checks = {
        FilterOperator.EQ: lambda: value == wanted, FilterOperator.NE: lambda: value != wanted,
        FilterOperator.GT: lambda: value > wanted, FilterOperator.GTE: lambda: value >= wanted,
        FilterOperator.LT: lambda: value < wanted, FilterOperator.LTE: lambda: value <= wanted,
        FilterOperator.IN: lambda: value in wanted, FilterOperator.NIN: lambda: value not in wanted,
        FilterOperator.CONTAINS: lambda: wanted in value,
        FilterOperator.TEXT_MATCH: lambda: str(wanted) in str(value),
        FilterOperator.TEXT_MATCH_INSENSITIVE: lambda: str(wanted).lower() in str(value).lower(),
        FilterOperator.ANY: lambda: any(v in value for v in wanted),
        FilterOperator.ALL: lambda: all(v in value for v in wanted),
    }
    if op not in checks:
        raise NotImplementedError(f"vectro's LlamaIndex store does not support the filter operator {op}")
    try:
        return bool(checks[op]())
    except TypeError:  # e.g. comparing a string with a number: the node does not match
        return False


def filters_match(filters: MetadataFilters | None, metadata: dict) -> bool:
    """Whether a node's metadata passes LlamaIndex MetadataFilters (nested, AND / OR / NOT)."""
    if filters is None or not filters.filters:
        return True
    results = (filters_match(f, metadata) if isinstance(f, MetadataFilters) else
               _compare(f.operator, metadata.get(f.key), f.value) for f in filters.filters)
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.OR:
        return any(results)
    if condition == FilterCondition.NOT:
        return not any(results)
    return all(results)


class VectroVectorStore(BasePydanticVectorStore):
    """LlamaIndex vector store over a compressed vectro index; see the module docstring."""

    stores_text: bool = True
    flat_metadata: bool = False
    codec: str = "int8"
    metric: str = "cosine"
    rerank: str | None = None
    _store: DocumentIndex = PrivateAttr()

    def __init__(self, codec: str = "int8", metric: str = "cosine", rerank: str | None = None,
                 store: DocumentIndex | None = None, **kwargs: Any):
        super().__init__(codec=codec, metric=metric, rerank=rerank, **kwargs)
        self._store = store if store is not None else DocumentIndex(None, codec, metric, rerank)

    @classmethod
    def class_name(cls) -> str:
        return "VectroVectorStore"

    @property
    def client(self) -> DocumentIndex:
        return self._store

    # ----- writing ------------------------------------------------------------------------------
    def add(self, nodes: list[BaseNode], **kwargs: Any) -> list[str]:
        if not nodes:
            return []
        ids = [node.node_id for node in nodes]
        metadatas = [{"metadata": node.metadata, "ref_doc_id": node.ref_doc_id,
                      "node": node_to_metadata_dict(node, remove_text=False, flat_metadata=False)} for node in nodes]
        texts = [node.get_content() for node in nodes]
        return self._store.upsert(ids, [node.get_embedding() for node in nodes], texts, metadatas)

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of one source document."""
        self._store.delete(self._store.allowed(lambda m: m["ref_doc_id"] == ref_doc_id))

    def delete_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None, **kwargs) -> None:
        self._store.delete(self._ids(node_ids, filters))

    def clear(self) -> None:
        self._store.delete(list(self._store.docs))

    # ----- reading ------------------------------------------------------------------------------
    def _ids(self, node_ids=None, filters=None, doc_ids=None) -> list[str]:
        """Ids of stored nodes among node_ids (None: all) passing the filters and from the documents doc_ids."""
        docs = None if doc_ids is None else set(doc_ids)

        def keep(metadata: dict) -> bool:
            return filters_match(filters, metadata["metadata"]) and (docs is None or metadata["ref_doc_id"] in docs)

        candidates = self._store.docs if node_ids is None else [i for i in node_ids if i in self._store]
        return [i for i in candidates if keep(self._store.docs[i][1])]

    def get_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None, **kwargs) -> list[BaseNode]:
        return [self._node(i) for i in self._ids(node_ids, filters)]

    def _node(self, node_id: str) -> BaseNode:
        text, meta = self._store.docs[node_id]
        return metadata_dict_to_node(meta["node"], text=text)

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        if not len(self._store):
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        # an empty node_ids list is what VectorStoreIndex passes for "no restriction"
        node_ids, doc_ids = query.node_ids or None, query.doc_ids or None
        restricted = query.filters is not None or doc_ids is not None or node_ids is not None
        where = set(self._ids(node_ids, query.filters, doc_ids)) if restricted else None
        k, vector = query.similarity_top_k, query.query_embedding
        if query.mode == VectorStoreQueryMode.MMR:
            lambda_mult = kwargs.get("mmr_threshold", query.mmr_threshold)
            hits = self._store.mmr_search(vector, k, kwargs.get("mmr_prefetch_k", max(20, 4 * k)),
                                          0.5 if lambda_mult is None else lambda_mult, where)
        elif query.mode == VectorStoreQueryMode.HYBRID and query.query_str:
            hits = self._store.hybrid_search(vector, query.query_str, k, where=where)
        else:
            hits = self._store.search(vector, k, where)
        return VectorStoreQueryResult(nodes=[self._node(i) for i, _ in hits], similarities=[s for _, s in hits],
                                      ids=[i for i, _ in hits])

    # ----- persistence --------------------------------------------------------------------------
    def persist(self, persist_path: str, fs=None) -> None:
        """Write codes, texts and node metadata to one file at persist_path, atomically."""
        self._store.save(persist_path)

    @classmethod
    def from_persist_path(cls, persist_path: str, fs=None) -> "VectroVectorStore":
        store = DocumentIndex.load(persist_path)
        return cls(store.index.codec.spec, store.index.metric,
                   None if store.index.rerank_codec is None else store.index.rerank_codec.spec, store=store)

