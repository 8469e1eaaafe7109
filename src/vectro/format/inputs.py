"""Reading embedding matrices from files, whole or block by block.

Supported: `.npy` (memory-mapped), `.npz` (key `embeddings`, or its only array), Parquet (a list
or fixed-size-list column, inferred or named), and a local Hugging Face dataset folder (the
`.arrow` files `save_to_disk` writes, or `.parquet` files anywhere below it). float16/float64
and integer inputs are cast to float32 block by block.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from .._util import sample_rows
from .._validation import check_finite
from ..errors import FormatError, VectroError, require


class VectorSource:
    """An (n, d) matrix in a file, read in row blocks so that memory does not grow with n."""

    #: the file row of this source's row 0 (a shard of a larger file), so errors name the file's row
    first_row = 0

    def __init__(self, path: Path, n: int, dim: int, dtype: str):
        self.path, self.n, self.dim, self.dtype = path, n, dim, dtype

    def __len__(self) -> int:
        return self.n

    def _raw_blocks(self, rows: int) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def blocks(self, rows: int = 65536) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (first row, float32 block) pairs, checking every value is finite."""
        start = 0
        for raw in self._raw_blocks(rows):
            block = np.ascontiguousarray(raw, dtype=np.float32)
            check_finite(block, str(self.path), row_offset=self.first_row + start)
            yield start, block
            start += len(block)

    def read(self) -> np.ndarray:
        out = np.empty((self.n, self.dim), dtype=np.float32)
        for start, block in self.blocks():
            out[start : start + len(block)] = block
        return out

    def sample(self, rows: int, seed: int = 0) -> np.ndarray:
        """A seeded random sample of up to `rows` rows (all rows if n <= rows), in file order."""
        if self.n <= rows:
            return self.read()
        return self.take(sample_rows(self.n, rows, seed))

    def take(self, keep: np.ndarray) -> np.ndarray:
        """Rows `keep` (int, ascending, unique) as float32 (len(keep), d), read in one pass of blocks."""
        out, filled = np.empty((len(keep), self.dim), dtype=np.float32), 0
        for start, block in self.blocks():
            local = keep[(keep >= start) & (keep < start + len(block))] - start
            out[filled : filled + len(local)] = block[local]
            filled += len(local)
        return out


class ArraySource(VectorSource):
    """A numpy array or memory map (rows are sliced, never copied as a whole)."""

    def __init__(self, path: Path, array: np.ndarray):
        _check_numeric(array, path)
        if array.ndim != 2:
            raise VectroError(f"{path} holds a {array.ndim}-D array of shape {array.shape}; expected 2-D (n, d)")
        if array.shape[0] == 0 or array.shape[1] == 0:
            raise VectroError(f"{path} holds an empty array of shape {array.shape}")
        super().__init__(path, array.shape[0], array.shape[1], array.dtype.name)
        self.array = array

    def _raw_blocks(self, rows):
        for start in range(0, self.n, rows):
            yield self.array[start : start + rows]

    def take(self, keep):
        block = np.ascontiguousarray(self.array[keep], dtype=np.float32)
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():  # name the file's row, not the row of the sample
            bad = int(np.argmin(finite))
            check_finite(block[bad : bad + 1], str(self.path), row_offset=self.first_row + int(keep[bad]))
        return block


class ArrowSource(VectorSource):
    """One list-typed column across Parquet or Arrow files, read record batch by record batch."""

    def __init__(self, path: Path, files: list[Path], column: str | None):
        self.path, self.files = path, files
        schema, n = self._schema_and_rows()
        self.column = _choose_column(schema, column, path)
        first = next(self._batches(1), None)
        if first is None:
            raise VectroError(f"{path} holds no rows")
        dim = first.shape[1]
        super().__init__(path, n, dim, "float32")

    def _open(self, file: Path):
        pa = require("pyarrow", "parquet")
        if file.suffix == ".parquet":
            return require("pyarrow.parquet", "parquet").ParquetFile(file)
        source = pa.memory_map(str(file))
        try:
            return pa.ipc.open_stream(source).read_all()
        except pa.ArrowInvalid:
            return pa.ipc.open_file(source).read_all()

    def _schema_and_rows(self):
        schema, n = None, 0
        for file in self.files:
            table = self._open(file)
            if hasattr(table, "metadata") and hasattr(table, "schema_arrow"):
                schema, n = table.schema_arrow, n + table.metadata.num_rows
            else:
                schema, n = table.schema, n + table.num_rows
        return schema, n

    def _batches(self, rows: int) -> Iterator[np.ndarray]:
        for file in self.files:
            table = self._open(file)
            if hasattr(table, "iter_batches"):
                batches = table.iter_batches(batch_size=rows, columns=[self.column])
            else:
                batches = table.select([self.column]).to_batches(max_chunksize=rows)
            for batch in batches:
                yield _list_column_to_matrix(batch.column(0), self.column, self.path)

    def _raw_blocks(self, rows):
        for block in self._batches(rows):
            if block.shape[1] != self.dim:
                raise VectroError(f"{self.path}: column {self.column!r} mixes {self.dim}- and {block.shape[1]}-d rows")
            yield block


def _check_numeric(array: np.ndarray, path) -> None:
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise VectroError(f"{path} holds {array.dtype} values; expected real numbers (float or int)")


def _is_vector_type(pa_type) -> bool:
    pa = require("pyarrow", "parquet")
    if not (pa.types.is_list(pa_type) or pa.types.is_large_list(pa_type) or pa.types.is_fixed_size_list(pa_type)):
        return False
    value = pa_type.value_type
    return pa.types.is_floating(value) or pa.types.is_integer(value)


def _choose_column(schema, column: str | None, path) -> str:
    candidates = [f.name for f in schema if _is_vector_type(f.type)]
    if column is not None:
        if column not in schema.names:
            raise VectroError(f"{path} has no column {column!r}; its columns are {schema.names}")
        if column not in candidates:
            raise VectroError(f"column {column!r} of {path} is {schema.field(column).type}, not a list of numbers")
        return column
    if len(candidates) == 1:
        return candidates[0]
    named = [name for name in candidates if "embedding" in name.lower()]
    if len(named) == 1:
        return named[0]
    if not candidates:
        raise VectroError(f"{path} has no column holding lists of numbers; its columns are {schema.names}")
    raise VectroError(f"{path} has several vector columns {candidates}; choose one with --column")


def _list_column_to_matrix(array, name: str, path) -> np.ndarray:
    pa = require("pyarrow", "parquet")
    if array.null_count:
        raise VectroError(f"{path}: column {name!r} has {array.null_count} missing rows")
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if len(array) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    if pa.types.is_fixed_size_list(array.type):
        width = array.type.list_size
        values = array.flatten()
    else:
        offsets = array.offsets.to_numpy()
        lengths = np.diff(offsets)
        width = int(lengths[0])
        if (lengths != width).any():
            row = int(np.argmax(lengths != width))
            raise VectroError(f"{path}: column {name!r} row {row} has {lengths[row]} values, row 0 has {width}")
        values = array.flatten()
    if values.null_count:
        raise VectroError(f"{path}: column {name!r} has missing values inside vectors")
    return values.to_numpy(zero_copy_only=False).reshape(len(array), width)


def open_vectors(path, column: str | None = None) -> VectorSource:
    """Open an embeddings file or dataset folder for block-wise reading (see module docstring)."""
    path = Path(path)
    if not path.exists():
        raise VectroError(f"input {path} does not exist")
    if path.is_dir():
        files = sorted(path.rglob("*.arrow")) or sorted(path.rglob("*.parquet"))
        files = [f for f in files if not f.name.startswith("cache-")]  # datasets' map() caches
        if not files:
            raise VectroError(f"{path} is a folder without .arrow or .parquet files; not a dataset folder")
        return ArrowSource(path, files, column)
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        raise VectroError(f"{path} is empty (0 bytes); expected an embeddings file")
    if suffix == ".npy":
        return ArraySource(path, _npy_matrix(path))
    if suffix == ".npz":
        return ArraySource(path, _npz_matrix(path, column))
    if suffix in (".parquet", ".arrow"):
        return ArrowSource(path, [path], column)
    raise VectroError(f"cannot read {path}: expected .npy, .npz, .parquet, .arrow or a dataset folder")


NPY_MAGIC = b"\x93NUMPY"


def _npy_matrix(path: Path) -> np.ndarray:
    """Memory-map a .npy, saying plainly when the file is not one (text, pickled objects, truncated)."""
    with open(path, "rb") as f:
        head = f.read(len(NPY_MAGIC))
    if head != NPY_MAGIC:
        text = head.isascii() and all(c.isprintable() or c.isspace() for c in head.decode("ascii"))
        raise VectroError(f"{path} is not a .npy file: it starts with {head!r}"
                          + (" (text; save the vectors with numpy.save)" if text else ""))
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc) or "Python objects" in str(exc):
            raise VectroError(f"{path} holds Python objects (pickled), not numbers; "
                              "save a numeric (n, d) array with numpy.save") from exc
        if "EOF" in str(exc) or "mmap length" in str(exc):
            raise VectroError(f"{path} is truncated: {exc}") from exc
        raise VectroError(f"{path} is not a readable .npy file: {exc}") from exc
    except EOFError as exc:
        raise VectroError(f"{path} is truncated: {exc}") from exc


def _npz_matrix(path: Path, key: str | None) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.files)
            if key is None:
                key = "embeddings" if "embeddings" in keys else (keys[0] if len(keys) == 1 else None)
            if key is None:
                raise VectroError(f"{path} holds arrays {keys}; name one with --column (or store 'embeddings')")
            if key not in keys:
                raise VectroError(f"{path} has no array {key!r}; it holds {keys}")
            return npz[key]
    except (OSError, ValueError) as exc:
        if isinstance(exc, VectroError):
            raise
        raise FormatError(f"{path} is not a readable .npz file: {exc}") from exc


def load_vectors(path, column: str | None = None) -> np.ndarray:
    """Read a whole embeddings file as float32 (n, d)."""
    return open_vectors(path, column).read()
