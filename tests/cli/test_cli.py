"""The command line end to end on the bundled real sample: every command, every user error."""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import vectro
from vectro.cli import main
from vectro.cli.app import app


@pytest.fixture
def files(files_with_sample):
    return files_with_sample


def run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("codec, floor", [("int8", 0.97), ("float16", 0.999)])
def test_compress_then_eval_json(files, capsys, codec, floor):
    out = files / f"{codec}.vectro"
    code, text, _ = run(capsys, "compress", "--in", files / "base.npy", "--out", out, "--codec", codec, "--json")
    assert code == 0
    summary = json.loads(text)
    assert summary["n"] == 5000 and summary["codec"] == codec and summary["file_bytes"] == out.stat().st_size
    code, text, _ = run(capsys, "eval", "--orig", files / "base.npy", "--comp", out, "--queries",
                        files / "queries.npy", "--json")
    report = json.loads(text)
    assert code == 0 and report["recall@10"] >= floor and report["queries"] == 200


def test_eval_table_shows_the_seed_lines_and_metrics(files, capsys):
    run(capsys, "compress", "--in", files / "base.npy", "--out", files / "c.npz")
    code, text, _ = run(capsys, "eval", "--orig", files / "base.npy", "--comp", files / "c.npz", "--k", "5")
    assert code == 0
    assert "original bytes: 7,680,000" in text and "compressed bytes: 1,940,000" in text
    assert "mean cosine: 0.99" in text and "recall@5" in text and "ndcg@5" in text and "mrr@5" in text


def test_npz_round_trip_through_decompress(files, capsys):
    assert run(capsys, "compress", "--in", files / "base.npy", "--out", files / "c.npz")[0] == 0
    with np.load(files / "c.npz") as npz:
        assert sorted(npz.files) == ["dims", "q", "scales"]
    assert run(capsys, "decompress", "--in", files / "c.npz", "--out", files / "back.npy")[0] == 0
    back = np.load(files / "back.npy")
    assert back.shape == (5000, 384) and vectro.mean_cosine_similarity(back, np.load(files / "base.npy")) > 0.9999


def test_info_on_compressed_and_input_files(files, capsys):
    run(capsys, "compress", "--in", files / "base.npy", "--out", files / "c.vectro", "-c", "nf4")
    code, text, _ = run(capsys, "info", files / "c.vectro", "--json")
    details = json.loads(text)
    assert code == 0 and details["codec"] == "nf4" and details["n"] == 5000 and details["checksums"] == "verified"
    assert details["bytes_per_vector"] == 196 and details["source_dtype"] == "float32"
    details = json.loads(run(capsys, "info", files / "base.npy", "--json")[1])
    assert details["format"] == "embeddings input" and details["dim"] == 384


def test_codecs_lists_every_registered_codec(capsys):
    code, text, _ = run(capsys, "codecs")
    assert code == 0
    for name in vectro.registered_codecs():
        assert name in text


def test_demo_and_bench_json(capsys):
    code, text, _ = run(capsys, "demo", "-c", "int8", "-c", "binary", "--json")
    rows = json.loads(text)["rows"]
    assert code == 0 and [r["codec"] for r in rows] == ["int8", "binary"]
    assert rows[0]["recall@10"] > 0.99 and rows[1]["bytes_per_vector"] == 48
    code, text, _ = run(capsys, "bench", "--n", "500", "--d", "32", "--queries", "20", "-c", "int8", "-c", "int4", "--json")
    rows = json.loads(text)["rows"]
    assert code == 0 and rows[0]["n"] == 500 and rows[0]["recall@10"] > 0.9 and rows[1]["codec"] == "int4"


@pytest.mark.parametrize(
    "args, message",
    [
        (["compress", "--in", "{tmp}/missing.npy", "--out", "{tmp}/x.vectro"], "does not exist"),
        (["compress", "--in", "{tmp}/base.npy", "--out", "{tmp}/x.vectro", "-c", "int9"], "unknown codec 'int9'"),
        (["compress", "--in", "{tmp}/nan.npy", "--out", "{tmp}/x.vectro"], "row 7 holds nan"),
        (["compress", "--in", "{tmp}/base.npy", "--out", "{tmp}/no/dir/x.vectro"], "does not exist"),
        (["compress", "--in", "{tmp}/base.npy", "--out", "{tmp}/x.npz", "-c", "int4"], "int8 codes only"),
        (["eval", "--orig", "{tmp}/base.npy", "--comp", "{tmp}/base.npy"], "not a vectro file"),
        (["eval", "--orig", "{tmp}/short.npy", "--comp", "{tmp}/ok.vectro"], "original 5000 x 100"),
        (["eval", "--orig", "{tmp}/base.npy", "--comp", "{tmp}/ok.vectro", "--queries", "{tmp}/short.npy"], "100 dimensions"),
        (["eval", "--orig", "{tmp}/base.npy", "--comp", "{tmp}/ok.vectro", "--metric", "manhattan"], "unknown metric"),
        (["decompress", "--in", "{tmp}/corrupt.vectro", "--out", "{tmp}/x.npy"], "checksum mismatch"),
        (["compress", "--in", "{tmp}/base.npy"], "Missing option"),
        (["compress", "--in", "{tmp}/base.npy", "--out", "{tmp}/x.vectro", "--block-rows", "0"], "Invalid value"),
    ],
)
def test_user_errors_exit_2_with_one_line_and_write_nothing(files, capsys, args, message):
    base = np.load(files / "base.npy")
    bad = base.copy()
    bad[7, 0] = np.nan
    np.save(files / "nan.npy", bad)
    np.save(files / "short.npy", base[:, :100])
    vectro.compress(base, "int8").save(files / "ok.vectro")
    corrupt = bytearray((files / "ok.vectro").read_bytes())
    corrupt[-5] ^= 0xFF
    (files / "corrupt.vectro").write_bytes(bytes(corrupt))
    before = sorted(p.name for p in files.iterdir())
    code, _, err = run(capsys, *[a.format(tmp=files) for a in args])
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    if message != "Missing option" and "Invalid value" not in message:
        assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in files.iterdir()) == before


def test_every_command_has_help_and_is_documented(capsys):
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        code, text, _ = run(capsys, name, "--help")
        assert code == 0 and "Usage" in text
        assert f"vectro {name}" in readme, f"README does not show `vectro {name}`"


def test_python_dash_m_entry_point(files):
    result = subprocess.run([sys.executable, "-m", "vectro", "info", str(files / "missing.vectro")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("error:")


def test_index_build_search_and_eval(files, capsys):
    index_path = files / "docs.vxi"
    code, text, _ = run(capsys, "index", "build", "--in", files / "base.npy", "--out", index_path,
                        "--codec", "binary", "--rerank", "int8", "--json")
    summary = json.loads(text)
    assert code == 0 and summary["n"] == 5000 and summary["codec"] == "binary" and index_path.exists()
    code, text, _ = run(capsys, "search", "--index", index_path, "--queries", files / "queries.npy", "--k", "5",
                        "--oversampling", "10", "--json", "--out", files / "hits.npz")
    hits = json.loads(text)
    assert code == 0 and len(hits["ids"]) == 200 and len(hits["ids"][0]) == 5
    with np.load(files / "hits.npz") as saved:
        assert saved["ids"].tolist() == hits["ids"]
    truth = vectro.exact_search(np.load(files / "base.npy"), np.load(files / "queries.npy"), 5)
    assert np.mean([len(set(a) & set(b)) / 5 for a, b in zip(hits["ids"], truth)]) > 0.97
    code, text, _ = run(capsys, "eval", "--orig", files / "base.npy", "--comp", index_path, "--queries",
                        files / "queries.npy", "--oversampling", "10", "--json")
    report = json.loads(text)
    assert code == 0 and report["recall@10"] >= 0.99 and report["rerank"] == "int8"
    code, _, err = run(capsys, "search", "--index", files / "base.npy", "--queries", files / "queries.npy")
    assert code == 2 and "not a .vectro file" in err


def test_bench_speed_runs_every_kernel_codec(capsys, monkeypatch):
    monkeypatch.setattr("vectro.speed.SETTLE_SECONDS", 0)  # the pause before each timing: 30 s here otherwise
    code, text, _ = run(capsys, "bench", "speed", "--n", "3000", "--d", "40", "--queries", "5", "--json")
    report = json.loads(text)
    assert code == 0 and report["n"] == 3000 and report["dim"] == 40
    rows = {row["codec"]: row for row in report["codecs"]}
    from vectro.speed import CODECS, other_scan_codecs, targets

    assert set(rows) == set(CODECS)
    assert all(row["bit_exact"] and row["compress"] > 0 and row["decompress"] > 0 for row in rows.values())
    scanned = {row["codec"] for row in report["scan"]["rows"]}
    assert scanned >= {"float32", *CODECS, "pca:13+int8", "pq:5", *other_scan_codecs(40)}
    latency = next(measured for target, measured, _ in targets(report) if "single-query" in target)
    listed, beside = latency.split(" (timed beside them")  # reported, outside #17's list
    assert all(f"`{spec}`" in beside and f"`{spec}`" not in listed for spec in other_scan_codecs(40))
    assert all(row["single_ms"] > 0 and row["batch_qps"] > 0 for row in report["scan"]["rows"])
    assert run(capsys, "bench", "fastest")[0] == 2


def test_interleaved_rounds_call_every_method_once_per_round():
    """Each round calls every method once, in turn (a warm-up first, in the first round), and each keeps
    its fastest round and its last result."""
    from vectro.speed import interleaved

    calls = []

    def method(name, pause):
        def run():
            calls.append(name)
            time.sleep(pause)
            return len(calls)
        return run

    out = interleaved({"a": method("a", 0.001), "b": method("b", 0.004)}, rounds=3)
    assert calls == ["a", "a", "b", "b", "a", "b", "a", "b"]
    assert out["a"][1] == 7 and out["b"][1] == 8
    assert 0.001 <= out["a"][0] < 0.004 <= out["b"][0] < 0.05
