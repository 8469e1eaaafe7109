"""Text to vectors: `vectro embed`, `vectro models list`, `vectro models bench`."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from vectro.errors import VectroError

from ._common import JsonOpt, _print_json, app, out, progress_bar

DEFAULT_CACHE = Path(os.environ.get("VECTRO_EMBED_CACHE", "~/.cache/vectro/embeddings.sqlite")).expanduser()
RegistryOpt = typer.Option(None, "--registry", help="A model registry (TOML) to add to the built-in one "
                                                   "(default: $VECTRO_MODELS).")
models_app = typer.Typer(no_args_is_help=True, help="Embedding models: list them, compare them.")
app.add_typer(models_app, name="models")


@app.command("embed")
def embed_command(
    input: Path = typer.Option(..., "--in", help="Texts: .txt (one per line) or .jsonl (field --field), optionally .gz."),
    output: Path = typer.Option(..., "--out", help="Float32 .npy to write, one row per text."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="A registry model (default: the registry's default, minilm)."),
    field: str = typer.Option("text", "--field", help="The JSONL field holding the text."),
    registry: Optional[Path] = RegistryOpt,
    cache: Path = typer.Option(DEFAULT_CACHE, "--cache", help="SQLite cache of embeddings ($VECTRO_EMBED_CACHE)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Embed every text, read and store nothing in the cache."),
    as_json: bool = JsonOpt,
):
    """Embed texts with a registry model into a .npy (texts seen before come from the cache)."""
    from vectro.embed import embed, load_registry
    from vectro.embed.texts import read_texts
    from vectro.format.container import atomic_file

    if output.suffix != ".npy":
        raise VectroError(f"--out must be a .npy file, got {output}")
    texts = read_texts(input, field).texts
    spec = load_registry(registry).get(model)
    started = time.perf_counter()
    with atomic_file(output) as f:  # fails here, before any embedding, if the output cannot be written
        with progress_bar(f"embedding with {spec.name}") as progress:
            X = embed(spec.name, texts, registry=registry, cache=None if no_cache else cache, progress=progress)
        np.save(f, X)
    seconds = time.perf_counter() - started
    summary = {"input": str(input), "output": str(output), "model": spec.name, "n": len(X), "dimension": spec.dimension,
               "seconds": round(seconds, 3), "cache": None if no_cache else str(cache)}
    if as_json:
        _print_json(summary)
    else:
        out.print(f"embedded {len(X):,} texts with {spec.name} ({spec.dimension}-d) -> {output} ({seconds:.2f} s)")


@models_app.command("list")
def list_models(registry: Optional[Path] = RegistryOpt, as_json: bool = JsonOpt):
    """The registry's models: provider, dimension, the model behind the name, and whether it can run here."""
    from vectro.embed import load_registry, provider_for

    reg = load_registry(registry)
    rows = []
    for spec in reg:
        missing = provider_for(spec).missing()
        rows.append({"name": spec.name, "provider": spec.provider, "dimension": spec.dimension,
                     "model": spec.describe(), "default": spec.name == reg.default, "ready": missing is None,
                     "missing": missing, "description": spec.description})
    if as_json:
        _print_json({"default": reg.default, "models": rows})
        return
    table = Table("name", "provider", "dim", "model", "ready", title="embedding models")
    for row in rows:
        name = row["name"] + (" (default)" if row["default"] else "")
        ready = "yes" if row["ready"] else f"[red]no[/]: {escape(row['missing'])}"
        table.add_row(name, row["provider"], str(row["dimension"]), escape(row["model"]), ready)
    out.print(table)


@models_app.command("bench")
def bench(
    model: Optional[List[str]] = typer.Option(None, "--model", "-m", help="Models to compare (repeatable; default: the registry's default)."),
    passages: Optional[Path] = typer.Option(None, "--passages", help="Texts (.txt/.jsonl; JSONL may give id and group). Default: the bundled sample."),
    queries: Optional[Path] = typer.Option(None, "--queries", help="Queries (.txt/.jsonl with id), with --qrels."),
    qrels: Optional[Path] = typer.Option(None, "--qrels", help="TSV: query id, passage id[, relevance]."),
    codec: Optional[List[str]] = typer.Option(None, "--codec", "-c", help="Codecs to measure retrieval after (repeatable; default int8, nf4, binary)."),
    k: int = typer.Option(10, "--k", min=1, help="Cut-off for recall and nDCG."),
    registry: Optional[Path] = RegistryOpt,
    as_json: bool = JsonOpt,
):
    """Compare models: time per text, dimension, contrast score, and recall/nDCG@k with each codec."""
    from vectro.embed.bench import DEFAULT_CODECS, benchmark_models

    with progress_bar("benchmarking models") as progress:
        report = benchmark_models(model, passages=passages, queries=queries, qrels=qrels,
                                  codecs=codec or DEFAULT_CODECS, k=k, registry=registry, progress=progress)
    if as_json:
        _print_json(report)
        return
    table = Table("model", "provider", "dim", "s/text", "contrast", f"recall@{k}", f"nDCG@{k}",
                  title=f"embedding models on {report['passages']} passages, {report['queries']} queries")
    for row in report["models"]:
        if "error" in row:
            table.add_row(row["model"], row["provider"], str(row["dimension"]), f"[red]{escape(row['error'])}[/]")
            continue
        contrast = "-" if row["contrast"] is None else f"{row['contrast']:.3f}"
        recall, ndcg = (f"{row[f'recall@{k}']:.4f}", f"{row[f'ndcg@{k}']:.4f}") if f"recall@{k}" in row else ("-", "-")
        table.add_row(row["model"], row["provider"], str(row["dimension"]), f"{row['seconds_per_text']:.4f}",
                      contrast, recall, ndcg)
    out.print(table)
    with_codecs = [row for row in report["models"] if row.get("codecs")]
    if with_codecs:
        table = Table("model", "codec", "B/vector", f"recall@{k}", f"nDCG@{k}", title="after compression")
        for row in with_codecs:
            table.add_row(row["model"], "float32", str(4 * row["dimension"]), f"{row[f'recall@{k}']:.4f}",
                          f"{row[f'ndcg@{k}']:.4f}")
            for c in row["codecs"]:
                table.add_row(row["model"], c["codec"], str(c["bytes_per_vector"]), f"{c[f'recall@{k}']:.4f}",
                              f"{c[f'ndcg@{k}']:.4f}")
        out.print(table)
