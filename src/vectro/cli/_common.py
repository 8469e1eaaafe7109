"""What every command shares: the Typer app, the consoles, common options and small printing helpers."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from vectro.errors import VectroError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain Click help: no `<bool>` metavars, and `vectro[train]` is printed as written
    help="Make embedding vectors small and keep them searchable.",
)
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)  # pipes get whole tables
err = Console(stderr=True, highlight=False, soft_wrap=True)  # notes stay one line each

CodecOpt = typer.Option("int8", "--codec", "-c", help="Codec spec, e.g. int8, float16, int4:64, pca:128+int8 (see `vectro codecs`).")
ColumnOpt = typer.Option(None, "--column", help="Parquet/dataset column or .npz key holding the vectors (inferred if omitted).")
MetricOpt = typer.Option("cosine", "--metric", help="Similarity: cosine, ip (inner product) or l2.")
JsonOpt = typer.Option(False, "--json", help="Print one JSON object instead of a table (no progress).")
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress display on the terminal.")
KOpt = typer.Option(10, "--k", min=1, help="Neighbours per query.")
SeedOpt = typer.Option(0, "--seed", help="Seed of the random sampling (same seed, same result).")


def _show_version(value: bool) -> None:
    if value:
        from vectro import __version__

        print(f"vectro {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                       help="Print the version and exit.")):
    """Make embedding vectors small and keep them searchable."""


def check_writable(path: Path) -> Path:
    """Fail now, before minutes of work, if `path` cannot be written (missing or read-only folder)."""
    import os

    from vectro.format.container import atomic_target

    fd, probe = atomic_target(Path(path))  # the same temp file the final atomic write makes
    os.close(fd)
    os.unlink(probe)
    return Path(path)


def check_k(k: int, n: int, what: str = "vectors") -> None:
    """Refuse a k larger than the vectors it would rank (it would only pad the answer)."""
    if k > n:
        raise VectroError(f"--k {k} is larger than the {n:,} {what}; use --k {n} or less")


@contextmanager
def progress_bar(description: str, quiet: bool = False, unit: str = "vectors"):
    """Rich progress (what, bar, count, rate, time left) on a terminal, none with quiet or off a terminal.

    Yields a progress(done, total) callback, or None when nothing is shown; the library functions
    take the same callback.
    """
    with progress_phases(quiet) as phase:
        if phase is None:
            yield None
            return
        update = phase(description, unit)
        update(0, None)  # shown from the start, pulsing until the first count
        yield update


@contextmanager
def progress_phases(quiet: bool = False):
    """One Rich display for work done in phases (fit, then encode): yields phase(description, unit),
    which returns a progress(done, total) callback whose line appears at its first call; None with
    quiet or off a terminal."""
    if quiet or not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    rate = TextColumn("{task.fields[rate]}")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), rate,
                  TimeRemainingColumn(), console=err, transient=True) as bar:
        def phase(description: str, unit: str = "vectors"):
            task = bar.add_task(description, total=None, rate="", visible=False)

            def update(done, total):
                speed = next(t.speed for t in bar.tasks if t.id == task)
                bar.update(task, completed=done, total=total, visible=True,
                           rate=f"{speed:,.1f} {unit}/s" if speed else "")
            return update
        yield phase


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
