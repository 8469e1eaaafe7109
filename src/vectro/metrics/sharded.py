"""`evaluate_sharded`: `evaluate` for a sharded dataset, measured shard by shard where the shards are.

Each shard's task reads its original rows and its codes, computes its part of the exact ground
truth and of the shortlists (partial top-k lists) plus its reconstruction cosines; the parts are
merged into the global top-k. The queries and codec travel once, in the plan. With a Dask
runner (`vectro.distributed.evaluate`) the shards are measured on the workers.
"""

from __future__ import annotations


from .._validation import as_matrix
from ..compressed import Progress, _check_metric, load
from ..errors import VectroError
from .._util import sample_rows
from ..shards import Runner, gather_rows, list_shards, manifest_shards, read_manifest
from .evaluate import DEFAULT_QUERIES, EvalPlan


def _evaluate_shard(item, plan: EvalPlan) -> dict:
    shard, path, offset, block_rows = item
    codes = load(path).codes
    parts = [plan.part(block, codes[start : start + len(block)], offset + start)
             for start, block in shard.open().blocks(block_rows)]
    return plan.merge(parts)


def evaluate_sharded(dataset, queries=None, *, original=None, k: int = 10, metric: str | None = None,
                     n_queries: int = DEFAULT_QUERIES, seed: int = 0, shortlist: int | None = None,
                     block_rows: int = 65536, runner: Runner | None = None, progress: Progress | None = None) -> dict:
    """The `evaluate` report of a sharded dataset (a folder with manifest.json) against the sources it names.

    queries: float (nq, d), or None for `n_queries` seeded rows of the dataset (each skips its own
    row), the same rows `evaluate` picks on the whole matrix. original: optionally the source
    (folder, glob or file) the caller means; it must hold the manifest's rows. metric: default the
    manifest's. Memory per task: one block of `block_rows` rows and its score blocks.
    """
    runner = runner or Runner()
    folder, manifest = read_manifest(dataset)
    shards = manifest_shards(manifest)
    n, dim = manifest["n"], manifest["dim"]
    if original is not None:
        given = sum(s.n for s in list_shards(original, manifest.get("column")))
        if given != n:
            raise VectroError(f"{original} holds {given} vectors but the dataset {folder} holds {n}")
    metric = _check_metric(metric or manifest.get("metric", "cosine"))
    files = [str(folder / entry["file"]) for entry in manifest["shards"]]
    first = load(files[0])
    self_ids = None
    if queries is None:
        self_ids = sample_rows(n, n_queries, seed)
        Q = gather_rows(shards, self_ids, runner)
    else:
        Q = as_matrix(queries, "queries", dim)
    plan = EvalPlan(Q, metric, k, n, first.codec, self_ids, shortlist)
    items = [(shard, path, entry["first_row"], block_rows)
             for shard, path, entry in zip(shards, files, manifest["shards"])]
    merged = plan.merge(runner.map(_evaluate_shard, items, plan, progress))
    state_bytes = first.nbytes - int(first.codes.nbytes)
    report = plan.report(merged, n * manifest["bytes_per_vector"] + state_bytes, manifest["bytes_per_vector"])
    report["shards"] = len(shards)
    return report
