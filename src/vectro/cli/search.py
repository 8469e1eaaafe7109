"""Indexes: `vectro index build` and `vectro search`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np
import typer

import vectro

from . import sharded
from ._common import (
    CodecOpt,
    ColumnOpt,
    JsonOpt,
    MetricOpt,
    _print_json,
    app,
    out,
    progress_bar,
)

index_app = typer.Typer(no_args_is_help=True, help="Build searchable indexes of compressed vectors.")
app.add_typer(index_app, name="index")


@index_app.command("build")
def index_build(
    input: Path = typer.Option(..., "--in", help="Embeddings to index (ids are their row numbers), or a sharded dataset's manifest."),
    output: Path = typer.Option(..., "--out", help="Index file to write (.vxi)."),
    codec: str = CodecOpt,
    rerank: Optional[str] = typer.Option(None, "--rerank", help="Finer representation kept for re-scoring: float32 or a codec spec."),
    ann: Optional[str] = typer.Option(None, "--ann", help="Approximate mode for large n: hnsw."),
    metric: str = MetricOpt,
    column: Optional[str] = ColumnOpt,
    as_json: bool = JsonOpt,
):
    """Build an index from an embeddings file, or from the sources a sharded dataset's manifest names, and save it."""
    if sharded.is_manifest(input):  # ids are dataset rows, in manifest order
        n, dim, blocks = sharded.manifest_blocks(input)
    else:
        source = vectro.open_vectors(input, column)
        n, dim, blocks = source.n, source.dim, source.blocks()
    index = vectro.Index(dim, codec, metric=metric, rerank=rerank, ann=ann)
    started = time.perf_counter()
    with progress_bar("indexing") as progress:
        for start, block in blocks:
            index.add(block, ids=np.arange(start, start + len(block)))
            if progress:
                progress(start + len(block), n)
    index.save(output)
    summary = {"output": str(output), "n": len(index), "dim": index.dim, "codec": index.codec.spec,
               "rerank": rerank, "ann": ann, "file_bytes": output.stat().st_size,
               "seconds": round(time.perf_counter() - started, 3), **index.memory_usage()}
    if as_json:
        _print_json(summary)
    else:
        out.print(f"indexed {len(index)} x {index.dim} vectors ({index.codec.spec}"
                  f"{', rerank ' + rerank if rerank else ''}{', ' + ann if ann else ''}) -> {output} "
                  f"({summary['file_bytes']:,} bytes, {summary['ram_bytes_per_vector']:.0f} B/vector in RAM)")


@app.command()
def search(
    index_path: Path = typer.Option(..., "--index", help="An index built with `vectro index build`."),
    queries: Path = typer.Option(..., "--queries", help="Query vectors (.npy, .npz, .parquet, ...)."),
    k: int = typer.Option(10, "--k", min=1),
    oversampling: float = typer.Option(1.0, "--oversampling", min=1.0, help="Re-score k x this many candidates."),
    output: Optional[Path] = typer.Option(None, "--out", help="Write ids and scores to this .npz."),
    as_json: bool = JsonOpt,
):
    """Search an index with a file of queries."""
    index = vectro.Index.load(index_path)
    Q = vectro.load_vectors(queries)
    ids, scores = index.search(Q, k, oversampling=oversampling)
    if output:
        from vectro.format.container import atomic_file

        with atomic_file(output) as f:
            np.savez(f, ids=ids, scores=scores)
    if as_json:
        _print_json({"ids": ids.tolist(), "scores": [[round(float(s), 6) for s in row] for row in scores]})
        return
    for i, (row_ids, row_scores) in enumerate(zip(ids[:20], scores[:20])):
        hits = ", ".join(f"{hit} ({score:.4f})" for hit, score in zip(row_ids.tolist(), row_scores.tolist()))
        out.print(f"query {i}: {hits}")
    if len(ids) > 20:
        out.print(f"... {len(ids) - 20} more queries" + ("" if output else " (use --out or --json for all)"))
