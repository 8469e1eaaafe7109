"""Files in and out: compress, decompress, info."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np
import typer

import vectro
from vectro.errors import VectroError

from . import sharded
from ._common import (
    CodecOpt,
    ColumnOpt,
    JsonOpt,
    MetricOpt,
    _kv_table,
    _print_json,
    app,
    out,
    progress_bar,
)


@app.command()
def compress(
    input: Path = typer.Option(..., "--in", help="Embeddings: .npy, .npz, .parquet, .arrow or a dataset folder."),
    output: Path = typer.Option(..., "--out", help="Output: .vectro (any codec) or .npz/.vqz (seed Vectro layouts, int8)."),
    codec: str = CodecOpt,
    profile: Optional[str] = typer.Option(None, "--profile", help="A named preset instead of --codec: quality, balanced, fast or compact (see `vectro codecs`)."),
    column: Optional[str] = ColumnOpt,
    metric: str = MetricOpt,
    block_rows: int = typer.Option(65536, "--block-rows", min=1, help="Rows encoded at a time (bounds memory)."),
    seed: int = typer.Option(0, "--seed", help="Fixes every random choice (the rows trainable codecs learn from)."),
    workers: Optional[int] = sharded.WorkersOpt,
    scheduler: Optional[str] = sharded.SchedulerOpt,
    shard_rows: int = typer.Option(1_000_000, "--shard-rows", min=1, help="With a cluster: rows per shard of a large .npy."),
    as_json: bool = JsonOpt,
):
    """Compress an embeddings file, streaming block by block; with --workers/--scheduler, a folder, glob or
    large .npy in shards on a Dask cluster into --out/ (one .vectro per shard and manifest.json)."""
    if profile is not None:
        from vectro.codecs.profiles import profile_codec

        codec = profile_codec(profile)
    if sharded.wants_cluster(workers, scheduler):
        summary = sharded.compress(input, output, codec, column=column, metric=metric, block_rows=block_rows,
                                   shard_rows=shard_rows, seed=seed, workers=workers, scheduler=scheduler)
        sharded.print_summary(summary, as_json, f"compressed {summary['n']} x {summary['dim']} vectors in "
                              f"{summary['shards']} shards with {summary['codec']} -> {summary['manifest']} "
                              f"({summary['file_bytes']:,} bytes, {summary['compression_ratio']:.2f}x, "
                              f"{summary['seconds']:.2f} s)")
        return
    started = time.perf_counter()
    with progress_bar("compressing") as progress:
        packed = vectro.compress_file(input, output, codec, column=column, metric=metric,
                                      block_rows=block_rows, seed=seed, progress=progress)
    seconds = time.perf_counter() - started
    summary = {
        "input": str(input), "output": str(output), "codec": packed.codec.spec, "profile": profile, "n": len(packed),
        "dim": packed.dim, "bytes_per_vector": packed.bytes_per_vector,
        "original_bytes": len(packed) * packed.dim * 4, "file_bytes": output.stat().st_size,
        "compression_ratio": len(packed) * packed.dim * 4 / output.stat().st_size,
        "seconds": round(seconds, 3), "vectors_per_second": round(len(packed) / max(seconds, 1e-9)),
    }
    if as_json:
        _print_json(summary)
    else:
        via = f" (profile {profile})" if profile else ""
        out.print(f"compressed {summary['n']} x {summary['dim']} vectors with {summary['codec']}{via} -> {output} "
                  f"({summary['file_bytes']:,} bytes, {summary['compression_ratio']:.2f}x, {seconds:.2f} s)")


@app.command()
def decompress(
    input: Path = typer.Option(..., "--in", help="A .vectro, Vectro .npz or .vqz file."),
    output: Path = typer.Option(..., "--out", help="Float32 .npy to write."),
):
    """Decode a compressed file back to float32 vectors (.npy)."""
    with progress_bar("decompressing") as progress:
        vectro.decompress_file(input, output, progress=progress)
    out.print(f"wrote {output}")


@app.command()
def info(
    path: Path = typer.Argument(..., help="A compressed file, or an embeddings input."),
    as_json: bool = JsonOpt,
):
    """Describe a compressed file or sharded dataset (verifying its checksums) or an embeddings input."""
    from vectro.format import container, legacy

    if not path.exists():
        raise VectroError(f"{path} does not exist")
    if sharded.is_manifest(path):
        details = sharded.describe(path)
        _print_json(details) if as_json else out.print(_kv_table(details))
        return
    with open(path, "rb") as f:
        head = f.read(8)
    if path.is_file() and (head in (container.MAGIC, legacy.VQZ_MAGIC) or
                           (head.startswith(legacy.NPZ_MAGIC) and _is_vectro_npz(path))):
        packed = vectro.load(path)
        details = {
            "path": str(path), "format": packed.metadata.get("format"), "codec": packed.codec.spec,
            "n": len(packed), "dim": packed.dim, "bytes_per_vector": packed.bytes_per_vector,
            "file_bytes": path.stat().st_size, "compression_ratio": len(packed) * packed.dim * 4 / path.stat().st_size,
            "metric": packed.metric, "checksums": "verified",
        }
        header = packed.metadata.get("header", {})
        details.update({k: header[k] for k in ("source_dtype", "created_at", "vectro_version") if k in header})
    else:
        source = vectro.open_vectors(path)
        details = {"path": str(path), "format": "embeddings input", "n": source.n, "dim": source.dim,
                   "dtype": source.dtype, "float32_bytes": source.n * source.dim * 4}
    if as_json:
        _print_json(details)
    else:
        out.print(_kv_table(details))


def _is_vectro_npz(path: Path) -> bool:

    with np.load(path) as npz:
        return "q" in npz.files or "quantized" in npz.files
