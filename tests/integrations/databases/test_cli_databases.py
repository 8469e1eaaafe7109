"""`vectro export` and `vectro import`: a .vectro and a .vxi out to a database and back."""

import json

import numpy as np

import vectro
from vectro.cli import main

from ._helpers import unit


def run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_vectro_file_round_trip_keeps_row_order(tmp_path, capsys, db_data):
    base = db_data[0][:300]
    vectro.compress(base, "int8").save(tmp_path / "in.vectro")
    url = f"qdrant-edge://{tmp_path / 'db'}"
    code, text, _ = run(capsys, "export", "--in", tmp_path / "in.vectro", "--to", url, "--collection", "docs",
                        "--batch-size", "100", "--json")
    assert code == 0 and json.loads(text)["written"] == 300
    code, text, _ = run(capsys, "import", "--from", url, "--collection", "docs", "--out", tmp_path / "back.vectro")
    assert code == 0 and "imported 300 vectors" in text
    back = vectro.load(tmp_path / "back.vectro")
    assert back.codec.spec == "int8"
    assert np.sum(unit(back.decompress()) * unit(base), axis=1).min() > 0.999
    code, _, err = run(capsys, "import", "--from", url, "--collection", "nope", "--out", tmp_path / "x.vxi")
    assert code == 2 and "collection 'nope' does not exist" in err
    code, _, err = run(capsys, "import", "--from", url, "--collection", "docs", "--out", tmp_path / "x.npy")
    assert code == 2 and ".vxi" in err


def test_index_round_trip_keeps_ids_and_payloads(tmp_path, capsys, db_data):
    base = db_data[0][:200]
    index = vectro.Index(base.shape[1], "int8")
    index.add(base, ids=[f"d{i}" for i in range(200)], payloads=[{"i": i} for i in range(200)])
    index.save(tmp_path / "in.vxi")
    url = f"qdrant-edge://{tmp_path / 'db'}"
    assert run(capsys, "export", "--in", tmp_path / "in.vxi", "--to", url, "--collection", "idx")[0] == 0
    assert run(capsys, "import", "--from", url, "--collection", "idx", "--out", tmp_path / "back.vxi")[0] == 0
    back = vectro.Index.load(tmp_path / "back.vxi")
    assert sorted(back.ids()) == sorted(index.ids())
    assert back.payloads(["d0", "d199"]) == [{"i": 0}, {"i": 199}]
    np.testing.assert_allclose(back.get(["d5"]), index.get(["d5"]), atol=0.02)
