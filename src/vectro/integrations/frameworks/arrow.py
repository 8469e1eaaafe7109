"""Arrow tables and Parquet files of vectro codes, readable by pyarrow, Polars and DuckDB without vectro.

    from vectro.integrations.frameworks import arrow
    arrow.write_parquet(vectro.compress(X, "int8"), "codes.parquet")     # or an Index (ids kept)
    packed = arrow.read_parquet("codes.parquet")                         # the same codes, a Compressed
    index = arrow.read_parquet("codes.parquet", as_index=True)           # searchable, ids kept

Columns (one row per vector):
    id      int64 or string (when written from an Index)
    codes   fixed_size_list: int8 / int16 code values for int8 / int16 codecs, float32 values for
            float32, otherwise the packed code bytes (uint8)
    scales  fixed_size_list<float32>: one scale per vector or group (scaled codecs only)

The schema metadata key `vectro` holds JSON: codec spec, dimension, metric, the layout of the
columns, and the codec's learned arrays (base64 of little-endian bytes, with dtype and shape), so
an int8 vector is `codes[i] * scales[0]` in any engine. Needs `vectro[parquet]` (pyarrow).
"""

from __future__ import annotations

import base64
import json

import numpy as np

from ...codecs.base import BLOCK_ROWS, Codec
from ...codecs.composite import Composite
from ...codecs.scalar import Float32, _ScaledCodec
from ...compressed import Compressed
from ...errors import FormatError, VectroError, require
from ...format.container import atomic_file

METADATA_KEY = b"vectro"


def _pa():
    return require("pyarrow", "parquet")


def _quantiser(codec: Codec) -> Codec:
    return codec.quantiser if isinstance(codec, Composite) else codec


def _layout(codec: Codec) -> str:
    """How a codec's code rows become columns: int8, int16, packed (bytes + scales), float32 or bytes."""
    q = _quantiser(codec)
    if isinstance(q, _ScaledCodec):
        return {8: "int8", 16: "int16"}.get(q.bits, "packed")
    return "float32" if isinstance(q, Float32) else "bytes"


def _split(codec: Codec, codes: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Code rows -> (codes column values (n, w), scales (n, groups) or None)."""
    q = _quantiser(codec)
    if layout in ("int8", "int16"):
        return q.split(codes)
    if layout == "packed":
        width = q._code_bytes(q.dim_)
        return np.ascontiguousarray(codes[:, :width]), np.ascontiguousarray(codes[:, width:]).view("<f4")
    if layout == "float32":
        return np.ascontiguousarray(codes).view("<f4"), None
    return np.asarray(codes), None


def _join(values: np.ndarray, scales: np.ndarray | None) -> np.ndarray:
    """Inverse of _split: column values (and scales) -> uint8 code rows."""
    dtype = values.dtype.newbyteorder("<") if values.dtype.itemsize > 1 else values.dtype
    parts = [np.ascontiguousarray(values, dtype=dtype).view(np.uint8).reshape(len(values), -1)]
    if scales is not None:
        parts.append(np.ascontiguousarray(scales, dtype="<f4").view(np.uint8).reshape(len(values), -1))
    return np.hstack(parts) if len(parts) > 1 else parts[0]


def _fixed_list(values: np.ndarray):
    pa = _pa()
    values = np.ascontiguousarray(values)
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def _metadata(codec: Codec, metric: str) -> dict:
    from ... import __version__

    state = codec.state()
    arrays = {}
    for name, array in state["arrays"].items():
        array = np.asarray(array)
        little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        arrays[name] = {"dtype": little.dtype.str, "shape": list(array.shape),
                        "data": base64.b64encode(little.tobytes()).decode()}
    return {"format": "vectro-arrow", "codec": {"spec": codec.spec, "dim": codec.dim_, "arrays": arrays},
            "metric": metric, "layout": _layout(codec), "vectro_version": __version__}


def _source(source, ids):
    """(codec, codes, ids or None, metric) from a Compressed or an Index."""
    from ...index import Index

    if isinstance(source, Index):
        return source.codec, source.codes(), source.ids() if ids is None else ids, source.metric
    if isinstance(source, Compressed):
        return source.codec, source.codes, ids, source.metric
    raise VectroError(f"expected a vectro.Compressed or vectro.Index, got {type(source).__name__}")


def _batch(codec, codes, ids, layout, schema):
    pa = _pa()
    values, scales = _split(codec, np.asarray(codes), layout)
    columns = [] if ids is None else [pa.array(np.asarray(ids).tolist())]
    columns.append(_fixed_list(values))
    if scales is not None:
        columns.append(_fixed_list(scales))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _schema(codec, codes, ids, metric):
    pa = _pa()
    layout = _layout(codec)
    values, scales = _split(codec, np.asarray(codes[:1]), layout)
    fields = []
    if ids is not None:
        fields.append(pa.field("id", pa.string() if np.asarray(ids).dtype.kind in "OU" else pa.int64()))
    fields.append(pa.field("codes", pa.list_(pa.from_numpy_dtype(values.dtype), values.shape[1])))
    if scales is not None:
        fields.append(pa.field("scales", pa.list_(pa.float32(), scales.shape[1])))
    return pa.schema(fields, metadata={METADATA_KEY: json.dumps(_metadata(codec, metric)).encode()}), layout


def to_arrow(source, ids=None):
    """A pyarrow Table of a Compressed or an Index's codes (ids as the `id` column when known)."""
    pa = _pa()
    codec, codes, ids, metric = _source(source, ids)
    if ids is not None and len(ids) != len(codes):
        raise VectroError(f"ids has {len(ids)} entries for {len(codes)} vectors")
    schema, layout = _schema(codec, codes, ids, metric)
    batches = [_batch(codec, codes[s : s + BLOCK_ROWS], None if ids is None else np.asarray(ids)[s : s + BLOCK_ROWS],
                      layout, schema) for s in range(0, len(codes), BLOCK_ROWS)]
    return pa.Table.from_batches(batches, schema=schema)


def write_parquet(source, path, ids=None, compression: str = "zstd"):
    """Write a Compressed or an Index as Parquet at `path` (atomically), one row group per block."""
    parquet = require("pyarrow.parquet", "parquet")
    table = to_arrow(source, ids)
    with atomic_file(path) as f:
        parquet.write_table(table, f, row_group_size=BLOCK_ROWS, compression=compression)
    return path


def from_arrow(table, as_index: bool = False):
    """A Compressed (or, with as_index, a searchable Index with the ids) from a table `to_arrow` wrote."""
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise FormatError("this Arrow table has no 'vectro' schema metadata; it was not written by vectro")
    meta = json.loads(raw)
    state = {"spec": meta["codec"]["spec"], "dim": meta["codec"]["dim"],
             "arrays": {name: np.frombuffer(base64.b64decode(a["data"]), dtype=a["dtype"]).reshape(a["shape"])
                        for name, a in meta["codec"]["arrays"].items()}}
    codec = Codec.from_state(state)
    values = _column_matrix(table, "codes")
    scales = _column_matrix(table, "scales") if "scales" in table.column_names else None
    codes = _join(values, scales) if len(table) else np.zeros((0, codec.bytes_per_vector(codec.dim_)), np.uint8)
    ids = table.column("id").to_pylist() if "id" in table.column_names else None
    if not as_index:
        packed = Compressed(codec, codes, {"metric": meta["metric"], "format": "parquet"})
        if ids is not None:
            packed.metadata["ids"] = np.asarray(ids)
        return packed
    from ...index import Index

    index = Index(codec.dim_, codec, meta["metric"])
    if len(codes):
        index.add_codes(codes, ids)
    return index


def read_parquet(path, as_index: bool = False):
    """Load a Parquet file `write_parquet` wrote: a Compressed, or an Index with `as_index`."""
    parquet = require("pyarrow.parquet", "parquet")
    try:
        table = parquet.read_table(path)
    except (OSError, ValueError) as exc:
        raise FormatError(f"cannot read {path} as Parquet: {exc}") from exc
    return from_arrow(table, as_index)


def _column_matrix(table, name: str) -> np.ndarray:
    """A fixed-size-list column as a 2-D numpy array (n, width), without a per-row Python loop."""
    column = table.column(name).combine_chunks()
    width = column.type.list_size
    return column.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
