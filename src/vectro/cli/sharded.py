"""Sharded datasets on the command line: what `compress`, `eval`, `tune`, `info` and `index build` do
when given `--workers N` / `--scheduler tcp://HOST:PORT` or a manifest (the commands stay in their modules)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from ._common import _print_json, err, out, progress_bar

WorkersOpt = typer.Option(None, "--workers", min=1, help="Run on a local Dask cluster of this many worker processes (needs the dask extra).")
SchedulerOpt = typer.Option(None, "--scheduler", help="Run on the Dask cluster at this address, e.g. tcp://10.0.0.5:8786 (needs the dask extra).")


def wants_cluster(workers: Optional[int], scheduler: Optional[str]) -> bool:
    return workers is not None or scheduler is not None


@contextmanager
def dask_client(workers: Optional[int], scheduler: Optional[str]):
    """A Dask client for the command; prints the dashboard link (stderr) so the job can be watched."""
    from vectro.distributed import cluster

    with cluster(scheduler=scheduler, workers=workers) as client:
        workers_now = len(client.scheduler_info().get("workers", {}))
        err.print(f"Dask: {workers_now} workers, dashboard {client.dashboard_link}")
        yield client


def compress(input: Path, output: Path, codec: str, *, column, metric, block_rows: int, shard_rows: int, seed: int,
             workers, scheduler, resume: bool = True, quiet: bool = False) -> dict:
    """`vectro compress --workers/--scheduler`: shards of `input` into `output`/, a progress bar over shards."""
    from vectro.distributed import compress as dask_compress

    started = time.perf_counter()
    with dask_client(workers, scheduler) as client, progress_bar("shards", quiet, unit="shards") as progress:
        packed = dask_compress(input, output, codec, client=client, column=column, metric=metric, shard_rows=shard_rows,
                               block_rows=block_rows, seed=seed, resume=resume, progress=progress)
    seconds = time.perf_counter() - started
    manifest = packed.metadata["manifest"]
    file_bytes = sum(s["file_bytes"] for s in manifest["shards"])
    return {"input": str(input), "output": str(output), "manifest": str(Path(output) / "manifest.json"),
            "codec": packed.codec.spec, "n": len(packed), "dim": packed.dim, "shards": len(manifest["shards"]),
            "bytes_per_vector": packed.bytes_per_vector, "original_bytes": len(packed) * packed.dim * 4,
            "file_bytes": file_bytes, "compression_ratio": len(packed) * packed.dim * 4 / file_bytes, "seed": seed,
            "seconds": round(seconds, 3), "vectors_per_second": round(len(packed) / max(seconds, 1e-9))}


def describe(path: Path) -> dict:
    """`vectro info` of a sharded dataset: the manifest's totals, every shard verified."""
    import vectro

    packed = vectro.load(path)  # verifies every shard's checksums against the manifest
    manifest = packed.metadata["manifest"]
    file_bytes = sum(s["file_bytes"] for s in manifest["shards"])
    return {"path": str(path), "format": "vectro sharded dataset (manifest.json)", "codec": packed.codec.spec,
            "n": len(packed), "dim": packed.dim, "shards": len(packed.parts), "bytes_per_vector": packed.bytes_per_vector,
            "file_bytes": file_bytes, "compression_ratio": len(packed) * packed.dim * 4 / file_bytes,
            "metric": packed.metric, "seed": manifest.get("seed"), "source": manifest.get("source"),
            "checksums": "verified", "created_at": manifest.get("created_at"),
            "vectro_version": manifest.get("vectro_version")}


def evaluate(comp: Path, orig: Optional[Path], queries, *, k: int, metric: str, column, workers, scheduler,
             quiet: bool = False) -> dict:
    """`vectro eval --comp MANIFEST`: shard by shard, on a cluster when one is asked for."""
    import vectro
    from vectro.metrics.sharded import evaluate_sharded

    Q = vectro.load_vectors(queries, column) if queries else None
    with progress_bar("shards", quiet, unit="shards") as progress:
        if not wants_cluster(workers, scheduler):
            return evaluate_sharded(comp, Q, original=orig, k=k, metric=metric, progress=progress)
        from vectro.distributed import evaluate as dask_evaluate

        with dask_client(workers, scheduler) as client:
            return dask_evaluate(comp, Q, original=orig, client=client, k=k, metric=metric, progress=progress)


def tune_sample(input: Path, column, rows, seed: int, runner):
    """The seeded tuning sample of a sharded source (or a manifest's sources), each shard read where it is.

    rows(n) -> how many rows to draw from n. Returns (float32 (rows, d), n): the rows `tune` draws from one file.
    """
    from vectro.shards import gather_sample, list_shards, manifest_shards, read_manifest

    shards = manifest_shards(read_manifest(input)[1]) if is_manifest(input) else list_shards(input, column)
    n = sum(s.n for s in shards)
    return gather_sample(shards, rows(n), seed, runner), n


@contextmanager
def runner(workers, scheduler):
    """Where per-shard and per-candidate work runs: a Dask cluster's workers with --workers/--scheduler,
    else this process."""
    from vectro.shards import Runner

    if not wants_cluster(workers, scheduler):
        yield Runner()
        return
    from vectro.distributed import DaskRunner

    with dask_client(workers, scheduler) as client:
        yield DaskRunner(client)


def is_manifest(path: Path) -> bool:
    from vectro.shards import is_manifest as check

    return check(path)


def is_sharded(path: Path) -> bool:
    """A manifest, a folder of .npy shards, or a glob: inputs the single-file commands cannot read."""
    text = str(path)
    return is_manifest(path) or any(ch in text for ch in "*?[") or (path.is_dir() and any(path.glob("*.npy")))


def manifest_blocks(path: Path):
    """The sources a manifest names as one input: n, dim, (first dataset row, float32 block) in dataset
    order, and sample(rows, seed) (the seeded sample `compress_file` would draw from them concatenated)."""
    from vectro.shards import gather_sample, manifest_shards, read_manifest

    _, manifest = read_manifest(path)
    shards = manifest_shards(manifest)

    def blocks():
        for shard, entry in zip(shards, manifest["shards"]):
            for start, block in shard.open().blocks():
                yield entry["first_row"] + start, block

    return manifest["n"], manifest["dim"], blocks(), lambda rows, seed=0: gather_sample(shards, rows, seed)


def print_summary(summary: dict, as_json: bool, line: str) -> None:
    if as_json:
        _print_json(summary)
    else:
        out.print(line)

