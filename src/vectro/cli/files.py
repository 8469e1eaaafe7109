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
    ColumnOpt,
    JsonOpt,
    MetricOpt,
    QuietOpt,
    SeedOpt,
    _kv_table,
    _print_json,
    app,
    check_writable,
    err,
    out,
    progress_bar,
    progress_phases,
)


@app.command()
def compress(
    input: Path = typer.Option(..., "--in", help="Embeddings: .npy, .npz, .parquet, .arrow or a dataset folder."),
    output: Path = typer.Option(..., "--out", help="Output: .vectro (any codec) or .npz/.vqz (seed Vectro layouts, int8)."),
    codec: Optional[str] = typer.Option(None, "--codec", "-c", help="Codec spec, e.g. int8 (the default), float16, "
                                        "int4:64, pca:128+int8 (see `vectro codecs`)."),
    profile: Optional[str] = typer.Option(None, "--profile", help="A named preset instead of --codec: quality, balanced, fast or compact (see `vectro codecs`)."),
    column: Optional[str] = ColumnOpt,
    metric: str = MetricOpt,
    block_rows: int = typer.Option(65536, "--block-rows", min=1, help="Rows encoded at a time (bounds memory)."),
    seed: int = SeedOpt,
    workers: Optional[int] = sharded.WorkersOpt,
    scheduler: Optional[str] = sharded.SchedulerOpt,
    shard_rows: int = typer.Option(1_000_000, "--shard-rows", min=1, help="With a cluster: rows per shard of a large .npy."),
    quiet: bool = QuietOpt,
    as_json: bool = JsonOpt,
):
    """Compress an embeddings file, streaming block by block; with --workers/--scheduler, a folder, glob or
    large .npy in shards on a Dask cluster into --out/ (one .vectro per shard and manifest.json)."""
    codec = resolve_codec(codec, profile, quiet or as_json)
    if sharded.wants_cluster(workers, scheduler):
        summary = sharded.compress(input, output, codec, column=column, metric=metric, block_rows=block_rows,
                                   shard_rows=shard_rows, seed=seed, workers=workers, scheduler=scheduler,
                                   quiet=quiet or as_json)
        sharded.print_summary(summary, as_json, f"compressed {summary['n']} x {summary['dim']} vectors in "
                              f"{summary['shards']} shards with {summary['codec']} -> {summary['manifest']} "
                              f"({summary['file_bytes']:,} bytes, {summary['compression_ratio']:.2f}x, "
                              f"{summary['seconds']:.2f} s)")
        return
    check_writable(output)
    source = vectro.open_vectors(input, column)
    from vectro.bench import warm_up

    warmup = warm_up(codec, source.dim)
    started = time.perf_counter()
    with progress_phases(quiet or as_json) as phase:
        packed = vectro.compress_file(input, output, codec, column=column, metric=metric, block_rows=block_rows,
                                      seed=seed, progress=phase("compressing") if phase else None,
                                      fit_progress=phase(f"fitting {codec}", "steps") if phase else None)
    seconds = time.perf_counter() - started
    original_bytes = source.n * source.dim * np.dtype(source.dtype).itemsize
    summary = {
        "input": str(input), "output": str(output), "codec": packed.codec.spec, "profile": profile, "n": len(packed),
        "dim": packed.dim, "bytes_per_vector": packed.bytes_per_vector, "source_dtype": source.dtype,
        "original_bytes": original_bytes, "file_bytes": output.stat().st_size,
        "compression_ratio": len(packed) * packed.dim * 4 / output.stat().st_size,  # against float32
        "warmup_seconds": round(warmup, 3), "seconds": round(seconds, 3),
        "vectors_per_second": round(len(packed) / max(seconds, 1e-9)),
    }
    if as_json:
        _print_json(summary)
    else:
        via = f" (profile {profile})" if profile else ""
        warm = f"; kernel warm-up {warmup:.2f} s apart" if warmup >= 0.005 else ""
        out.print(f"compressed {summary['n']:,} x {summary['dim']} {source.dtype} vectors with {summary['codec']}{via} "
                  f"-> {output} ({summary['file_bytes']:,} bytes, {summary['compression_ratio']:.2f}x, "
                  f"{seconds:.2f} s{warm})")


def resolve_codec(codec: Optional[str], profile: Optional[str], quiet: bool) -> str:
    """The codec to apply: --codec, or the codec of --profile (giving both is an error)."""
    if profile is None:
        return codec or "int8"
    if codec is not None:
        raise VectroError(f"give --codec or --profile, not both (--profile {profile} applies its own codec)")
    from vectro.codecs.profiles import measured, profile_codec
    from vectro.compat import later_release_profile_note

    codec = profile_codec(profile)
    note = later_release_profile_note(profile)
    if note and not quiet:
        err.print(f"note: {note}; measured on the public set: {measured(profile)}", markup=False)
    return codec


@app.command()
def decompress(
    input: Path = typer.Option(..., "--in", help="A .vectro, Vectro .npz or .vqz file."),
    output: Path = typer.Option(..., "--out", help="Float32 .npy to write."),
    quiet: bool = QuietOpt,
):
    """Decode a compressed file back to float32 vectors (.npy)."""
    check_writable(output)
    with progress_bar("decompressing", quiet) as progress:
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
    head = b""
    if path.is_file():
        if path.stat().st_size == 0:
            raise VectroError(f"{path} is empty (0 bytes)")
        with open(path, "rb") as f:
            head = f.read(8)
    if path.suffix.lower() in (".vectro", ".vxi") and head != container.MAGIC:
        raise VectroError(f"{path} is not a vectro file: it starts with {head!r}, not {container.MAGIC!r}")
    if head in (container.MAGIC, legacy.VQZ_MAGIC) or (head.startswith(legacy.NPZ_MAGIC) and _is_vectro_npz(path)):
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
