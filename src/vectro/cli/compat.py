"""Vectro's later releases' command names, as thin aliases: `inspect`, `validate`, `upgrade`, `benchmark`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

import vectro

from ._common import JsonOpt, _print_json, app, check_writable, out
from .demo import bench
from .files import info

app.command("inspect", help="Alias of `vectro info` (the name Vectro's later releases used).")(info)
app.command("benchmark", help="Alias of `vectro bench` (the name Vectro's later releases used).")(bench)


@app.command()
def validate(
    path: Path = typer.Argument(..., help="A .vectro, Vectro .npz (seed or v2) or .vqz file."),
    as_json: bool = JsonOpt,
):
    """Check a compressed file: structure, sizes and checksums (exit 2 with the problem if invalid)."""
    packed = vectro.load(path, verify=True)
    report = {"path": str(path), "valid": True, "errors": [], "format": packed.metadata.get("format"),
              "codec": packed.codec.spec, "n": len(packed), "dim": packed.dim}
    if as_json:
        _print_json(report)
    else:
        out.print(f"valid: {path} ({report['format']}, {packed.codec.spec}, {len(packed):,} x {packed.dim}"
                  f"{', checksums verified' if report['format'] == 'vectro' else ''})", markup=False)


@app.command()
def upgrade(
    source: Path = typer.Argument(..., help="A Vectro .npz (seed or v2) or .vqz file."),
    target: Optional[Path] = typer.Argument(None, help="The .vectro to write (default: SOURCE with .vectro)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be written, write nothing."),
    as_json: bool = JsonOpt,
):
    """Convert a Vectro .npz or .vqz file to .vectro (same int8 codes, checksummed and memory-mappable)."""
    target = target or source.with_suffix(".vectro")
    if target.suffix.lower() != ".vectro":
        raise vectro.VectroError(f"upgrade writes .vectro files; got {target}")
    packed = vectro.load(source)
    if not dry_run:
        check_writable(target)
        packed.save(target)
    report = {"source": str(source), "target": str(target), "format": packed.metadata.get("format"),
              "codec": packed.codec.spec, "n": len(packed), "dim": packed.dim, "written": not dry_run}
    if as_json:
        _print_json(report)
    else:
        verb = "would write" if dry_run else "wrote"
        out.print(f"{verb} {target} from {source} ({report['format']}, {packed.codec.spec}, "
                  f"{len(packed):,} x {packed.dim})", markup=False)
