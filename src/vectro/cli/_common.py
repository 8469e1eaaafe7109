"""What every command shares: the Typer app, the consoles, common options and small printing helpers."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

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
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeRemainingColumn,
    )

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


def _is_index(path: Path) -> bool:
    from vectro.format import container

    if not path.is_file() or not container.is_container(path):
        return False
    header, _ = container.read_container(path, verify=False)
    return header.get("format") == "vectro-index"
