"""Sharded datasets in one process: listing, byte-equal codes, the manifest, resume, failing shards."""

import json
import os

import numpy as np
import pytest

import vectro
from vectro.shards import MANIFEST, Runner, codec_digest, compress_shards, header_crc32, list_shards

SPEC = "pca:16+int8"  # trainable, so the seeded fit sample decides the codes


@pytest.fixture
def big(tmp_path, sample):
    """2,300 real 384-d vectors in one .npy (split into row ranges by the tests)."""
    path = tmp_path / "big.npy"
    np.save(path, sample[0][:2300])
    return path


class CountingRunner(Runner):
    def __init__(self):
        self.calls = 0

    def map(self, fn, items, shared=None, progress=None):
        self.calls += len(items)
        return super().map(fn, items, shared, progress)


def test_list_shards_folder_glob_and_row_ranges(tmp_path, sample):
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, rows in enumerate([(0, 300), (300, 350), (350, 1000)]):
        np.save(folder / f"part-{[2, 10, 1][i]}.npy", sample[0][slice(*rows)])
    (folder / "notes.txt").write_text("not a shard")
    shards = list_shards(folder, shard_rows=400)
    # natural order: part-1 (650 rows, split at 400), part-2 (300), part-10 (50)
    assert [(os.path.basename(s.path), s.start, s.stop) for s in shards] == [
        ("part-1.npy", 0, 400), ("part-1.npy", 400, 650), ("part-2.npy", 0, 300), ("part-10.npy", 0, 50)]
    assert list_shards(str(folder / "part-1*.npy")) == list_shards(folder / "part-1.npy") + list_shards(folder / "part-10.npy")
    np.save(folder / "part-3.npy", sample[0][:5, :100])
    with pytest.raises(vectro.VectroError, match="100-d vectors"):
        list_shards(folder)
    with pytest.raises(vectro.VectroError, match="no files match"):
        list_shards(str(tmp_path / "nothing-*.npy"))


@pytest.mark.parametrize("spec", [SPEC, "int8-dim", "int8"])
def test_codes_equal_a_single_file_run_byte_for_byte(tmp_path, big, spec):
    single = vectro.compress_file(big, tmp_path / "one.vectro", spec, fit_rows=700, seed=11)
    sharded = compress_shards(big, tmp_path / "out", spec, shard_rows=500, fit_rows=700, seed=11)
    assert len(sharded.parts) == 5 and len(sharded) == 2300
    np.testing.assert_array_equal(sharded.codes, np.asarray(single.codes))
    if spec == SPEC:  # the seed reaches the sample: another seed fits another projection
        other = compress_shards(big, tmp_path / "other", spec, shard_rows=500, fit_rows=700, seed=12)
        assert not np.array_equal(other.codes, sharded.codes)


def test_manifest_describes_every_shard(tmp_path, big):
    compress_shards(big, tmp_path / "out", SPEC, shard_rows=1000, fit_rows=700, seed=3, metric="ip")
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert manifest["format"] == "vectro-manifest" and manifest["n"] == 2300 and manifest["dim"] == 384
    assert (manifest["metric"], manifest["seed"], manifest["fit_rows"]) == ("ip", 3, 700)
    assert manifest["codec"]["spec"] == SPEC and manifest["bytes_per_vector"] == 20
    assert [(s["rows"], s["first_row"], s["n"]) for s in manifest["shards"]] == [
        ([0, 1000], 0, 1000), ([1000, 2000], 1000, 1000), ([2000, 2300], 2000, 300)]
    for entry in manifest["shards"]:
        path = tmp_path / "out" / entry["file"]
        assert entry["source"] == str(big.resolve())
        assert entry["file_bytes"] == path.stat().st_size and entry["header_crc32"] == header_crc32(path)
        assert codec_digest(vectro.load(path).codec) == manifest["codec"]["sha256"]


def test_load_opens_the_manifest_as_one_dataset(tmp_path, big, sample):
    single = vectro.compress_file(big, tmp_path / "one.vectro", SPEC, fit_rows=700)
    compress_shards(big, tmp_path / "out", SPEC, shard_rows=600, fit_rows=700)
    for path in (tmp_path / "out", tmp_path / "out" / MANIFEST):
        dataset = vectro.load(path)
        assert (len(dataset), dataset.dim, dataset.bytes_per_vector) == (2300, 384, 20)
        np.testing.assert_array_equal(dataset.decompress(), single.decompress())
        Q = sample[1][:7]
        exact = Q.astype(np.float64) @ single.decompress().astype(np.float64).T  # float64 reference
        np.testing.assert_allclose(dataset.score(Q), exact, rtol=1e-4, atol=1e-4)
    X = np.load(big)
    assert vectro.evaluate(X, dataset, queries=sample[1][:50]) == vectro.evaluate(X, single, queries=sample[1][:50])


def test_load_refuses_a_shard_that_is_not_the_one_listed(tmp_path, big):
    compress_shards(big, tmp_path / "out", "int8", shard_rows=1000)
    compress_shards(big, tmp_path / "int4", "int4", shard_rows=1000)
    os.replace(tmp_path / "int4" / "shard-00001.vectro", tmp_path / "out" / "shard-00001.vectro")
    with pytest.raises(vectro.FormatError, match="shard-00001.vectro is not the shard"):
        vectro.load(tmp_path / "out")


def test_resume_recompresses_only_missing_or_corrupt_shards(tmp_path, big):
    out = tmp_path / "out"
    first = compress_shards(big, out, SPEC, shard_rows=500, fit_rows=700)
    codes = first.codes.copy()
    stats = {p: os.stat(out / p) for p in sorted(os.listdir(out)) if p.endswith(".vectro")}
    os.unlink(out / "shard-00002.vectro")
    with open(out / "shard-00004.vectro", "r+b") as f:  # flip one code byte: its checksum fails
        f.seek(-5, os.SEEK_END)
        byte = f.read(1)
        f.seek(-5, os.SEEK_END)
        f.write(bytes([byte[0] ^ 0xFF]))
    again = compress_shards(big, out, SPEC, shard_rows=500, fit_rows=700)
    np.testing.assert_array_equal(again.codes, codes)
    for name, before in stats.items():
        after = os.stat(out / name)
        unchanged = (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        assert unchanged == (name not in ("shard-00002.vectro", "shard-00004.vectro")), name
    # a different codec (or seed) never reuses the files
    changed = compress_shards(big, out, SPEC, shard_rows=500, fit_rows=700, seed=99)
    assert all(os.stat(out / n).st_ino != s.st_ino or os.stat(out / n).st_mtime_ns != s.st_mtime_ns
               for n, s in stats.items())
    assert not np.array_equal(changed.codes, codes)


def test_a_bad_row_fails_the_job_naming_shard_and_row_and_leaves_no_manifest(tmp_path, big):
    out = tmp_path / "out"
    compress_shards(big, out, "int8", shard_rows=500)
    assert (out / MANIFEST).exists()
    X = np.load(big)
    X[1234, 7] = np.nan
    np.save(big, X)
    with pytest.raises(vectro.VectroError, match=r"shard shard-00002 \(.*big.npy rows 1000..1499\): .*row 1234 holds nan"):
        compress_shards(big, out, "int8", shard_rows=500, resume=False)
    assert not (out / MANIFEST).exists()  # the earlier manifest is gone too: the folder is mid-job
    with pytest.raises(vectro.VectroError, match="row 1234 holds nan"):  # the fit sample names the row too
        compress_shards(big, out, SPEC, shard_rows=500, fit_rows=2000)


def test_parquet_shards(tmp_path, sample):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    folder = tmp_path / "pq"
    folder.mkdir()
    X = sample[0][:900]
    for i, (a, b) in enumerate([(0, 400), (400, 900)]):
        table = pa.table({"id": np.arange(a, b), "embedding": pa.array(list(X[a:b]), type=pa.list_(pa.float32()))})
        pq.write_table(table, folder / f"part-{i}.parquet")
    runner = CountingRunner()
    sharded = compress_shards(folder, tmp_path / "out", SPEC, fit_rows=300, seed=5, runner=runner)
    assert runner.calls == 2 + 2  # the fit sample read from both shards, then both shards encoded
    np.testing.assert_array_equal(sharded.codes, vectro.compress(X, SPEC, fit_rows=300, seed=5).codes)
