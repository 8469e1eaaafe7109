"""`vectro demo` and `vectro bench`."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

import vectro
from vectro.errors import VectroError

from ._common import JsonOpt, KOpt, QuietOpt, SeedOpt, _print_json, app, err, out, progress_bar


@app.command()
def demo(
    codec: Optional[List[str]] = typer.Option(None, "--codec", "-c", help="Codecs to show (default: all)."),
    learned: bool = typer.Option(False, "--learned", help="Instead: train a small learned projection on the sample "
                                                          "and compare it with PCA (needs vectro[train])."),
    quiet: bool = QuietOpt,
    as_json: bool = JsonOpt,
):
    """Compress the bundled real sample with every codec and print what each one keeps."""
    from vectro.demo import DEMO_CODECS, iter_demo, run_demo

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

    codecs = codec or DEMO_CODECS
    if as_json:
        _print_json({"rows": run_demo(codecs)})
        return
    # each row is printed as soon as it is measured (the whole demo takes most of a minute)
    out.print("vectro demo: 5,000 real all-MiniLM-L6-v2 passages (d=384), 200 held-out queries")
    out.print(DEMO_HEADER, markup=False)
    notes = []
    with progress_bar("measuring", quiet, unit="codecs") as progress:
        for done, row in enumerate(iter_demo(codecs), 1):
            out.print(demo_line(row), markup=False)
            notes += row["warnings"]
            if progress:
                progress(done, len(codecs))
    out.print("ratio = float32 bytes / stored bytes (codes, scales, rotations, codebooks).", markup=False)
    out.print("fit s = seconds to learn the codec; encode vec/s = its rate once fitted.", markup=False)
    for note in dict.fromkeys(notes):
        err.print(textwrap.fill(note, 80, initial_indent="note: ", subsequent_indent="  "), markup=False)
    out.print("Next: vectro compress --in X.npy --out X.vectro --codec int8", markup=False)


DEMO_HEADER = (f"{'codec':<14} {'B/vec':>5} {'ratio':>6} {'recall@10':>9} {'nDCG@10':>7} {'cosine':>7} {'fit s':>6} "
               f"{'encode vec/s':>12}")


def demo_line(row: dict) -> str:
    """One demo row in the columns of DEMO_HEADER (73 characters, so the table fits 80 columns)."""
    return (f"{row['codec']:<14} {row['bytes_per_vector']:>5} {row['compression_ratio']:>5.1f}x "
            f"{row['recall@10']:>9.3f} {row['ndcg@10']:>7.3f} {row['mean_cosine']:>7.4f} {row['fit_seconds']:>6.2f} "
            f"{row['encode_vectors_per_s']:>12,.0f}")


@app.command()
def bench(
    suite: Optional[str] = typer.Argument(None, help="Omit for the seed harness; `speed` for the kernel speed benchmark; "
                                                "`learned` to compare a --model with PCA."),
    model: Optional[Path] = typer.Option(None, "--model", help="With `learned`: the model file (vectro train)."),
    max_items: Optional[int] = typer.Option(None, "--max-items", min=1, help="With `learned`: a seeded subset of --in."),
    n: int = typer.Option(2000, "--n", min=1, help="Synthetic vectors (ignored with --in)."),
    d: int = typer.Option(128, "--d", min=1, help="Synthetic dimension."),
    queries: int = typer.Option(100, "--queries", min=1, help="Queries (held-out rows)."),
    k: int = KOpt,
    codec: Optional[List[str]] = typer.Option(None, "--codec", "-c", help="Codecs (repeatable; default int8)."),
    input: Optional[Path] = typer.Option(None, "--in", help="Benchmark on this embeddings file instead."),
    seed: int = SeedOpt,
    quiet: bool = QuietOpt,
    as_json: bool = JsonOpt,
):
    """The seed's benchmark harness (compress/reconstruct time, cosine, recall@k, bytes), or `bench speed`."""
    if suite == "speed":
        from vectro.speed import markdown, run

        report = run(n=n, dim=d, scan_n=n, queries=queries)
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
    with progress_bar("benchmarking", quiet or as_json, unit="codecs") as progress:
        rows = run_bench(codec or ["int8"], n=n, d=d, n_queries=queries, k=k, data=data, seed=seed, progress=progress)
    if as_json:
        _print_json({"rows": rows})
        return
    table = Table("codec", "n x d", "warm-up s", "compress s", "reconstruct s", "mean cosine", f"recall@{k}", "bytes",
                  "float32 bytes")
    for row in rows:
        table.add_row(row["codec"], f"{row['n']} x {row['dim']}", f"{row['warmup_seconds']:.3f}", f"{row['compress_seconds']:.4f}",
                      f"{row['reconstruct_seconds']:.4f}", f"{row['mean_cosine']:.5f}", f"{row[f'recall@{k}']:.3f}",
                      f"{row['compressed_bytes']:,}", f"{row['original_bytes']:,}")
    out.print(table)
