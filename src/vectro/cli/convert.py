"""`vectro convert`: move codes between vectro files, FAISS indexes and Parquet, byte for byte."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

import vectro
from vectro.errors import VectroError

from ._common import JsonOpt, _is_index, _print_json, app, out

READS = ".vectro, .vxi (index), .faiss/.index, .parquet, or embeddings (.npy, .npz, ...) with --codec"
WRITES = ".vectro, .vxi (index), .faiss/.index and .parquet"


def _read(path: Path, codec: Optional[str], metric: str):
    """A Compressed or an Index from any readable input."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise VectroError(f"{path} does not exist")
    if suffix in (".faiss", ".index"):
        from vectro.integrations.frameworks import faiss as vfaiss

        packed, ids = vfaiss.from_faiss(vfaiss.read_index(path))
        return packed if ids is None else _to_index(packed, ids)
    if suffix == ".parquet" and codec is None:
        from vectro.integrations.frameworks import arrow

        return arrow.read_parquet(path, as_index=True)
    if _is_index(path):
        return vectro.Index.load(path)
    if suffix == ".vectro" or codec is None:
        return vectro.load(path)
    return vectro.compress(vectro.load_vectors(path), codec, metric=metric)


def _to_index(packed, ids=None):
    index = vectro.Index(packed.dim, packed.codec, packed.metric)
    index.add_codes(packed.codes, ids)
    return index


@app.command()
def convert(
    input: Path = typer.Option(..., "--in", help=f"What to read: {READS}."),
    output: Path = typer.Option(..., "--out", help=f"What to write, by suffix: {WRITES}."),
    codec: Optional[str] = typer.Option(None, "--codec", "-c", help="Codec for an embeddings input (e.g. float16, int8-dim, pq:48, binary)."),
    metric: str = typer.Option("ip", "--metric", help="Metric for an embeddings input: cosine, ip or l2."),
    hnsw_m: Optional[int] = typer.Option(None, "--hnsw-m", min=2, help="FAISS output: build an HNSW graph with M links per node."),
    as_json: bool = JsonOpt,
):
    """Convert codes between formats without re-encoding them (FAISS where the codec maps)."""
    suffix = output.suffix.lower()
    if suffix not in (".vectro", ".vxi", ".faiss", ".index", ".parquet"):
        raise VectroError(f"cannot convert to {output.name}: the output suffix must be one of {WRITES}")
    if not output.parent.exists():
        raise VectroError(f"cannot write {output}: directory {output.parent} does not exist")
    source = _read(input, codec, metric)
    if suffix in (".faiss", ".index"):
        from vectro.integrations.frameworks import faiss as vfaiss

        vfaiss.write_index(vfaiss.to_faiss(source, hnsw_m=hnsw_m), output)
    elif suffix == ".parquet":
        from vectro.integrations.frameworks import arrow

        arrow.write_parquet(source, output)
    elif suffix == ".vxi":
        (source if isinstance(source, vectro.Index) else _to_index(source)).save(output)
    else:
        packed = source if isinstance(source, vectro.Compressed) else \
            vectro.Compressed(source.codec, source.codes(), {"metric": source.metric})
        packed.save(output)
    summary = {"input": str(input), "output": str(output), "codec": source.codec.spec, "n": len(source),
               "file_bytes": output.stat().st_size}
    if as_json:
        _print_json(summary)
    else:
        out.print(f"converted {summary['n']} vectors ({summary['codec']}) {input} -> {output} ({summary['file_bytes']:,} bytes)")
