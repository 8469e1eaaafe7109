"""Vector databases: export a .vectro/.vxi into one, import a collection back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from vectro.errors import VectroError

from ._common import JsonOpt, _is_index, _print_json, app, out, progress_bar

ToOpt = typer.Option(..., "--to", help="Database URL: qdrant://HOST:PORT, qdrant-edge://DIR, qdrant-local://DIR, "
                     "postgresql://..., milvus://FILE.db, lancedb://DIR, chroma://DIR, chroma+http://HOST:PORT, "
                     "weaviate://HOST:PORT, pinecone://HOST.")
CollectionOpt = typer.Option(..., "--collection", help="Collection (table, index) name in the database.")
BatchOpt = typer.Option(1000, "--batch-size", min=1, help="Records written or read per batch (one commit each).")


@app.command("export")
def export_cmd(
    input: Path = typer.Option(..., "--in", help="A .vectro file (row numbers become ids) or a .vxi index (ids and payloads)."),
    to: str = ToOpt,
    collection: str = CollectionOpt,
    batch_size: int = BatchOpt,
    if_exists: str = typer.Option("resume", "--if-exists", help="resume (continue an interrupted export), replace or fail."),
    as_json: bool = JsonOpt,
):
    """Export compressed vectors into a vector database, quantised the database's way; resumable."""
    import vectro
    from vectro.integrations.databases import module_for

    module = module_for(to)
    data = vectro.Index.load(input) if _is_index(input) else vectro.load(input)
    started = time.perf_counter()
    with progress_bar(f"exporting to {collection}") as progress:
        summary = module.export(data, to, collection, batch_size=batch_size, if_exists=if_exists, progress=progress)
    summary = {"input": str(input), "to": to, **summary, "seconds": round(time.perf_counter() - started, 3)}
    if as_json:
        _print_json(summary)
    else:
        resumed = f" (resumed at {summary['resumed_at']})" if summary["resumed_at"] else ""
        out.print(f"exported {summary['written']} of {summary['n']} vectors to {to} collection {collection}{resumed}")


@app.command("import")
def import_cmd(
    source: str = typer.Option(..., "--from", help="Database URL, as for `vectro export --to`."),
    collection: str = CollectionOpt,
    output: Path = typer.Option(..., "--out", help="A .vxi index (ids and payloads kept) or a .vectro file (rows ordered by id)."),
    codec: Optional[str] = typer.Option(None, "--codec", "-c", help="Codec for the imported vectors (default: the one matching the collection's quantisation)."),
    batch_size: int = BatchOpt,
    as_json: bool = JsonOpt,
):
    """Import a collection from a vector database into a .vxi index or a .vectro file."""
    from vectro.integrations.databases import module_for

    if output.suffix.lower() not in (".vxi", ".vectro"):
        raise VectroError(f"--out must end in .vxi (an index) or .vectro (compressed rows), got {output.name}")
    _check_writable(output)
    module = module_for(source)
    with progress_bar(f"importing {collection}") as progress:
        result = module.import_(source, collection, out="index" if output.suffix.lower() == ".vxi" else "compressed",
                                codec=codec, batch_size=batch_size, progress=progress)
    result.save(output)
    summary = {"from": source, "collection": collection, "out": str(output), "n": len(result),
               "codec": result.codec.spec}
    if as_json:
        _print_json(summary)
    else:
        out.print(f"imported {summary['n']} vectors from {collection} -> {output} ({summary['codec']})")


def _check_writable(path: Path) -> None:
    """Fail before a long import when the output folder is missing or read-only."""
    import os

    folder = path.resolve().parent
    if not folder.is_dir():
        raise VectroError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise VectroError(f"cannot write {path}: folder {folder} is not writable")
