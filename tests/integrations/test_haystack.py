"""The Haystack store and retriever through a Haystack Pipeline, with Haystack filters."""

import numpy as np
import pytest

pytest.importorskip("haystack")
from haystack import Document, Pipeline, component  # noqa: E402
from haystack.document_stores.errors import DuplicateDocumentError  # noqa: E402

from vectro.integrations.frameworks.haystack import VectroDocumentStore, VectroEmbeddingRetriever  # noqa: E402

from ._embeddings import TEXTS, embed  # noqa: E402


@component
class BagOfWordsEmbedder:
    @component.output_types(embedding=list[float])
    def run(self, text: str):
        return {"embedding": embed(text)}


@pytest.fixture
def store():
    store = VectroDocumentStore(codec="int8")
    store.write_documents([Document(id=f"d{i}", content=t, embedding=embed(t),
                                    meta={"topic": "pets" if i in (0, 1, 4) else "search", "n": i})
                           for i, t in enumerate(TEXTS)])
    return store


def test_pipeline_retrieval_with_filters(store):
    pipe = Pipeline()
    pipe.add_component("embedder", BagOfWordsEmbedder())
    pipe.add_component("retriever", VectroEmbeddingRetriever(store, top_k=3))
    pipe.connect("embedder.embedding", "retriever.query_embedding")
    docs = pipe.run({"embedder": {"text": "the cat on the mat"}})["retriever"]["documents"]
    q = np.array(embed("the cat on the mat"))
    expected = sorted(range(6), key=lambda i: -float(np.dot(q, embed(TEXTS[i]))))[:3]
    assert [d.id for d in docs] == [f"d{i}" for i in expected]
    flt = {"operator": "AND", "conditions": [{"field": "meta.topic", "operator": "==", "value": "search"},
                                             {"field": "meta.n", "operator": ">", "value": 2}]}
    docs = pipe.run({"embedder": {"text": "search"}, "retriever": {"filters": flt, "top_k": 5}})["retriever"]["documents"]
    assert sorted(d.meta["n"] for d in docs) == [3, 5]


def test_store_protocol(store):
    assert store.count_documents() == 6
    with pytest.raises(DuplicateDocumentError):
        store.write_documents([Document(id="d0", content="x", embedding=embed("x"))])
    store.delete_documents(["d0", "d1"])
    assert store.count_documents() == 4
    assert {d.id for d in store.filter_documents({"field": "meta.topic", "operator": "==", "value": "pets"})} == {"d4"}
    assert VectroDocumentStore.from_dict(store.to_dict()).codec == "int8"
