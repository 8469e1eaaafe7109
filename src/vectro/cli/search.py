"""Indexes: `vectro index build` and `vectro search`."""

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
    _print_json,
    app,
    check_k,
    check_writable,
    out,
    progress_bar,
    progress_phases,
)

index_app = typer.Typer(no_args_is_help=True, help="Build searchable indexes of compressed vectors.")
app.add_typer(index_app, name="index")


def read_ids(path: Path) -> np.ndarray:
    """Ids from a .npy (ints or strings) or a text file (one id per line; all-digit lines become ints)."""
    if not path.exists():
        raise VectroError(f"ids file {path} does not exist")
    if path.suffix.lower() == ".npy":
        ids = np.load(path, allow_pickle=False)
    else:
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        ids = np.array([int(x) for x in lines]) if all(x.isdigit() for x in lines) else np.array(lines, dtype=object)
    if ids.ndim != 1:
        raise VectroError(f"{path} must hold a 1-D list of ids, got shape {ids.shape}")
    return ids


@index_app.command("build")
def index_build(
    input: Path = typer.Option(..., "--in", help="Embeddings to index (ids are their row numbers unless --ids), "
                                                 "or a sharded dataset's manifest (ids: dataset rows)."),
    output: Path = typer.Option(..., "--out", help="Index file to write (.vxi)."),
    codec: Optional[str] = typer.Option(None, "--codec", "-c", help="Codec spec (default int8; for a manifest, the "
                                        "codec its shards hold, whose codes are then indexed as they are)."),
    rerank: Optional[str] = typer.Option(None, "--rerank", help="Finer representation kept for re-scoring: float32 or a codec spec."),
    ann: Optional[str] = typer.Option(None, "--ann", help="Approximate mode for large n: hnsw."),
    metric: str = MetricOpt,
    column: Optional[str] = ColumnOpt,
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Index only the first this many rows."),
    ids: Optional[Path] = typer.Option(None, "--ids", help="One id per row (.npy of ints or strings, or a text "
                                                          "file with one id a line) instead of row numbers."),
    quiet: bool = QuietOpt,
    as_json: bool = JsonOpt,
):
    """Build an index from an embeddings file or a sharded dataset's manifest, and save it.

    From a manifest, the shards' codes go into the index as they are (no float read, nothing encoded
    again) unless --rerank, --ann or another --codec needs the floats: those come from the sources it names."""
    check_writable(output)
    packed = vectro.load(input) if sharded.is_manifest(input) else None
    if packed is not None and rerank is None and ann is None and codec in (None, packed.codec.spec):
        total, dim, blocks, sample = len(packed), packed.dim, None, None
    elif packed is not None:  # rows in manifest order
        total, dim, blocks, sample = sharded.manifest_blocks(input)
    else:
        source = vectro.open_vectors(input, column)
        total, dim, blocks, sample = source.n, source.dim, source.blocks(), source.sample
    n = min(limit or total, total)
    id_list = read_ids(ids) if ids else np.arange(n)
    if len(id_list) < n:
        raise VectroError(f"{ids} holds {len(id_list):,} ids for {n:,} rows; give one id per row (or --limit)")
    index = vectro.Index(dim, packed.codec if blocks is None else codec or "int8", metric=metric, rerank=rerank, ann=ann)
    started = time.perf_counter()
    with progress_phases(quiet or as_json) as phase:
        if sample is not None and (ann or not index.is_trained):  # fit on a seeded sample of the whole input
            from vectro.compressed import FIT_ROWS

            index.train(sample(FIT_ROWS), progress=phase(f"fitting {index.codec.spec}", "steps") if phase else None)
        progress = phase("indexing") if phase else None
        add = index.add  # float blocks, encoded here
        if blocks is None:  # the shards' codes, stored as they are
            blocks = ((int(start), part.codes) for part, start in zip(packed.parts, packed.offsets))
            add = index.add_codes
        for start, block in blocks:
            block = block[: n - start]
            add(block, ids=id_list[start : start + len(block)])
            if progress:
                progress(start + len(block), n)
            if start + len(block) >= n:
                break
    index.save(output)
    built = index.memory_usage()
    loaded = vectro.Index.load(output, verify=False).memory_usage()
    rows = max(len(index), 1)
    summary = {"output": str(output), "n": len(index), "dim": index.dim, "codec": index.codec.spec,
               "rerank": rerank, "ann": ann, "file_bytes": output.stat().st_size,
               "seconds": round(time.perf_counter() - started, 3),
               "build_ram_bytes_per_vector": built["ram_bytes_per_vector"],
               "loaded_ram_bytes_per_vector": loaded["ram_bytes_per_vector"],
               "loaded_mapped_bytes_per_vector": loaded["mapped_bytes"] / rows}
    if as_json:
        _print_json(summary)
    else:
        out.print(f"indexed {len(index):,} x {index.dim} vectors ({index.codec.spec}"
                  f"{', rerank ' + rerank if rerank else ''}{', ' + ann if ann else ''}) -> {output} "
                  f"({summary['file_bytes']:,} bytes)")
        out.print(f"memory per vector: {summary['build_ram_bytes_per_vector']:.0f} B in RAM while building; "
                  f"once loaded {summary['loaded_ram_bytes_per_vector']:.0f} B in RAM + "
                  f"{summary['loaded_mapped_bytes_per_vector']:.0f} B memory-mapped from the file")


def parse_filter(value: str) -> np.ndarray:
    """--filter: a file of allowed ids (see read_ids), or ids separated by commas."""
    path = Path(value)
    if path.exists():
        return read_ids(path)
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts:
        raise VectroError("--filter names no id")
    return np.array([int(p) for p in parts]) if all(p.lstrip("-").isdigit() for p in parts) else np.array(parts, dtype=object)


@app.command()
def search(
    index_path: Path = typer.Option(..., "--index", help="An index built with `vectro index build`."),
    queries: Path = typer.Option(..., "--queries", help="Query vectors (.npy, .npz, .parquet, ...)."),
    k: int = typer.Option(10, "--k", min=1, help="Hits per query (at most the vectors allowed)."),
    oversampling: float = typer.Option(1.0, "--oversampling", min=1.0, help="Re-score k x this many candidates."),
    filter: Optional[str] = typer.Option(None, "--filter", help="Only these ids may be returned: comma-separated "
                                                                "ids, or a file of ids (.npy or one per line)."),
    output: Optional[Path] = typer.Option(None, "--out", help="Write ids and scores to this .npz."),
    quiet: bool = QuietOpt,
    as_json: bool = JsonOpt,
):
    """Search an index with a file of queries."""
    if output:
        check_writable(output)
    index = vectro.Index.load(index_path)
    allowed = parse_filter(filter) if filter is not None else None
    if allowed is not None:
        present = sum(1 for i in allowed if i in index)
        check_k(k, present, "vectors the filter allows")
    else:
        check_k(k, len(index), "vectors in the index")
    source = vectro.open_vectors(queries)
    if source.dim != index.dim:
        raise VectroError(f"queries have {source.dim} dimensions, the index {index.dim}")
    found, scored = [], []
    with progress_bar("searching", quiet or as_json, unit="queries") as progress:
        for start, block in source.blocks(4096):
            block_ids, block_scores = index.search(block, k, oversampling=oversampling, filter=allowed)
            found.append(block_ids)
            scored.append(block_scores)
            if progress:
                progress(start + len(block), source.n)
    ids, scores = np.vstack(found), np.vstack(scored)
    if output:
        from vectro.format.container import atomic_file

        with atomic_file(output) as f:
            np.savez(f, ids=ids.astype(str) if ids.dtype == object else ids, scores=scores)
    if as_json:
        _print_json({"ids": ids.tolist(), "scores": [[round(float(s), 6) for s in row] for row in scores]})
        return
    for i, (row_ids, row_scores) in enumerate(zip(ids[:20], scores[:20])):
        hits = ", ".join(f"{hit} ({score:.4f})" for hit, score in zip(row_ids.tolist(), row_scores.tolist()))
        out.print(f"query {i}: {hits}", markup=False)
    if len(ids) > 20:
        out.print(f"... {len(ids) - 20} more queries" + ("" if output else " (use --out or --json for all)"))
