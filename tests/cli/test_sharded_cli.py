"""The CLI on a sharded dataset: compress on a 2-worker Dask cluster, then info, eval, tune, index build."""

import json

import numpy as np
import pytest

import vectro
from vectro.cli import main

pytest.importorskip("distributed", reason="vectro[dask] is not installed")


def run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def folder(tmp_path, sample):
    """Three .npy shards of real vectors (2,500 rows), their concatenation and the queries."""
    parts = tmp_path / "parts"
    parts.mkdir()
    X = sample[0][:2500]
    for i, (a, b) in enumerate([(0, 1000), (1000, 1900), (1900, 2500)]):
        np.save(parts / f"part-{i}.npy", X[a:b])
    np.save(tmp_path / "all.npy", X)
    np.save(tmp_path / "queries.npy", sample[1][:40])
    return parts


def test_sharded_dataset_through_every_command(tmp_path, folder, capsys):
    out = tmp_path / "out"
    code, text, err = run(capsys, "compress", "--in", folder, "--out", out, "--codec", "pca:32+int8", "--seed", 5,
                          "--workers", 2, "--json")
    assert code == 0, err
    summary = json.loads(text)
    assert (summary["n"], summary["shards"], summary["codec"], summary["seed"]) == (2500, 3, "pca:32+int8", 5)
    assert "dashboard http://127.0.0.1:" in err
    X = np.load(tmp_path / "all.npy")
    np.testing.assert_array_equal(vectro.load(out).codes, vectro.compress(X, "pca:32+int8", seed=5).codes)

    code, text, _ = run(capsys, "info", out / "manifest.json", "--json")
    info = json.loads(text)
    assert code == 0 and (info["n"], info["shards"], info["checksums"]) == (2500, 3, "verified")

    code, text, _ = run(capsys, "eval", "--orig", folder, "--comp", out, "--queries", tmp_path / "queries.npy", "--json")
    report = json.loads(text)
    expected = vectro.evaluate(X, vectro.load(out), queries=np.load(tmp_path / "queries.npy"))
    assert code == 0 and report["recall@10"] == expected["recall@10"] and report["shards"] == 3
    assert report["mean_cosine"] == pytest.approx(expected["mean_cosine"], rel=1e-12)

    code, text, _ = run(capsys, "tune", "--in", folder, "--codec", "int8", "--codec", "int4", "--max-bytes", 300,
                        "--sample", 1500, "--json")
    code_file, text_file, _ = run(capsys, "tune", "--in", tmp_path / "all.npy", "--codec", "int8", "--codec", "int4",
                                  "--max-bytes", 300, "--sample", 1500, "--json")
    sharded, whole = json.loads(text), json.loads(text_file)
    assert code == code_file == 0 and sharded["chosen"] == whole["chosen"] == "int4"  # int8 is 388 B > 300
    assert [r["recall@10"] for r in sharded["rows"]] == [r["recall@10"] for r in whole["rows"]]

    # by default the shards' own codes are indexed as they are: ranked by cosine to their decoded vectors
    code, _, err = run(capsys, "index", "build", "--in", out / "manifest.json", "--out", tmp_path / "i.vxi")
    assert code == 0, err
    index = vectro.Index.load(tmp_path / "i.vxi")
    packed = vectro.load(out)
    assert index.codec.spec == "pca:32+int8" and np.array_equal(np.asarray(index._codes.view()), packed.codes)
    Q = np.load(tmp_path / "queries.npy").astype(np.float64)
    decoded = packed.decompress().astype(np.float64)
    cosines = (Q / np.linalg.norm(Q, axis=1, keepdims=True)) @ (decoded / np.linalg.norm(decoded, axis=1, keepdims=True)).T
    found = index.search(Q.astype(np.float32), 10)[0]
    assert np.mean([len(set(f) & set(np.argsort(-c)[:10])) / 10 for f, c in zip(found, cosines)]) > 0.99
    # another codec needs the floats: read from the sources the manifest names, encoded again
    code, _, err = run(capsys, "index", "build", "--in", out / "manifest.json", "--out", tmp_path / "j.vxi",
                       "--codec", "int8")
    assert code == 0, err
    reference = vectro.Index(384)
    reference.add(X)
    np.testing.assert_array_equal(vectro.Index.load(tmp_path / "j.vxi").search(Q.astype(np.float32), 10)[0],
                                  reference.search(Q.astype(np.float32), 10)[0])


def test_a_bad_shard_is_one_line_on_stderr(tmp_path, folder, capsys):
    part = np.load(folder / "part-1.npy")
    part[77, 5] = np.nan
    np.save(folder / "part-1.npy", part)
    code, _, err = run(capsys, "compress", "--in", folder, "--out", tmp_path / "out", "--workers", 1)
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: shard shard-00001 (") and "part-1.npy row 77 holds nan" in last
    assert not (tmp_path / "out" / "manifest.json").exists()
