"""Vectro's later releases' command names work as aliases: inspect, validate, upgrade, benchmark."""

import json

import numpy as np

import vectro
from vectro.cli import main


def run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_v2_npz(path, X):
    """The later releases' .npz v2 layout (np.savez_compressed with format keys and metadata JSON)."""
    seed = vectro.quantize_embeddings(X)
    np.savez_compressed(path, quantized=seed.quantized, scales=seed.scales, dims=np.int64(X.shape[1]),
                        n=np.int64(len(X)), precision_mode="int8", group_size=np.int64(64),
                        storage_format="vectro_npz", storage_format_version=np.int64(2),
                        metadata_json=json.dumps({"vectro_version": "5.5.0"}))
    return seed


def test_upgrade_validate_inspect_a_v2_npz(files_with_sample, capsys):
    X = np.load(files_with_sample / "base.npy")[:300]
    seed = write_v2_npz(files_with_sample / "old.npz", X)
    code, text, _ = run(capsys, "upgrade", files_with_sample / "old.npz", "--dry-run")
    assert code == 0 and "would write" in text and not (files_with_sample / "old.vectro").exists()
    code, text, _ = run(capsys, "upgrade", files_with_sample / "old.npz", "--json")
    assert code == 0 and json.loads(text)["written"] and json.loads(text)["n"] == 300
    upgraded = vectro.load(files_with_sample / "old.vectro")
    np.testing.assert_allclose(upgraded.decompress(), vectro.reconstruct_embeddings(seed), rtol=1e-6)
    code, text, _ = run(capsys, "validate", files_with_sample / "old.vectro", "--json")
    assert code == 0 and json.loads(text)["valid"] is True
    code, text, _ = run(capsys, "inspect", files_with_sample / "old.vectro", "--json")
    assert code == 0 and json.loads(text)["checksums"] == "verified" and json.loads(text)["codec"] == "int8"


def test_validate_names_a_corrupt_file(files_with_sample, capsys):
    vectro.compress(np.load(files_with_sample / "base.npy")[:100], "int8").save(files_with_sample / "c.vectro")
    data = bytearray((files_with_sample / "c.vectro").read_bytes())
    data[-3] ^= 0xFF
    (files_with_sample / "c.vectro").write_bytes(bytes(data))
    code, _, err = run(capsys, "validate", files_with_sample / "c.vectro")
    assert code == 2 and "checksum mismatch" in err and len(err.strip().splitlines()) == 1


def test_benchmark_is_bench(capsys):
    args = ["--n", "300", "--d", "16", "--queries", "10", "-c", "int8", "--json"]
    code, text, _ = run(capsys, "benchmark", *args)
    rows = json.loads(text)["rows"]
    assert code == 0 and rows[0]["codec"] == "int8" and rows[0]["n"] == 300
    assert rows[0]["warmup_seconds"] >= 0 and rows[0]["compress_seconds"] > 0
    assert [r["recall@10"] for r in rows] == [r["recall@10"] for r in json.loads(run(capsys, "bench", *args)[1])["rows"]]
