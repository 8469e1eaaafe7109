"""The sharded job on a Dask LocalCluster: the same codes, manifest, resume and errors as one process."""

import json
import os

import numpy as np
import pytest

import vectro
from vectro.shards import MANIFEST, compress_shards

pytest.importorskip("distributed", reason="vectro[dask] is not installed")
from vectro import distributed  # noqa: E402

SPEC = "pca:16+int8"


@pytest.fixture(scope="module")
def client():
    """Two in-process workers: the scheduling, broadcast and merging paths, without process start-up time."""
    with distributed.cluster(workers=2, processes=False, dashboard=False) as client:
        yield client


@pytest.fixture
def shards(tmp_path, sample):
    """Four .npy shards of real 384-d vectors (2,300 rows in all, uneven sizes) and their concatenation."""
    folder = tmp_path / "in"
    folder.mkdir()
    X = sample[0][:2300]
    for i, (a, b) in enumerate([(0, 700), (700, 1200), (1200, 2000), (2000, 2300)]):
        np.save(folder / f"part-{i}.npy", X[a:b])
    np.save(tmp_path / "all.npy", X)
    return folder


def test_dask_codes_and_manifest_equal_a_single_process_run(tmp_path, shards, client):
    single = vectro.compress_file(tmp_path / "all.npy", tmp_path / "one.vectro", SPEC, fit_rows=900, seed=4)
    done = []
    packed = distributed.compress(shards, tmp_path / "out", SPEC, client=client, fit_rows=900, seed=4,
                                  progress=lambda d, t: done.append((d, t)))
    np.testing.assert_array_equal(packed.codes, np.asarray(single.codes))
    assert done[-1] == (4, 4) and len(done) == 4
    local = compress_shards(shards, tmp_path / "local", SPEC, fit_rows=900, seed=4)
    ours, theirs = (json.loads((tmp_path / d / MANIFEST).read_text()) for d in ("out", "local"))
    for manifest in (ours, theirs):  # equal but for times (shard headers carry theirs, hence their CRCs)
        manifest.pop("created_at")
        for entry in manifest["shards"]:
            entry.pop("header_crc32")
    assert ours == theirs
    assert [s["n"] for s in ours["shards"]] == [700, 500, 800, 300] and ours["n"] == 2300


def test_dask_resume_after_a_deleted_shard(tmp_path, shards, client):
    out = tmp_path / "out"
    first = distributed.compress(shards, out, SPEC, client=client, fit_rows=900)
    kept = os.stat(out / "shard-00000.vectro")
    os.unlink(out / "shard-00002.vectro")
    os.unlink(out / MANIFEST)
    again = distributed.compress(shards, out, SPEC, client=client, fit_rows=900)
    assert os.stat(out / "shard-00000.vectro").st_mtime_ns == kept.st_mtime_ns  # reused, not rewritten
    np.testing.assert_array_equal(again.codes, first.codes)
    assert vectro.load(out).metadata["manifest"]["n"] == 2300


def test_dask_failing_shard_is_named_and_no_manifest_is_written(tmp_path, shards, client):
    part = np.load(shards / "part-2.npy")
    part[345, 0] = np.inf
    np.save(shards / "part-2.npy", part)
    with pytest.raises(vectro.VectroError, match=r"shard shard-00002 \(.*part-2.npy rows 0..799\): .*part-2.npy row 345 holds inf"):
        distributed.compress(shards, tmp_path / "out", "int8", client=client)
    assert not (tmp_path / "out" / MANIFEST).exists()


@pytest.mark.parametrize("shortlist", [None, 30])
def test_dask_evaluate_equals_single_file_evaluate(tmp_path, shards, sample, client, shortlist):
    X = np.load(tmp_path / "all.npy")
    single = vectro.compress_file(tmp_path / "all.npy", tmp_path / "one.vectro", "int4")
    distributed.compress(shards, tmp_path / "out", "int4", client=client)
    for queries in (sample[1][:60], None):  # given queries; rows of the dataset, each skipping itself
        expected = vectro.evaluate(X, single, queries=queries, n_queries=200, shortlist=shortlist)
        report = distributed.evaluate(tmp_path / "out", queries, client=client, n_queries=200, shortlist=shortlist,
                                      block_rows=256)  # blocks inside shards merge too
        assert report.pop("shards") == 4
        assert report == expected
    # an independent float64 brute force: exact top-10 of the originals and of the decoded rows
    Q = sample[1][:60].astype(np.float64)
    unit = lambda A: A / np.linalg.norm(A, axis=1, keepdims=True)  # noqa: E731
    truth = np.argsort(-(Q @ unit(X.astype(np.float64)).T), axis=1)[:, :10]
    found = np.argsort(-(Q @ unit(single.decompress().astype(np.float64)).T), axis=1)[:, :10]
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    report = distributed.evaluate(tmp_path / "out", sample[1][:60], client=client)
    assert report["recall@10"] == pytest.approx(recall, abs=0.01) and 0.5 < recall < 1


def test_tune_measures_each_candidate_on_the_workers_with_the_same_rows(sample, client):
    base, queries = sample
    candidates = ["int8", "int4", "pq:8", "pq:7"]  # pq:7 does not divide 384: a note, not a crash
    local = vectro.tune(base[:3000], queries[:50], max_bytes=200, codecs=candidates)
    steps = []
    on_dask = vectro.tune(base[:3000], queries[:50], max_bytes=200, codecs=candidates,
                          runner=distributed.DaskRunner(client), progress=lambda done, total: steps.append(done))
    strip = lambda rows: [{k: v for k, v in r.items() if not k.endswith(("seconds", "per_s"))} for r in rows]  # noqa: E731
    assert strip(on_dask.rows) == strip(local.rows) and on_dask.chosen == local.chosen == "int4"
    assert on_dask.notes == local.notes and "pq:7" in on_dask.notes[0] and sorted(steps) == [1, 2, 3, 4]


def test_a_task_whose_worker_dies_is_retried(tmp_path):
    """A worker process killed mid-task: Dask runs the task again on a restarted worker, and the job completes."""
    marker = tmp_path / "died-once"

    def die_once(item, folder):  # local, so it travels by value to the worker processes
        import os
        from pathlib import Path

        if item == 2 and not (Path(folder) / "died-once").exists():
            (Path(folder) / "died-once").touch()
            os._exit(1)  # the worker process dies without a word
        return item * item

    with distributed.cluster(workers=1, dashboard=False) as client:
        results = distributed.DaskRunner(client).map(die_once, [1, 2, 3], str(tmp_path))
    assert results == [1, 4, 9] and marker.exists()


def test_connects_to_a_running_scheduler_by_address(tmp_path, shards):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as running:
        with distributed.cluster(scheduler=running.scheduler_address) as client:
            packed = distributed.compress(shards, tmp_path / "out", "int8", client=client)
    np.testing.assert_array_equal(packed.codes, vectro.compress(np.load(tmp_path / "all.npy"), "int8").codes)
    with pytest.raises(vectro.VectroError, match="exactly one of"):
        with distributed.cluster():
            pass
