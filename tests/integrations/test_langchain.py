"""The LangChain store: LangChain's own standard vector-store tests, then filters, MMR, scores, save/load."""

import numpy as np
import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langchain_tests")
from langchain_core.embeddings import Embeddings  # noqa: E402
from langchain_tests.integration_tests import VectorStoreIntegrationTests  # noqa: E402

from vectro.integrations.frameworks.langchain import VectroVectorStore  # noqa: E402

from ._embeddings import TEXTS, embed  # noqa: E402


class TestStandard(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self):
        return VectroVectorStore(self.get_embeddings(), codec="int8")


class BagOfWords(Embeddings):
    def embed_documents(self, texts):
        return [embed(t) for t in texts]

    def embed_query(self, text):
        return embed(text)


@pytest.fixture
def store():
    metadatas = [{"topic": "pets"}, {"topic": "pets"}, {"topic": "search"}, {"topic": "search"},
                 {"topic": "pets"}, {"topic": "search"}]
    return VectroVectorStore.from_texts(TEXTS, BagOfWords(), metadatas=metadatas, ids=[f"t{i}" for i in range(6)])


def test_scores_match_a_float64_reference(store):
    hits = store.similarity_search_with_score("cat on a mat", k=6)
    query = np.array(embed("cat on a mat"))
    reference = sorted(((float(np.dot(query, embed(t))), t) for t in TEXTS), reverse=True)
    assert [d.page_content for d, _ in hits][0] == reference[0][1] == "the cat sat on the warm mat"
    np.testing.assert_allclose([s for _, s in hits], [s for s, _ in reference], atol=0.01)  # int8 codes


def test_metadata_filters(store):
    docs = store.similarity_search("search", k=6, filter={"topic": "pets"})
    assert {d.id for d in docs} == {"t0", "t1", "t4"}
    docs = store.similarity_search("search engines", k=2, filter=lambda m: m["topic"] == "search")
    query = np.array(embed("search engines"))
    expected = sorted((-float(np.dot(query, embed(TEXTS[i]))), f"t{i}") for i in (2, 3, 5))[:2]
    assert [d.id for d in docs] == [i for _, i in expected]
    assert store.similarity_search("cats", k=3, filter={"topic": "nothing"}) == []


def test_mmr_prefers_diverse_results(store):
    plain = store.similarity_search("cat cats mat search", k=2)
    diverse = store.max_marginal_relevance_search("cat cats mat search", k=2, fetch_k=6, lambda_mult=0.1)
    assert plain[0].id == diverse[0].id
    assert len({d.metadata["topic"] for d in diverse}) == 2


def test_save_load_round_trip(store, tmp_path):
    store.delete(["t1"])
    store.save(tmp_path / "store.vxi")
    again = VectroVectorStore.load(tmp_path / "store.vxi", BagOfWords())
    assert again.get_by_ids(["t0", "t1", "t2"]) == store.get_by_ids(["t0", "t2"])
    assert [d.id for d in again.similarity_search("dogs bark", k=3)] == [d.id for d in store.similarity_search("dogs bark", k=3)]


def test_relevance_scores_are_in_unit_range(store):
    for _, score in store.similarity_search_with_relevance_scores("cats", k=6):
        assert 0 <= score <= 1
