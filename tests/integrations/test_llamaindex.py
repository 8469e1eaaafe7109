"""The LlamaIndex store end to end through a VectorStoreIndex: ingest, query with filters, delete, persist."""

import numpy as np
import pytest

pytest.importorskip("llama_index.core")
from llama_index.core import Document, StorageContext, VectorStoreIndex  # noqa: E402
from llama_index.core.base.embeddings.base import BaseEmbedding  # noqa: E402
from llama_index.core.llms import MockLLM  # noqa: E402
from llama_index.core.vector_stores.types import (  # noqa: E402
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)

from vectro.integrations.frameworks.llamaindex import VectroVectorStore  # noqa: E402

from ._embeddings import TEXTS, embed  # noqa: E402


class BagOfWords(BaseEmbedding):
    def _get_query_embedding(self, query):
        return embed(query)

    def _get_text_embedding(self, text):
        return embed(text)

    async def _aget_query_embedding(self, query):
        return embed(query)


@pytest.fixture
def built():
    store = VectroVectorStore(codec="int8")
    docs = [Document(text=t, id_=f"doc{i}", metadata={"topic": "pets" if i in (0, 1, 4) else "search", "n": i})
            for i, t in enumerate(TEXTS)]
    index = VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=store),
                                            embed_model=BagOfWords())
    return store, index


def expected_order(query, rows):
    q = np.array(embed(query))
    return [TEXTS[i] for i in sorted(rows, key=lambda i: -float(np.dot(q, embed(TEXTS[i]))))]


def test_retriever_and_query_engine_through_vector_store_index(built):
    store, index = built
    nodes = index.as_retriever(similarity_top_k=3).retrieve("the cat on the mat")
    assert [n.node.get_content() for n in nodes] == expected_order("the cat on the mat", range(6))[:3]
    response = index.as_query_engine(llm=MockLLM(), similarity_top_k=2).query("compressed vectors search")
    assert [n.node.get_content() for n in response.source_nodes] == expected_order("compressed vectors search", range(6))[:2]


def test_metadata_filters_in_queries(built):
    store, index = built
    filters = MetadataFilters(filters=[MetadataFilter(key="topic", value="search"),
                                       MetadataFilter(key="n", value=3, operator=FilterOperator.GTE)])
    nodes = index.as_retriever(similarity_top_k=5, filters=filters).retrieve("cats search")
    assert sorted(n.node.metadata["n"] for n in nodes) == [3, 5]
    either = MetadataFilters(filters=[MetadataFilter(key="n", value=0), MetadataFilter(key="n", value=1)],
                             condition="or")
    assert {n.metadata["n"] for n in store.get_nodes(filters=either)} == {0, 1}


def test_delete_by_document_and_persist(built, tmp_path):
    store, index = built
    store.delete("doc4")
    assert len(store.get_nodes()) == 5
    store.persist(str(tmp_path / "store.vxi"))
    again = VectroVectorStore.from_persist_path(str(tmp_path / "store.vxi"))
    query = VectorStoreQuery(query_embedding=embed("cat mat"), similarity_top_k=6)
    a, b = store.query(query), again.query(query)
    assert a.ids == b.ids and len(a.ids) == 5
    assert [n.get_content() for n in b.nodes] == expected_order("cat mat", [0, 1, 2, 3, 5])
    np.testing.assert_allclose(a.similarities, b.similarities)


def test_mmr_and_hybrid_modes(built):
    store, _ = built
    mmr = store.query(VectorStoreQuery(query_embedding=embed("cat cats mat search"), similarity_top_k=2, mode="mmr"),
                      mmr_threshold=0.1)
    assert len({n.metadata["topic"] for n in mmr.nodes}) == 2
    hybrid = store.query(VectorStoreQuery(query_embedding=embed("dogs"), query_str="dogs bark", similarity_top_k=1,
                                          mode="hybrid"))
    assert hybrid.nodes[0].get_content() == TEXTS[1]
