"""The `vectro` command: a thin layer that parses, calls the public API and prints."""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

import vectro
from vectro.errors import VectroError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Make embedding vectors small and keep them searchable.",
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

CodecOpt = typer.Option("int8", "--codec", "-c", help="Codec spec, e.g. int8, float16, int4:64, pca:128+int8 (see `vectro codecs`).")
ColumnOpt = typer.Option(None, "--column", help="Parquet/dataset column or .npz key holding the vectors (inferred if omitted).")
MetricOpt = typer.Option("cosine", "--metric", help="Similarity: cosine, ip (inner product) or l2.")
JsonOpt = typer.Option(False, "--json", help="Print one JSON object instead of a table.")


@contextmanager
def progress_bar(description: str):
    """A Rich progress bar on a terminal; no output otherwise. Yields a progress(done, total) callback."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(description, BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err,
                  transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _print_json(payload: dict) -> None:
    print(json.dumps(payload))


def _kv_table(rows: dict, title: str | None = None) -> Table:
    table = Table(show_header=False, title=title, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    return table


@app.command()
def compress(
    input: Path = typer.Option(..., "--in", help="Embeddings: .npy, .npz, .parquet, .arrow or a dataset folder."),
    output: Path = typer.Option(..., "--out", help="Output: .vectro (any codec) or .npz/.vqz (seed Vectro layouts, int8)."),
    codec: str = CodecOpt,
    column: Optional[str] = ColumnOpt,
    metric: str = MetricOpt,
    block_rows: int = typer.Option(65536, "--block-rows", min=1, help="Rows encoded at a time (bounds memory)."),
    as_json: bool = JsonOpt,
):
    """Compress an embeddings file, streaming block by block."""
    started = time.perf_counter()
    with progress_bar("compressing") as progress:
        packed = vectro.compress_file(input, output, codec, column=column, metric=metric,
                                      block_rows=block_rows, progress=progress)
    seconds = time.perf_counter() - started
    summary = {
        "input": str(input), "output": str(output), "codec": packed.codec.spec, "n": len(packed),
        "dim": packed.dim, "bytes_per_vector": packed.bytes_per_vector,
        "original_bytes": len(packed) * packed.dim * 4, "file_bytes": output.stat().st_size,
        "compression_ratio": len(packed) * packed.dim * 4 / output.stat().st_size,
        "seconds": round(seconds, 3), "vectors_per_second": round(len(packed) / max(seconds, 1e-9)),
    }
    if as_json:
        _print_json(summary)
    else:
        out.print(f"compressed {summary['n']} x {summary['dim']} vectors with {summary['codec']} -> {output} "
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


@app.command("eval")
def evaluate(
    orig: Path = typer.Option(..., "--orig", help="The original float vectors."),
    comp: Path = typer.Option(..., "--comp", help="Their compressed file (.vectro, .npz, .vqz)."),
    queries: Optional[Path] = typer.Option(None, "--queries", help="Query vectors; default: 1,000 sampled rows of --orig."),
    k: int = typer.Option(10, "--k", min=1, help="Neighbours per query."),
    metric: str = MetricOpt,
    column: Optional[str] = ColumnOpt,
    oversampling: float = typer.Option(1.0, "--oversampling", min=1.0, help="For an index: re-score k x this many."),
    as_json: bool = JsonOpt,
):
    """Measure what compression lost: recall@k, nDCG@k, MRR, overlap, cosine, bytes (of a file or an index)."""
    original = vectro.load_vectors(orig, column)
    Q = vectro.load_vectors(queries, column) if queries else None
    if _is_index(comp):
        from vectro.metrics.evaluate import evaluate_index

        report = evaluate_index(original, vectro.Index.load(comp), queries=Q, k=k, oversampling=oversampling)
        if as_json:
            _print_json(report)
        else:
            out.print(_kv_table(report))
        return
    report = vectro.evaluate(original, vectro.load(comp), queries=Q, k=k, metric=metric)
    if as_json:
        _print_json(report)
        return
    # the seed Vectro's three lines first, then the ranking metrics
    out.print(f"original bytes: {report['original_bytes']:,}")
    out.print(f"compressed bytes: {report['compressed_bytes']:,}")
    out.print(f"mean cosine: {report['mean_cosine']:.6f}")
    shown = {key: report[key] for key in ("compression_ratio", f"recall@{k}", f"ndcg@{k}", f"mrr@{k}",
                                          f"overlap@{k}", "min_cosine", "p5_cosine", "bytes_per_vector")}
    out.print(_kv_table(shown))
    out.print(f"worst reconstructed rows: {report['worst']}")


index_app = typer.Typer(no_args_is_help=True, help="Build searchable indexes of compressed vectors.")
app.add_typer(index_app, name="index")


@index_app.command("build")
def index_build(
    input: Path = typer.Option(..., "--in", help="Embeddings to index (ids are their row numbers)."),
    output: Path = typer.Option(..., "--out", help="Index file to write (.vxi)."),
    codec: str = CodecOpt,
    rerank: Optional[str] = typer.Option(None, "--rerank", help="Finer representation kept for re-scoring: float32 or a codec spec."),
    ann: Optional[str] = typer.Option(None, "--ann", help="Approximate mode for large n: hnsw."),
    metric: str = MetricOpt,
    column: Optional[str] = ColumnOpt,
    as_json: bool = JsonOpt,
):
    """Build an index from an embeddings file and save it."""
    source = vectro.open_vectors(input, column)
    index = vectro.Index(source.dim, codec, metric=metric, rerank=rerank, ann=ann)
    started = time.perf_counter()
    with progress_bar("indexing") as progress:
        for start, block in source.blocks():
            index.add(block, ids=np.arange(start, start + len(block)))
            if progress:
                progress(start + len(block), source.n)
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


@app.command()
def info(
    path: Path = typer.Argument(..., help="A compressed file, or an embeddings input."),
    as_json: bool = JsonOpt,
):
    """Describe a compressed file (verifying its checksums) or an embeddings input."""
    from vectro.format import container, legacy

    if not path.exists():
        raise VectroError(f"{path} does not exist")
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


def _is_index(path: Path) -> bool:
    from vectro.format import container

    if not path.is_file() or not container.is_container(path):
        return False
    header, _ = container.read_container(path, verify=False)
    return header.get("format") == "vectro-index"


def _is_vectro_npz(path: Path) -> bool:
    import numpy as np

    with np.load(path) as npz:
        return "q" in npz.files or "quantized" in npz.files


@app.command()
def codecs(dim: int = typer.Option(384, "--dim", min=1, help="Dimension for the bytes/vector column.")):
    """List the codecs, with bytes per vector at --dim."""
    table = Table("spec", f"bytes/vector (d={dim})", "ratio", "what")
    for name, cls in vectro.registered_codecs().items():
        spec = cls.example or name
        size = vectro.make_codec(spec).bytes_per_vector(dim)
        table.add_row(spec, str(size), f"{4 * dim / size:.1f}x", cls.summary)
    out.print(table)


@app.command()
def demo(
    codec: Optional[List[str]] = typer.Option(None, "--codec", "-c", help="Codecs to show (default: all)."),
    as_json: bool = JsonOpt,
):
    """Compress the bundled real sample with every codec and print what each one keeps."""
    from vectro.demo import DEMO_CODECS, run_demo

    rows = run_demo(codec or DEMO_CODECS)
    if as_json:
        _print_json({"rows": rows})
        return
    table = Table("codec", "bytes/vector", "ratio", "recall@10", "nDCG@10", "mean cosine", "fit+encode vec/s",
                  title="vectro demo: 5,000 real all-MiniLM-L6-v2 passages (d=384), 200 held-out queries")
    for row in rows:
        table.add_row(row["codec"], str(row["bytes_per_vector"]), f"{row['compression_ratio']:.1f}x",
                      f"{row['recall@10']:.3f}", f"{row['ndcg@10']:.3f}", f"{row['mean_cosine']:.4f}",
                      f"{row['encode_vectors_per_s']:,.0f}")
    out.print(table)
    out.print("ratio = float32 bytes / stored bytes (codes, scales and codec state such as rotations). "
              "Next: `vectro compress --in X.npy --out X.vectro --codec int8`.")


@app.command()
def bench(
    suite: Optional[str] = typer.Argument(None, help="Omit for the seed harness; `speed` for the kernel speed benchmark."),
    n: int = typer.Option(2000, "--n", min=1, help="Synthetic vectors (ignored with --in)."),
    d: int = typer.Option(128, "--d", min=1, help="Synthetic dimension."),
    queries: int = typer.Option(100, "--queries", min=1, help="Queries (held-out rows)."),
    k: int = typer.Option(10, "--k", min=1),
    codec: Optional[List[str]] = typer.Option(None, "--codec", "-c", help="Codecs (repeatable; default int8)."),
    input: Optional[Path] = typer.Option(None, "--in", help="Benchmark on this embeddings file instead."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = JsonOpt,
):
    """The seed's benchmark harness (compress/reconstruct time, cosine, recall@k, bytes), or `bench speed`."""
    if suite == "speed":
        from vectro.speed import markdown, run

        report = run(dims=(d,), n=n, scan_n=n, scan_queries=queries)
        if as_json:
            _print_json(report)
        else:
            out.print(markdown(report), markup=False)
        return
    if suite is not None:
        raise VectroError(f"unknown benchmark {suite!r}; use `vectro bench` or `vectro bench speed`")
    from vectro.bench import run_bench

    data = vectro.load_vectors(input) if input else None
    rows = run_bench(codec or ["int8"], n=n, d=d, n_queries=queries, k=k, data=data, seed=seed)
    if as_json:
        _print_json({"rows": rows})
        return
    table = Table("codec", "n x d", "compress s", "reconstruct s", "mean cosine", f"recall@{k}", "bytes", "float32 bytes")
    for row in rows:
        table.add_row(row["codec"], f"{row['n']} x {row['dim']}", f"{row['compress_seconds']:.4f}",
                      f"{row['reconstruct_seconds']:.4f}", f"{row['mean_cosine']:.5f}", f"{row[f'recall@{k}']:.3f}",
                      f"{row['compressed_bytes']:,}", f"{row['original_bytes']:,}")
    out.print(table)
