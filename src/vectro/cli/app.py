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
from rich.markup import escape
from rich.table import Table

import vectro
from vectro.errors import VectroError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Make embedding vectors small and keep them searchable.",
)
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)  # pipes get whole tables
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
    profile: Optional[str] = typer.Option(None, "--profile", help="A named preset instead of --codec: quality, balanced, fast or compact (see `vectro codecs`)."),
    column: Optional[str] = ColumnOpt,
    metric: str = MetricOpt,
    block_rows: int = typer.Option(65536, "--block-rows", min=1, help="Rows encoded at a time (bounds memory)."),
    as_json: bool = JsonOpt,
):
    """Compress an embeddings file, streaming block by block."""
    if profile is not None:
        from vectro.codecs.profiles import profile_codec

        codec = profile_codec(profile)
    started = time.perf_counter()
    with progress_bar("compressing") as progress:
        packed = vectro.compress_file(input, output, codec, column=column, metric=metric,
                                      block_rows=block_rows, progress=progress)
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


@app.command("eval")
def evaluate(
    orig: Path = typer.Option(..., "--orig", "--in", help="The original float vectors."),
    comp: Optional[Path] = typer.Option(None, "--comp", help="Their compressed file (.vectro, .npz, .vqz) or an index."),
    model: Optional[Path] = typer.Option(None, "--model", help="A learned projection (vectro train) to evaluate on --orig instead."),
    quantiser: Optional[str] = typer.Option(None, "--codec", "-c", help="With --model: a quantiser after the projection, e.g. int8."),
    max_items: Optional[int] = typer.Option(None, "--max-items", min=1, help="With --model: use this seeded subset of --orig."),
    queries: Optional[Path] = typer.Option(None, "--queries", help="Query vectors; default: 1,000 sampled rows of --orig."),
    k: int = typer.Option(10, "--k", min=1, help="Neighbours per query."),
    metric: str = MetricOpt,
    column: Optional[str] = ColumnOpt,
    oversampling: float = typer.Option(1.0, "--oversampling", min=1.0, help="For an index: re-score k x this many."),
    as_json: bool = JsonOpt,
):
    """Measure what compression lost: recall@k, nDCG@k, MRR, overlap, cosine, bytes (of a file, an index or a model)."""
    if (comp is None) == (model is None):
        raise VectroError("give exactly one of --comp (a compressed file or index) and --model (a learned projection)")
    original = vectro.load_vectors(orig, column)
    Q = vectro.load_vectors(queries, column) if queries else None
    if model is not None:
        from vectro.train import evaluate_model

        report = evaluate_model(model, original, queries=Q, k=k, quantiser=quantiser, max_items=max_items)
        if as_json:
            _print_json(report)
        else:
            out.print(_kv_table(report))
        return
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


# ----- learned projections (vectro[train]) -------------------------------------------------------
DimOutOpt = typer.Option(64, "--dim-out", min=1, help="Output dimensions of the projection.")
TrainKOpt = typer.Option(50, "--k", min=1, help="Teacher top-k per anchor (candidates), and the @k of the metrics.")
EpochsOpt = typer.Option(20, "--epochs", min=1, help="Training epochs (early stopping may end sooner).")
TauOpt = typer.Option(0.05, "--tau", min=1e-6, help="Softmax temperature of the listwise distillation.")
LambdaOpt = typer.Option(1.0, "--lambda-list", min=0.0, help="Weight of the listwise KL loss.")
MseOpt = typer.Option(0.0, "--mse-weight", min=0.0, help="Weight of an extra pairwise MSE on similarities.")
HardLOpt = typer.Option(200, "--hard-neg-l", min=1, help="Hard negatives come from teacher ranks k+1..L.")
HardPerOpt = typer.Option(1, "--hard-neg-per-anchor", min=0, help="Hard negatives per anchor and step.")
QueueOpt = typer.Option(0, "--queue-size", "--listwise-queue-size", min=0, help="Recent anchors kept as extra candidates.")
BatchOpt = typer.Option(256, "--batch-size", min=2, help="Anchors per step.")
LrOpt = typer.Option(2e-3, "--lr", min=1e-7, help="Adam learning rate (cosine decay).")
MlpOpt = typer.Option(False, "--mlp", help="Add a small residual MLP after the linear map.")
MaxItemsOpt = typer.Option(None, "--max-items", min=1, help="Train on this seeded subset of the rows.")
SeedOpt = typer.Option(42, "--seed", help="Seeds the 80/10/10 split and the training.")
PatienceOpt = typer.Option(3, "--patience", min=0, help="Stop after this many epochs without better validation recall (0: never).")


TrainColumnOpt = typer.Option(None, "--column", "--hf-embedding-column",
                              help="Parquet/dataset column or .npz key holding the vectors (inferred if omitted).")


def _epoch_printer(bar, label: str = ""):
    def report(epoch, epochs, record):
        loss = f"{record['loss']:.4f}" if record["loss"] is not None else "-"
        line = f"{label}epoch {epoch}/{epochs}: loss {loss}, validation recall {record['val_recall']:.4f}"
        if bar:
            bar(epoch, epochs)
        err.print(line)
    return report


@app.command()
def train(
    input: Path = typer.Option(..., "--in", "--input", help="Embeddings: .npy, .npz, .parquet or a dataset folder."),
    output: Path = typer.Option(..., "--out", help="Model file to write (.npz)."),
    column: Optional[str] = TrainColumnOpt,
    queries: Optional[Path] = typer.Option(None, "--queries", help="Held-out queries for the final metrics (default: the test split)."),
    dim_out: int = DimOutOpt, k: int = TrainKOpt, epochs: int = EpochsOpt, tau: float = TauOpt,
    lambda_list: float = LambdaOpt, mse_weight: float = MseOpt, hard_neg_l: int = HardLOpt,
    hard_neg_per_anchor: int = HardPerOpt, queue_size: int = QueueOpt, batch_size: int = BatchOpt, lr: float = LrOpt,
    mlp: bool = MlpOpt, max_items: Optional[int] = MaxItemsOpt, seed: int = SeedOpt, patience: int = PatienceOpt,
    as_json: bool = JsonOpt,
):
    """Train a ranking-preserving projection (learned:D) and save it; needs vectro[train]."""
    from vectro.train import TrainConfig, train_projection

    config = TrainConfig(dim_out=dim_out, k=k, epochs=epochs, tau=tau, lambda_list=lambda_list, mse_weight=mse_weight,
                         hard_neg_l=hard_neg_l, hard_neg_per_anchor=hard_neg_per_anchor, queue_size=queue_size,
                         batch_size=batch_size, lr=lr, mlp=mlp, max_items=max_items, seed=seed, patience=patience)
    X = vectro.load_vectors(input, column)
    Q = vectro.load_vectors(queries, column) if queries else None
    if output.suffix.lower() != ".npz":
        output = output.with_name(output.name + ".npz")
    with progress_bar("training") as bar:
        model = train_projection(X, config, queries=Q, progress=_epoch_printer(bar))
    model.save(output)
    metrics = model.meta_["metrics"]
    if as_json:
        _print_json({"model": str(output), "metrics": metrics, "meta": model.meta_})
        return
    training = model.meta_["training"]
    out.print(f"trained {model.spec} on {X.shape[0]:,} x {X.shape[1]} in {training['train_seconds']:.1f} s "
              f"(best epoch {training['best_epoch']}) -> {output}")
    out.print(_kv_table(metrics, title=f"metrics ({metrics['queries_from']})"))


@app.command()
def sweep(
    input: Path = typer.Option(..., "--in", "--input", help="Embeddings: .npy, .npz, .parquet or a dataset folder."),
    dim_outs: str = typer.Option("64,32,16", "--dim-outs", help="Comma-separated output dimensions."),
    output: Optional[Path] = typer.Option(None, "--out", help="Write the records here (default: standard output)."),
    output_format: str = typer.Option("jsonl", "--output-format", help="jsonl (one record per dimension) or json."),
    model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Also save each model here."),
    column: Optional[str] = TrainColumnOpt,
    queries: Optional[Path] = typer.Option(None, "--queries", help="Held-out queries for the metrics (default: the test split)."),
    k: int = TrainKOpt, epochs: int = EpochsOpt, tau: float = TauOpt, lambda_list: float = LambdaOpt,
    mse_weight: float = MseOpt, hard_neg_l: int = HardLOpt, hard_neg_per_anchor: int = HardPerOpt,
    queue_size: int = QueueOpt, batch_size: int = BatchOpt, lr: float = LrOpt, mlp: bool = MlpOpt,
    max_items: Optional[int] = MaxItemsOpt, seed: int = SeedOpt, patience: int = PatienceOpt,
):
    """Train and evaluate one projection per output dimension; records carry metrics and meta."""
    from vectro.train import TrainConfig
    from vectro.train import sweep as run_sweep

    if output_format not in ("jsonl", "json"):
        raise VectroError(f"--output-format must be jsonl or json, got {output_format!r}")
    try:
        dims = [int(part) for part in dim_outs.split(",") if part.strip()]
    except ValueError:
        raise VectroError(f"--dim-outs must be comma-separated integers, e.g. 64,32,16; got {dim_outs!r}") from None
    if not dims:
        raise VectroError("--dim-outs names no dimension")
    config = TrainConfig(k=k, epochs=epochs, tau=tau, lambda_list=lambda_list, mse_weight=mse_weight,
                         hard_neg_l=hard_neg_l, hard_neg_per_anchor=hard_neg_per_anchor, queue_size=queue_size,
                         batch_size=batch_size, lr=lr, mlp=mlp, max_items=max_items, seed=seed, patience=patience)
    X = vectro.load_vectors(input, column)
    Q = vectro.load_vectors(queries, column) if queries else None
    records = run_sweep(X, dims, config, queries=Q, model_dir=model_dir,
                        progress=lambda dim, epoch, epochs, record: _epoch_printer(None, f"dim_out {dim}: ")(
                            epoch, epochs, record))
    text = ("\n".join(json.dumps(r) for r in records) + "\n") if output_format == "jsonl" else json.dumps(records, indent=1) + "\n"
    if output:
        from vectro.format.container import atomic_file

        with atomic_file(output) as f:
            f.write(text.encode())
        out.print(f"wrote {len(records)} records to {output}")
    else:
        sys.stdout.write(text)


@app.command()
def tune(
    input: Path = typer.Option(..., "--in", help="Embeddings to tune on (a seeded sample is used)."),
    queries: Optional[Path] = typer.Option(None, "--queries", help="Held-out queries; default: rows of --in kept out of the sample."),
    target: Optional[str] = typer.Option(None, "--target", help="Quality to reach: recall@10=0.95, ndcg@10=0.9 or mean_cosine=0.97."),
    max_bytes: Optional[float] = typer.Option(None, "--max-bytes", min=1, help="Byte budget per vector: pick the best codec within it."),
    rerank: Optional[int] = typer.Option(None, "--rerank", min=1, help="Measure after re-scoring this many candidates with the float vectors."),
    codec: Optional[List[str]] = typer.Option(None, "--codec", "-c", help="Candidate codecs (repeatable; default: a family spanning 2x-100x)."),
    sample: int = typer.Option(20000, "--sample", min=10, help="Vectors in the evaluation corpus."),
    n_queries: int = typer.Option(500, "--n-queries", min=1, help="Queries held out of --in when --queries is not given."),
    k: int = typer.Option(10, "--k", min=1, help="Neighbours per query (a target's @k wins)."),
    metric: str = MetricOpt,
    column: Optional[str] = ColumnOpt,
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the bytes-vs-quality plot (PNG) here."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = JsonOpt,
):
    """Try candidate codecs on your data; print the Pareto table and the smallest codec meeting the target."""
    from vectro.metrics.tune import tune as run_tune

    if target is None and max_bytes is None:
        raise VectroError("give --target (e.g. recall@10=0.95) or --max-bytes")
    source = vectro.open_vectors(input, column)
    held = 0 if queries else min(n_queries, source.n // 5)
    X = source.sample(sample + held, seed)
    Q = vectro.load_vectors(queries, column) if queries else None
    with progress_bar("tuning") as progress:
        result = run_tune(X, Q, target=target, max_bytes=max_bytes, rerank=rerank, codecs=codec, k=k, metric=metric,
                          sample=sample, n_queries=n_queries, n_total=source.n, seed=seed,
                          progress=(lambda done, total, spec: progress(done, total)) if progress else None)
    if plot:
        result.plot(plot)
    if as_json:
        _print_json(result.to_dict())
        return
    key, kk = result.quality_key, result.k
    table = Table("codec", "B/vector", "+ state", f"recall@{kk}", f"nDCG@{kk}",
                  *( [f"recall@{kk} rerank {rerank}"] if rerank else []), "mean cos", "encode vec/s", "frontier",
                  title=f"vectro tune: {result.corpus:,} vectors, {result.queries:,} held-out queries"
                        f" (sizes with codec state spread over n={result.n_total:,})")
    for row in result.rows:
        mark = "[bold red]<- chosen[/]" if row["codec"] == result.chosen else ("*" if row["pareto"] else "")
        table.add_row(row["codec"], str(row["bytes_per_vector"]), f"{row['total_bytes_per_vector']:.1f}",
                      f"{row[f'recall@{kk}']:.4f}", f"{row[f'ndcg@{kk}']:.4f}",
                      *([f"{row[f'recall@{kk}_rerank']:.4f}"] if rerank else []), f"{row['mean_cosine']:.4f}",
                      f"{row['encode_vectors_per_s']:,.0f}", mark)
    out.print(table)
    for note in result.notes:
        err.print(f"note: {note}")
    goal = target or f"best {key} within {max_bytes:g} bytes"
    if result.chosen:
        out.print(f"chosen for {goal}: [bold]{result.chosen}[/] -> vectro compress --codec '{result.chosen}'")
    else:
        out.print(f"no candidate meets {goal}")
    if plot:
        out.print(f"plot: {plot}")


@app.command()
def codecs(dim: int = typer.Option(384, "--dim", min=1, help="Dimension for the bytes/vector column.")):
    """List the codecs, with bytes per vector at --dim."""
    table = Table("spec", f"bytes/vector (d={dim})", "ratio", "what")
    for name, cls in vectro.registered_codecs().items():
        spec = cls.example or name
        size = vectro.make_codec(spec).bytes_per_vector(dim)
        table.add_row(spec, str(size), f"{4 * dim / size:.1f}x", escape(cls.summary))
    out.print(table)
    from vectro.codecs.profiles import PROFILES

    profiles = Table("profile", "codec", "measured on the public set (d=384)", "rule")
    for name, profile in PROFILES.items():
        profiles.add_row(name, profile.codec, profile.measured, profile.rule)
    out.print(profiles)


@app.command()
def demo(
    codec: Optional[List[str]] = typer.Option(None, "--codec", "-c", help="Codecs to show (default: all)."),
    learned: bool = typer.Option(False, "--learned", help="Instead: train a small learned projection on the sample "
                                                          "and compare it with PCA (needs vectro[train])."),
    as_json: bool = JsonOpt,
):
    """Compress the bundled real sample with every codec and print what each one keeps."""
    from vectro.demo import DEMO_CODECS, run_demo

    if learned:
        from vectro.demo import run_learned_demo

        rows = run_learned_demo()
        if as_json:
            _print_json({"rows": rows})
            return
        table = Table("projection", "bytes/vector", "recall@10", "nDCG@10",
                      title="learned vs PCA: 4,000 sample rows trained, 200 held-out queries over all 5,000")
        for row in rows:
            table.add_row(row["codec"], str(row["bytes_per_vector"]), f"{row['recall@10']:.3f}", f"{row['ndcg@10']:.3f}")
        out.print(table)
        return

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
    suite: Optional[str] = typer.Argument(None, help="Omit for the seed harness; `speed` for the kernel speed benchmark; "
                                                "`learned` to compare a --model with PCA."),
    model: Optional[Path] = typer.Option(None, "--model", help="With `learned`: the model file (vectro train)."),
    max_items: Optional[int] = typer.Option(None, "--max-items", min=1, help="With `learned`: a seeded subset of --in."),
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
    if suite == "learned":
        from vectro.train import benchmark_model

        if model is None or input is None:
            raise VectroError("`vectro bench learned` needs --model and --in")
        report = benchmark_model(model, vectro.load_vectors(input), k=k, max_items=max_items)
        if as_json:
            _print_json(report)
            return
        table = Table("projection", f"recall@{k}", f"nDCG@{k}", f"overlap@{k}", "vectors/s (numpy)")
        for name, rate in (("learned", report["learned_vectors_per_s"]), ("pca", report["pca_vectors_per_s"])):
            q = report[name]
            table.add_row(f"{name} ({report['model'].split(':')[1]} dims)", f"{q[f'recall@{k}']:.4f}",
                          f"{q[f'ndcg@{k}']:.4f}", f"{q[f'overlap@{k}']:.4f}", f"{rate:,.0f}")
        out.print(table)
        return
    if suite is not None:
        raise VectroError(f"unknown benchmark {suite!r}; use `vectro bench`, `vectro bench speed` or `vectro bench learned`")
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
