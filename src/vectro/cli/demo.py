"""`vectro demo` and `vectro bench`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

import vectro
from vectro.errors import VectroError

from ._common import JsonOpt, _print_json, app, out


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
