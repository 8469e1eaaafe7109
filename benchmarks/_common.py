"""Shared helpers for the benchmark scripts: arguments, the public data, threads, timing, and
writing the generated sections of docs/benchmarks.md and README.md."""

from __future__ import annotations

import argparse
import atexit
import functools
import os
import re
from pathlib import Path

import numpy as np

from vectro.speed import pinned_threads, timed  # noqa: F401  (timed: warm-up, then best of repeats)

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = Path(os.environ.get("VECTRO_PUBLIC_DATA", ROOT.parent / "shared" / "data" / "public-all-MiniLM-L6-v2"))
DOC = ROOT / "docs" / "benchmarks.md"
README = ROOT / "README.md"


def arguments(doc: str) -> argparse.ArgumentParser:
    """The options every benchmark script shares: --write-docs, --data DIR, --threads N."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0], epilog="\n".join(doc.splitlines()[1:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write-docs", action="store_true",
                        help="rewrite this script's generated sections of docs/benchmarks.md and README.md")
    parser.add_argument("--data", type=Path, default=None,
                        help="the public-all-MiniLM-L6-v2 folder (default: $VECTRO_PUBLIC_DATA or ../shared/data/...)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for every library (default: every core this process may use)")
    return parser


def use_data(folder: Path | None) -> None:
    global PUBLIC
    if folder is not None:
        PUBLIC = Path(folder)


def data_flag(args) -> str:
    """` --data DIR` when the run used another data folder, for the recorded command."""
    return f" --data {args.data}" if args.data else ""


def public_data():
    """(base (50000, 384), queries (1000, 384), exact top-100 ids) or None when the folder is absent."""
    if not (PUBLIC / "base.npy").exists():
        return None
    return np.load(PUBLIC / "base.npy"), np.load(PUBLIC / "queries.npy"), np.load(PUBLIC / "gt_top100.npy")


def public_data_or_exit(k: int = 10):
    """(base, queries, exact top-k ids as int64) or exit with how to point at the data."""
    data = public_data()
    if data is None:
        raise SystemExit(f"public data not found at {PUBLIC}: pass --data DIR or set VECTRO_PUBLIC_DATA")
    base, queries, gt = data
    return base, queries, gt[:, :k].astype(np.int64)


# ----- threads and timing: the speed report's helpers (vectro/speed.py), shared ----------------
_PINNED = []  # the process-wide pinning, kept open until exit


def pin_threads(threads: int | None) -> int:
    """Give vectro's numba kernels, BLAS/OpenMP (threadpoolctl) and FAISS the same thread count for
    the rest of the process; returns it (for the record in each section)."""
    pinning = pinned_threads(threads)
    _PINNED.append(pinning)
    atexit.register(pinning.__exit__, None, None, None)  # restore before the interpreter tears down
    return pinning.__enter__()


def one_thread():
    """Single-query comparisons: every library on one thread for the duration."""
    return pinned_threads(1)


# ----- generated sections -----------------------------------------------------------------------
def write_section(name: str, markdown: str, path: Path = DOC) -> None:
    """Replace the block between <!-- BEGIN: name --> and <!-- END: name --> in `path` (docs/benchmarks.md
    by default; appended there when missing; README.md must hold the markers already)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start, end = f"<!-- BEGIN: {name} -->", f"<!-- END: {name} -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    elif path == DOC:
        text = text.rstrip() + "\n\n" + block + "\n"
    else:
        raise SystemExit(f"{path} has no {start} marker for the generated section {name!r}")
    path.write_text(text)


def readme_source(command: str, passages: int, queries: int) -> str:
    """The line above a generated README block: the run it came from and the public set's part it used."""
    return (command.replace("Command:", "Measured with").rstrip(".")
            + f"; {passages:,} passages, {queries:,} held-out queries.")


def machine_line(threads: int | None = None) -> str:
    """Where and at which commit a section was measured, for the line under its command."""
    import platform

    import vectro

    info = vectro.get_backend_info()
    pinned = f"; every library pinned to {threads} thread{'s' * (threads != 1)}" if threads else ""
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {info['python']}, "
            f"numpy {info['numpy']}, vectro {info['vectro']} ({info['backend']} backend{pinned}), {commit()}")


@functools.cache
def commit() -> str:
    """The git commit measured ("commit abc1234", "+ uncommitted changes" when the tree differs), read
    once, when this module loads: a run measures the code it started with, whatever the tree holds
    when it writes (an edit during a 40-minute run once labelled a clean run "+ uncommitted changes")."""
    import subprocess

    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "not a git checkout"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "src", "benchmarks")
    return f"commit {head}" + (" + uncommitted changes" if dirty else "")


commit()  # read now, at the start of the run


def status(met: bool) -> str:
    return "met" if met else "**not met**"
