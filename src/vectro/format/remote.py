"""`.vectro` files at fsspec URLs (s3://, gs://, az://, ...): range reads in, one upload out.

Reading fetches the 32-byte prelude, the JSON header, then each section with its own range
request; sections named `lazy` are not fetched at all: `LazyRows` reads just the rows a search
asks for (an index's re-rank vectors: only the shortlisted candidates). Writing builds the file
in a local temporary folder (atomic, checksummed as usual) and uploads it in one request, so a
reader never sees half a file. Needs `vectro[cloud]` (fsspec and the store's backend: s3fs,
gcsfs or adlfs).
"""

from __future__ import annotations

import json
import os
import tempfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import FormatError, VectroError, require
from .container import FORMAT_VERSION, MAGIC, PRELUDE


def is_url(path) -> bool:
    """True for fsspec URLs other than local files (`s3://bucket/x.vectro`, `memory://x`)."""
    text = str(path)
    return "://" in text and not text.startswith("file://")


def filesystem(url: str):
    fsspec = require("fsspec", "cloud")
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise VectroError(f"cannot open {url}: {exc} (s3:// needs s3fs, gs:// gcsfs, az:// adlfs)") from exc


class LazyRows:
    """Rows of one section of a remote file, fetched on demand and cached in a sparse local memory map."""

    def __init__(self, fs, path: str, entry: dict):
        self.fs, self.path = fs, path
        self.offset, self.dtype, self.shape = entry["offset"], np.dtype(entry["dtype"]), tuple(entry["shape"])
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self.loaded = np.zeros(self.shape[0], dtype=bool)
        fd, name = tempfile.mkstemp(prefix="vectro-remote-", suffix=".bin")
        os.close(fd)
        try:  # a sparse file: untouched rows take no disk and no RAM
            self.cache = np.memmap(name, dtype=self.dtype, mode="w+", shape=(max(self.shape[0], 1), *self.shape[1:]))
        finally:
            os.unlink(name)

    def __len__(self) -> int:
        return self.shape[0]

    def fetch(self, rows) -> None:
        """Download the rows not yet cached, one range request per run of consecutive rows."""
        rows = np.unique(np.asarray(rows, dtype=np.int64).reshape(-1))
        rows = rows[(rows >= 0) & (rows < self.shape[0])]
        missing = rows[~self.loaded[rows]]
        if not len(missing):
            return
        breaks = np.flatnonzero(np.diff(missing) != 1) + 1
        for run in np.split(missing, breaks):
            start, stop = int(run[0]), int(run[-1]) + 1
            raw = self.fs.cat_file(self.path, self.offset + start * self.row_bytes, self.offset + stop * self.row_bytes)
            self.cache[start:stop] = np.frombuffer(raw, dtype=self.dtype).reshape(stop - start, *self.shape[1:])
        self.loaded[missing] = True


def read_container(url: str, lazy: tuple[str, ...] = (), verify: bool = True) -> tuple[dict, dict]:
    """(header, {section: array or LazyRows}) of a remote .vectro file, by range requests."""
    fs, path = filesystem(url)
    try:
        size = fs.size(path)
    except FileNotFoundError as exc:
        raise VectroError(f"{url} does not exist") from exc
    prelude = fs.cat_file(path, 0, PRELUDE.size)
    if prelude[: len(MAGIC)] != MAGIC or len(prelude) < PRELUDE.size:
        raise FormatError(f"{url} is not a .vectro file (its first bytes are {prelude[:8]!r})")
    _, version, _, header_len, header_crc = PRELUDE.unpack(prelude)
    if version != FORMAT_VERSION:
        raise FormatError(f"{url} uses .vectro format version {version}; this vectro reads version {FORMAT_VERSION}")
    header_raw = fs.cat_file(path, PRELUDE.size, PRELUDE.size + header_len)
    if zlib.crc32(header_raw) != header_crc:
        raise FormatError(f"{url} is corrupt: the header checksum does not match")
    header = json.loads(header_raw)
    arrays = {}
    for entry in header.pop("sections"):
        if entry["offset"] + entry["nbytes"] > size:
            raise FormatError(f"{url} is truncated: section {entry['name']!r} ends past the end of the file")
        if entry["name"] in lazy:
            arrays[entry["name"]] = LazyRows(fs, path, entry)
            continue
        raw = fs.cat_file(path, entry["offset"], entry["offset"] + entry["nbytes"]) if entry["nbytes"] else b""
        if verify and f"{zlib.crc32(raw):08x}" != entry["crc32"]:
            raise FormatError(f"{url} is corrupt: checksum mismatch in section {entry['name']!r}")
        arrays[entry["name"]] = np.frombuffer(raw, dtype=entry["dtype"]).reshape(entry["shape"])
    return header, arrays


@contextmanager
def local_then_upload(url: str):
    """Yield a local path to write; when the block completes, upload it to `url` in one request."""
    fs, path = filesystem(url)
    with tempfile.TemporaryDirectory(prefix="vectro-upload-") as folder:
        local = Path(folder) / Path(path).name
        yield local
        fs.put_file(str(local), path)
