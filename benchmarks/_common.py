"""Shared helpers for the benchmark scripts: the public data, timing, and writing docs/benchmarks.md."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from vectro.speed import best as best_of  # noqa: F401  (fastest of repeated runs, shared with vectro bench speed)

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = Path(os.environ.get("VECTRO_PUBLIC_DATA", ROOT.parent / "shared" / "data" / "public-all-MiniLM-L6-v2"))
DOC = ROOT / "docs" / "benchmarks.md"


def public_data():
    """(base (50000, 384), queries (1000, 384), exact top-100 ids) or None when the folder is absent."""
    if not (PUBLIC / "base.npy").exists():
        return None
    return np.load(PUBLIC / "base.npy"), np.load(PUBLIC / "queries.npy"), np.load(PUBLIC / "gt_top100.npy")


def public_data_or_exit(k: int = 10):
    """(base, queries, exact top-k ids as int64) or exit with how to point at the data."""
    data = public_data()
    if data is None:
        raise SystemExit("public data not found: set VECTRO_PUBLIC_DATA to the public-all-MiniLM-L6-v2 folder")
    base, queries, gt = data
    return base, queries, gt[:, :k].astype(np.int64)


def write_section(name: str, markdown: str) -> None:
    """Replace the block between <!-- name:start --> and <!-- name:end --> in docs/benchmarks.md."""
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)


def machine_line() -> str:
    import platform

    import vectro

    info = vectro.get_backend_info()
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {info['python']}, "
            f"numpy {info['numpy']}, vectro {info['vectro']} ({info['backend']} backend, {info['threads']} threads)")
