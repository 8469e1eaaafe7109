"""Learned projections (vectro[train]): `vectro train` and `vectro sweep`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

import vectro
from vectro.errors import VectroError

from ._common import JsonOpt, QuietOpt, _kv_table, _print_json, app, check_writable, err, out, progress_bar

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


def _epoch_printer(bar, label: str = "", quiet: bool = False):
    def report(epoch, epochs, record):
        if bar:
            bar(epoch, epochs)
        if quiet:
            return
        if epoch == 0:
            line = f"{label}epoch 0/{epochs} (the PCA start): validation recall {record['val_recall']:.4f}"
        else:
            line = f"{label}epoch {epoch}/{epochs}: loss {record['loss']:.4f}, validation recall {record['val_recall']:.4f}"
        err.print(line, markup=False)
    return report


def _pca_start_note(training: dict) -> str | None:
    """Say plainly when no epoch beat the PCA start, so the saved model is that start."""
    if training["best_epoch"] != 0:
        return None
    return (f"training did not beat its PCA start (validation recall {training['best_val_recall']:.4f}); "
            "the saved model is the PCA start")


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
    quiet: bool = QuietOpt, as_json: bool = JsonOpt,
):
    """Train a ranking-preserving projection (learned:D) and save it; needs vectro[train]."""
    from vectro.train import TrainConfig, train_projection

    config = TrainConfig(dim_out=dim_out, k=k, epochs=epochs, tau=tau, lambda_list=lambda_list, mse_weight=mse_weight,
                         hard_neg_l=hard_neg_l, hard_neg_per_anchor=hard_neg_per_anchor, queue_size=queue_size,
                         batch_size=batch_size, lr=lr, mlp=mlp, max_items=max_items, seed=seed, patience=patience)
    if output.suffix.lower() != ".npz":
        output = output.with_name(output.name + ".npz")
    check_writable(output)
    X = vectro.load_vectors(input, column)
    Q = vectro.load_vectors(queries, column) if queries else None
    with progress_bar("training", quiet or as_json, unit="epochs") as bar:
        model = train_projection(X, config, queries=Q, progress=_epoch_printer(bar, quiet=quiet or as_json))
    model.save(output)
    metrics = model.meta_["metrics"]
    if as_json:
        _print_json({"model": str(output), "metrics": metrics, "meta": model.meta_})
        return
    training = model.meta_["training"]
    out.print(f"trained {model.spec} on {X.shape[0]:,} x {X.shape[1]} in {training['train_seconds']:.1f} s "
              f"(best epoch {training['best_epoch']}) -> {output}")
    note = _pca_start_note(training)
    if note:
        out.print(note)
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
    if output:
        check_writable(output)
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
