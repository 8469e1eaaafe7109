"""What compression keeps: `vectro eval`, `vectro tune`, `vectro codecs`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.table import Table

import vectro
from vectro.errors import VectroError, advice

from . import sharded
from ._common import (
    ColumnOpt,
    JsonOpt,
    KOpt,
    MetricOpt,
    QuietOpt,
    SeedOpt,
    _is_index,
    _kv_table,
    _print_json,
    app,
    check_writable,
    err,
    out,
    progress_bar,
)


@app.command("eval")
def evaluate(
    orig: Path = typer.Option(..., "--orig", "--in", help="The original float vectors."),
    comp: Optional[Path] = typer.Option(None, "--comp", help="Their compressed file (.vectro, .npz, .vqz) or an index."),
    model: Optional[Path] = typer.Option(None, "--model", help="A learned projection (vectro train) to evaluate on --orig instead."),
    quantiser: Optional[str] = typer.Option(None, "--codec", "-c", help="With --model: a quantiser after the projection, e.g. int8."),
    max_items: Optional[int] = typer.Option(None, "--max-items", min=1, help="With --model: use this seeded subset of --orig."),
    queries: Optional[Path] = typer.Option(None, "--queries", help="Query vectors; default: 1,000 rows of --orig "
                                                                    "held out (each scored against the others)."),
    k: int = KOpt,
    metric: str = MetricOpt,
    column: Optional[str] = ColumnOpt,
    oversampling: float = typer.Option(1.0, "--oversampling", min=1.0, help="For an index: re-score k x this many."),
    quiet: bool = QuietOpt,
    workers: Optional[int] = sharded.WorkersOpt,
    scheduler: Optional[str] = sharded.SchedulerOpt,
    as_json: bool = JsonOpt,
):
    """Measure what compression lost: recall@k, nDCG@k, MRR, overlap, cosine, bytes (of a file, a sharded
    dataset, an index or a model). A sharded dataset is measured shard by shard, on a cluster with --workers/--scheduler."""
    if (comp is None) == (model is None):
        raise VectroError("give exactly one of --comp (a compressed file or index) and --model (a learned projection)")
    if comp is not None and sharded.is_manifest(comp):
        report = sharded.evaluate(comp, orig, queries, k=k, metric=metric, column=column, workers=workers,
                                  scheduler=scheduler, quiet=quiet or as_json)
        return _print_report(report, k, as_json)
    original = vectro.open_vectors(orig, column)  # read block by block: memory does not grow with n
    Q = vectro.load_vectors(queries, column) if queries else None
    if model is not None:
        from vectro.train import evaluate_model

        report = evaluate_model(model, original.read(), queries=Q, k=k, quantiser=quantiser, max_items=max_items)
        if as_json:
            _print_json(report)
        else:
            out.print(_kv_table(report))
        return
    if _is_index(comp):
        from vectro.metrics.evaluate import evaluate_index

        with progress_bar("exact search", quiet or as_json) as progress:
            report = evaluate_index(original, vectro.Index.load(comp), queries=Q, k=k, oversampling=oversampling,
                                    progress=progress)
        if as_json:
            _print_json(report)
        else:
            out.print(_kv_table(report))
        return
    with progress_bar("evaluating", quiet or as_json) as progress:
        report = vectro.evaluate(original, vectro.load(comp), queries=Q, k=k, metric=metric, progress=progress)
    _print_report(report, k, as_json)


def _print_report(report: dict, k: int, as_json: bool) -> None:
    if as_json:
        _print_json(report)
        return
    # the seed Vectro's three lines first, then the ranking metrics
    out.print(f"original bytes: {report['original_bytes']:,}"
              + (f" ({report['original_dtype']})" if report["original_dtype"] != "float32" else ""))
    out.print(f"compressed bytes: {report['compressed_bytes']:,}")
    out.print(f"mean cosine: {report['mean_cosine']:.6f}")
    shown = {key: report[key] for key in ("compression_ratio", f"recall@{k}", f"ndcg@{k}", f"mrr@{k}",
                                          f"overlap@{k}", "min_cosine", "p5_cosine", "bytes_per_vector")}
    out.print(_kv_table(shown))
    out.print(f"worst reconstructed rows: {report['worst']}")


@app.command()
def tune(
    input: Path = typer.Option(..., "--in", help="Embeddings to tune on (a seeded sample is used)."),
    queries: Optional[Path] = typer.Option(None, "--queries", help="Held-out queries; default: rows of --in kept out of the sample."),
    target: Optional[str] = typer.Option(None, "--target", help="Quality to reach: recall@10=0.95, ndcg@10=0.9 or mean_cosine=0.97."),
    max_bytes: Optional[float] = typer.Option(None, "--max-bytes", min=1, help="Byte budget per vector: pick the best codec within it."),
    shortlist: Optional[int] = typer.Option(None, "--shortlist", min=1, help="Measure after re-scoring this many top candidates with the float vectors."),
    codec: Optional[List[str]] = typer.Option(None, "--codec", "-c", help="Candidate codecs (repeatable; default: a family spanning 2x-100x)."),
    sample: int = typer.Option(20000, "--sample", min=10, help="Vectors in the evaluation corpus."),
    n_queries: int = typer.Option(500, "--n-queries", min=1, help="Queries held out of --in when --queries is not given."),
    k: int = typer.Option(10, "--k", min=1, help="Neighbours per query (a target's @k wins)."),
    metric: str = MetricOpt,
    column: Optional[str] = ColumnOpt,
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the bytes-vs-quality plot (PNG) here."),
    seed: int = SeedOpt,
    quiet: bool = QuietOpt,
    workers: Optional[int] = sharded.WorkersOpt,
    scheduler: Optional[str] = sharded.SchedulerOpt,
    as_json: bool = JsonOpt,
):
    """Try candidate codecs on your data; print the Pareto table and the smallest codec meeting the target.
    A folder of shards, a glob or a manifest is sampled shard by shard (by Dask workers with --workers/--scheduler)."""
    from vectro.metrics.tune import tune as run_tune

    if target is None and max_bytes is None:
        raise VectroError("give --target (e.g. recall@10=0.95) or --max-bytes")
    if plot:  # before minutes of tuning, not after
        from vectro.errors import require

        require("matplotlib", "plot")
        check_writable(plot)
    held_out = lambda n: sample + (0 if queries else min(n_queries, n // 5))  # noqa: E731
    with sharded.runner(workers, scheduler) as where:  # with a cluster, the workers read and measure
        if sharded.is_sharded(input) or sharded.wants_cluster(workers, scheduler):
            X, n_total = sharded.tune_sample(input, column, held_out, seed, where)
        else:
            source = vectro.open_vectors(input, column)
            X, n_total = source.sample(held_out(source.n), seed), source.n
        Q = vectro.load_vectors(queries, column) if queries else None
        # what a candidate's fit warns of (pq's k-means on a small sample) becomes a note under the table
        with progress_bar("tuning", quiet or as_json, unit="codecs") as progress, advice() as notes:
            result = run_tune(X, Q, target=target, max_bytes=max_bytes, shortlist=shortlist, codecs=codec, k=k,
                              metric=metric, sample=sample, n_queries=n_queries, n_total=n_total, seed=seed,
                              progress=progress, runner=where)
    result.notes.extend(notes)
    if plot:
        result.plot(plot)
    if as_json:
        _print_json(result.to_dict())
        return
    key, kk = result.quality_key, result.k
    table = Table("codec", "B/vector", "+ state", f"recall@{kk}", f"nDCG@{kk}",
                  *([f"recall@{kk} top {shortlist} re-scored"] if shortlist else []), "mean cos", "encode vec/s", "frontier",
                  title=f"vectro tune: {result.corpus:,} vectors, {result.queries:,} held-out queries"
                        f" (sizes with codec state spread over n={result.n_total:,})")
    for row in result.rows:
        mark = "[bold red]<- chosen[/]" if row["codec"] == result.chosen else ("*" if row["pareto"] else "")
        table.add_row(row["codec"], str(row["bytes_per_vector"]), f"{row['total_bytes_per_vector']:.1f}",
                      f"{row[f'recall@{kk}']:.4f}", f"{row[f'ndcg@{kk}']:.4f}",
                      *([f"{row[f'recall@{kk}_rescored']:.4f}"] if shortlist else []), f"{row['mean_cosine']:.4f}",
                      f"{row['encode_vectors_per_s']:,.0f}", mark)
    out.print(table)
    for note in result.notes:
        err.print(f"note: {escape(note)}")
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
    from vectro.codecs.profiles import PROFILES, measured

    profiles = Table("profile", "codec", "measured on the public set (d=384)", "rule")
    for name, profile in PROFILES.items():
        profiles.add_row(name, profile.codec, measured(name), profile.rule)
    out.print(profiles)
