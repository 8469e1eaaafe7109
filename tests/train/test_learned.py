"""Learned projections: determinism, the loss going down on real data, model files, the CLI, bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

import vectro
from vectro.cli import main
from vectro.codecs.learned import load_model
from vectro.errors import FormatError, VectroError
from vectro.train import TrainConfig, evaluate_model, fit_codec, split_rows, train_projection

pytest.importorskip("torch")

SMALL = dict(dim_out=16, k=10, epochs=3, hard_neg_l=40, max_items=1500, batch_size=128, val_queries=100, patience=0)


@pytest.fixture(scope="module")
def model(sample):
    base, _ = sample
    return train_projection(base, TrainConfig(**SMALL))


def test_same_seed_same_weights_and_another_seed_differs(sample, model):
    base, _ = sample
    again = train_projection(base, TrainConfig(**SMALL))
    np.testing.assert_array_equal(again.weight_, model.weight_)
    np.testing.assert_array_equal(again.mean_, model.mean_)
    other = train_projection(base, TrainConfig(**{**SMALL, "seed": 7}))
    assert not np.array_equal(other.weight_, model.weight_)


def test_loss_decreases_and_validation_beats_the_pca_start(model):
    history = model.meta_["training"]["history"]
    assert [h["epoch"] for h in history] == [0, 1, 2, 3]
    assert history[0]["loss"] is None  # epoch 0 is the PCA initialisation, validated before any step
    assert history[3]["loss"] < history[1]["loss"]
    assert model.meta_["training"]["best_val_recall"] > history[0]["val_recall"]


def test_metadata_records_split_config_and_data(model, sample):
    meta = model.meta_
    assert meta["split"]["seed"] == 42 and meta["split"]["n_train"] == 1200 and meta["split"]["n_test"] == 150
    assert meta["config"]["tau"] == 0.05 and meta["config"]["k"] == 10 and meta["data"]["n"] == 1500
    assert len(meta["data"]["sha256_16"]) == 16
    assert set(meta["metrics"]) >= {"recall@10", "ndcg@10", "overlap@10", "mrr@10"}


def test_split_is_80_10_10_disjoint_and_seeded():
    rows = split_rows(1000, 42)
    assert [len(rows[k]) for k in ("train", "val", "test")] == [800, 100, 100]
    assert len(np.unique(np.concatenate(list(rows.values())))) == 1000
    np.testing.assert_array_equal(split_rows(1000, 42)["test"], rows["test"])


def test_learned_beats_pca_on_held_out_queries(sample, model):
    base, queries = sample
    learned = vectro.evaluate(base, vectro.compress(base, model), queries=queries)["recall@10"]
    pca = vectro.evaluate(base, vectro.compress(base, "pca:16"), queries=queries)["recall@10"]
    assert learned > pca


def test_model_file_round_trip(model, tmp_path, sample):
    base, _ = sample
    loaded = load_model(model.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(loaded.transform(base[:50]), model.transform(base[:50]))
    assert loaded.meta_ == json.loads(json.dumps(model.meta_)) and loaded.spec == "learned:16"


def test_vectro_file_carries_weights_and_metadata(model, tmp_path, sample):
    base, queries = sample
    packed = vectro.compress(base, model.then("int8"))
    assert packed.bytes_per_vector == 20 and packed.codec.spec == "learned:16+int8"
    loaded = vectro.load(packed.save(tmp_path / "x.vectro"))
    projection = loaded.codec.projections[0]
    assert projection.meta_["split"]["seed"] == 42
    np.testing.assert_array_equal(loaded.score(queries[:4]), packed.score(queries[:4]))


def test_corrupt_model_file_is_detected(model, tmp_path):
    path = model.save(tmp_path / "m.npz")
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="is corrupt: member '.+' fails its CRC-32 check"):
        load_model(path)


def test_applying_a_model_needs_no_torch(model, tmp_path):
    path = model.save(tmp_path / "m.npz")
    script = ("import sys; sys.modules['torch'] = None\n"
              "import numpy as np, vectro\nfrom vectro.codecs.learned import load_model\n"
              f"m = load_model({str(path)!r}); X, _ = vectro.sample_data()\n"
              "print(vectro.compress(X[:100], m.then('int8')).codes.shape)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(100, 20)"


def test_training_without_torch_names_the_extra(sample, monkeypatch):
    base, _ = sample
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(VectroError, match=r"pip install 'vectro\[train\]'"):
        train_projection(base, TrainConfig(**SMALL))


@pytest.mark.parametrize("config, message", [
    (dict(dim_out=384), "dim_out must be between 1 and 383"),
    (dict(dim_out=0), "dim_out must be between"),
    (dict(max_items=10), "too few rows for the 80/10/10 split: 10 rows give 8 training rows"),
    (dict(tau=0), "tau and lr must be positive"),
])
def test_bad_input_is_a_clear_error(sample, config, message):
    base, _ = sample
    with pytest.raises(VectroError, match=message):
        train_projection(base, TrainConfig(**{**SMALL, **config}))


def test_composes_by_spec_and_fits_by_training(sample):
    base, queries = sample
    spec = vectro.make_codec("learned:8+int8")
    with pytest.raises(VectroError, match=r"no trained model: train one with vectro.train.fit_codec"):
        vectro.compress(base[:1000], spec)  # the codec applies a model; training is vectro.train's
    codec = fit_codec(spec, base[:1000], k=10, epochs=1, hard_neg_l=30, max_items=800, val_queries=50)
    assert not spec.is_fitted and codec.is_fitted  # the caller's codec is not trained in place
    packed = vectro.compress(base[:1000], codec)
    assert packed.bytes_per_vector == 12 and packed.codec.projections[0].meta_["config"]["epochs"] == 1
    assert packed.codec is codec


def test_evaluate_model_on_given_queries(model, sample):
    base, queries = sample
    report = evaluate_model(model, base, queries=queries, k=10, quantiser="int8")
    assert report["codec"] == "learned:16+int8" and report["queries"] == 200 and 0.2 < report["recall@10"] <= 1


# ----- the CLI: train, eval --model, sweep; parquet input; wrong column ------------------------------
CLI_SMALL = ["--k", "10", "--epochs", "2", "--hard-neg-l", "40", "--max-items", "1200", "--batch-size", "128"]


@pytest.fixture
def parquet_file(files_with_sample):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    base = np.load(files_with_sample / "base.npy")[:1500]
    table = pa.table({"id": np.arange(len(base)), "embedding": [row.tolist() for row in base]})
    pq.write_table(table, files_with_sample / "emb.parquet")
    return files_with_sample / "emb.parquet"


def test_cli_train_from_parquet_then_eval_the_model(parquet_file, capsys, tmp_path):
    code = main(["train", "--in", str(parquet_file), "--dim-out", "8", *CLI_SMALL, "--out", str(tmp_path / "model"), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["model"].endswith("model.npz") and report["metrics"]["codec"] == "learned:8"
    assert report["meta"]["config"]["dim_out"] == 8
    code = main(["eval", "--model", str(tmp_path / "model.npz"), "--in", str(parquet_file), "--k", "10", "--json"])
    metrics = json.loads(capsys.readouterr().out)
    assert code == 0 and metrics["recall@10"] == pytest.approx(report["metrics"]["recall@10"])


def test_cli_sweep_writes_one_jsonl_record_per_dimension(files_with_sample, capsys, tmp_path):
    out = tmp_path / "sweep.jsonl"
    code = main(["sweep", "--in", str(files_with_sample / "base.npy"), "--dim-outs", "8,4", *CLI_SMALL, "--out", str(out),
                 "--model-dir", str(tmp_path / "models")])
    assert code == 0 and "wrote 2 records" in capsys.readouterr().out
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["meta"]["dim_out"] for r in records] == [8, 4]
    assert all("recall@10" in r["metrics"] and r["meta"]["split"]["seed"] == 42 for r in records)
    assert (tmp_path / "models" / "learned-4.npz").exists()
    code = main(["sweep", "--in", str(files_with_sample / "base.npy"), "--dim-outs", "4", *CLI_SMALL, "--output-format", "json"])
    assert code == 0 and json.loads(capsys.readouterr().out)[0]["meta"]["dim_out"] == 4


@pytest.mark.parametrize("args, message", [
    (["--dim-out", "384"], "dim_out must be between 1 and 383"),
    (["--column", "nope"], "nope"),
])
def test_cli_bad_input_exits_2(parquet_file, capsys, tmp_path, args, message):
    code = main(["train", "--in", str(parquet_file), *CLI_SMALL, "--out", str(tmp_path / "m.npz"), *args])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "m.npz").exists()


def test_cli_bench_learned_compares_with_pca(model, files_with_sample, capsys, tmp_path):
    path = model.save(tmp_path / "m.npz")
    code = main(["bench", "learned", "--model", str(path), "--in", str(files_with_sample / "base.npy"), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["n"] == 1500 and report["model"] == "learned:16"
    assert report["learned"]["recall@10"] > report["pca"]["recall@10"]
    assert report["learned_vectors_per_s"] > 0 and report["speed_ratio_to_pca"] > 0
    assert main(["bench", "learned", "--in", str(files_with_sample / "base.npy")]) == 2


def test_cli_demo_learned_trains_on_the_sample_and_beats_pca(capsys):
    assert main(["demo", "--learned", "--json"]) == 0
    rows = {row["codec"]: row for row in json.loads(capsys.readouterr().out)["rows"]}
    assert set(rows) == {"pca:32", "learned:32", "pca:32+int8", "learned:32+int8"}
    assert rows["learned:32"]["recall@10"] > rows["pca:32"]["recall@10"]
    assert rows["learned:32+int8"]["bytes_per_vector"] == 36
