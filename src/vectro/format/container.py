"""The .vectro container: a small binary file of named, checksummed, 64-byte-aligned array sections.

Layout (all integers little-endian; docs/format.md is the full specification):

    offset 0   8 bytes   magic b"\\x89VECTRO\\n"
           8   u16       format version (1)
          10   u16       reserved (0)
          12   u32       header length H in bytes (a multiple of 64, space padded)
          16   u32       CRC-32 of the header bytes
          20   12 bytes  reserved (0)
          32   H bytes   UTF-8 JSON header: metadata + the list of sections
      32 + H   ...       sections, each starting at a multiple of 64

Each section entry in the header records name, dtype, shape, offset, nbytes and the CRC-32 of
its bytes. Arrays are written block by block (so n can exceed RAM) and read back as memory maps.
A file is written under a temporary name and renamed into place only when complete.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FormatError, VectroError

MAGIC = b"\x89VECTRO\n"
FORMAT_VERSION = 1
PRELUDE = struct.Struct("<8sHHII12x")  # 32 bytes
ALIGN = 64
_CHECK_CHUNK = 1 << 20  # bytes read at a time when verifying checksums


def _aligned(offset: int) -> int:
    return -(-offset // ALIGN) * ALIGN


@dataclass
class Section:
    name: str
    dtype: str
    shape: tuple[int, ...]
    offset: int = 0
    crc32: str = "00000000"  # fixed width, so the header's length does not change when filled in

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize

    def entry(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape),
                "offset": self.offset, "nbytes": self.nbytes, "crc32": self.crc32}


def atomic_target(path: Path) -> tuple[int, str]:
    """Open a temporary file beside `path` (same filesystem, so the final rename is atomic)."""
    path = Path(path)
    if not path.parent.exists():
        raise VectroError(f"cannot write {path}: directory {path.parent} does not exist")
    if path.is_dir():
        raise VectroError(f"cannot write {path}: it is a directory")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise VectroError(f"cannot write {path}: {exc.strerror}") from exc
    if hasattr(os, "fchmod"):  # mkstemp makes 0600; the finished file gets the mode open() would give it
        os.fchmod(fd, 0o666 & ~_umask())
    return fd, name


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux /proc)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting it, and restore at once
    os.umask(mask)
    return mask


def commit(file, tmp_name: str, path: Path) -> None:
    """fsync the finished temp file, rename it over `path`, and fsync the directory, so that the
    new name itself survives a power loss (not only a crash of the process)."""
    file.flush()
    os.fsync(file.fileno())
    os.replace(tmp_name, path)
    if os.name == "posix":
        directory = os.open(Path(path).parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


@contextmanager
def atomic_file(path):
    """Yield a binary file that replaces `path` only if the `with` block completes."""
    fd, tmp = atomic_target(Path(path))
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            commit(f, tmp, Path(path))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class ContainerWriter:
    """Write a .vectro file whose sections are declared up front and filled in order.

        with ContainerWriter(path, meta, [Section("codes", "u1", (n, 388))]) as w:
            for block in blocks:
                w.write("codes", block)

    Nothing appears at `path` unless the `with` block completes; an exception removes the temp file.
    """

    def __init__(self, path, meta: dict, sections: list[Section]):
        self.path = Path(path)
        self.meta = meta
        self.sections = {s.name: s for s in sections}
        self._written = {s.name: 0 for s in sections}
        self._crc = {s.name: 0 for s in sections}
        for section in sections:
            section.offset = 10**15  # wider than any real offset, so the real header is no longer
        self.header_len = _aligned(len(self._header_json()))
        offset = PRELUDE.size + self.header_len
        for section in sections:
            section.offset = _aligned(offset)
            offset = section.offset + section.nbytes
        self.total_size = offset
        self._fd, self._tmp = atomic_target(self.path)
        self._file = os.fdopen(self._fd, "wb")

    def _header_json(self) -> bytes:
        header = dict(self.meta)
        header["sections"] = [s.entry() for s in self.sections.values()]
        return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()

    def write(self, name: str, block: np.ndarray) -> None:
        section = self.sections[name]
        data = np.ascontiguousarray(block, dtype=np.dtype(section.dtype))
        position = section.offset + self._written[name]
        if self._written[name] + data.nbytes > section.nbytes:
            raise VectroError(f"section {name!r} overflows its declared shape {section.shape}")
        raw = data.reshape(-1).view(np.uint8)
        self._file.seek(position)
        self._file.write(raw)
        self._written[name] += data.nbytes
        self._crc[name] = zlib.crc32(raw, self._crc[name])

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self._finish()
        finally:
            if not self._file.closed:
                self._file.close()
            if os.path.exists(self._tmp):
                os.unlink(self._tmp)
        return False

    def _finish(self) -> None:
        for name, section in self.sections.items():
            if self._written[name] != section.nbytes:
                raise VectroError(f"section {name!r} got {self._written[name]} of {section.nbytes} bytes")
            section.crc32 = f"{self._crc[name]:08x}"
        header = self._header_json().ljust(self.header_len, b" ")
        self._file.seek(0)
        self._file.write(PRELUDE.pack(MAGIC, FORMAT_VERSION, 0, len(header), zlib.crc32(header)))
        self._file.write(header)
        self._file.truncate(self.total_size)
        commit(self._file, self._tmp, self.path)
        self._file.close()


def write_container(path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write in-memory arrays as sections of a .vectro file, atomically."""
    arrays = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
    sections = [Section(name, a.dtype.str, a.shape) for name, a in arrays.items()]
    with ContainerWriter(path, meta, sections) as writer:
        for name, array in arrays.items():
            writer.write(name, array)


def is_container(path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(MAGIC)) == MAGIC


def read_container(path, mmap: bool = True, verify: bool = True, lazy: tuple[str, ...] | None = None):
    """Read a .vectro file: (header metadata, {section name: array}).

    Arrays are read-only memory maps when `mmap` is true. `verify` checks every section's CRC-32
    (one sequential read of the file); a mismatch raises FormatError naming the section. The
    sections named in `lazy` are not checked now: a third value {name: entry} is returned, for
    `check_section(path, entry)` when the caller first needs them (a memory-mapped search).
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        prelude = f.read(PRELUDE.size)
        if len(prelude) < len(MAGIC) or prelude[: len(MAGIC)] != MAGIC:
            raise FormatError(f"{path} is not a .vectro file (its first bytes are {prelude[:8]!r})")
        if len(prelude) < PRELUDE.size:
            raise FormatError(f"{path} is truncated: {size} bytes, shorter than the file prelude")
        _, version, _, header_len, header_crc = PRELUDE.unpack(prelude)
        if version != FORMAT_VERSION:
            raise FormatError(
                f"{path} uses .vectro format version {version}; this vectro reads version {FORMAT_VERSION}"
            )
        if header_len > size - PRELUDE.size:  # checked before reading: a corrupt length must not allocate
            raise FormatError(f"{path} is truncated inside its header ({header_len} header bytes, {size} in the file)")
        header_raw = f.read(header_len)
        if len(header_raw) < header_len:
            raise FormatError(f"{path} is truncated inside its header")
        if zlib.crc32(header_raw) != header_crc:
            raise FormatError(f"{path} is corrupt: the header checksum does not match")
        header, entries = _parse_header(path, header_raw, size, PRELUDE.size + header_len)
        arrays = {}
        for entry in entries:
            if verify and entry["name"] not in (lazy or ()):
                check_section(path, entry, f)
            arrays[entry["name"]] = _read_section(path, f, entry, mmap)
    if lazy is not None:
        return header, arrays, {e["name"]: e for e in entries if e["name"] in lazy and verify}
    return header, arrays


def check_section(path, entry: dict, f=None) -> None:
    """Raise FormatError unless the section's bytes match its CRC-32 (one sequential read of it)."""
    if f is None:
        with open(path, "rb") as own:
            crc = _section_crc(own, entry["offset"], entry["nbytes"])
    else:
        crc = _section_crc(f, entry["offset"], entry["nbytes"])
    if crc != entry["crc32"]:
        raise FormatError(f"{path} is corrupt: checksum mismatch in section {entry['name']!r}")


def _parse_header(path, raw: bytes, size: int, data_start: int) -> tuple[dict, list[dict]]:
    """The header's metadata and its section entries, each checked against the file before any
    array is allocated: a known dtype, a shape whose byte count is the recorded one, inside the file."""
    try:
        header = json.loads(raw)
        entries = header.pop("sections")
        if not isinstance(header, dict) or not isinstance(entries, list):
            raise TypeError("not an object with a list of sections")
        for entry in entries:
            name, dtype = str(entry["name"]), np.dtype(entry["dtype"])
            shape, offset, nbytes = tuple(int(d) for d in entry["shape"]), int(entry["offset"]), int(entry["nbytes"])
            str(entry["crc32"])
            if dtype.hasobject or min(shape, default=0) < 0 or offset < data_start or nbytes < 0:
                raise ValueError(f"section {name!r} has an impossible dtype, shape or offset")
            if int(np.prod(shape, dtype=object)) * dtype.itemsize != nbytes:
                raise ValueError(f"section {name!r}: shape {shape} of {dtype} is not {nbytes} bytes")
            entry.update(name=name, shape=list(shape), offset=offset, nbytes=nbytes)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise FormatError(f"{path} has a corrupt header: {exc}") from exc
    for entry in entries:
        end = entry["offset"] + entry["nbytes"]
        if end > size:
            raise FormatError(
                f"{path} is truncated: section {entry['name']!r} ends at byte {end}, the file has {size}"
            )
    return header, entries


def _section_crc(f, offset: int, nbytes: int) -> str:
    """CRC-32 of nbytes at offset, read through one fixed buffer (memory stays flat for any size)."""
    buffer = memoryview(bytearray(min(nbytes, _CHECK_CHUNK) or 1))
    f.seek(offset)
    crc, left = 0, nbytes
    while left:
        got = f.readinto(buffer[: min(left, len(buffer))])
        if not got:
            break
        crc, left = zlib.crc32(buffer[:got], crc), left - got
    return f"{crc:08x}"


def _read_section(path, f, entry, mmap: bool) -> np.ndarray:
    dtype, shape = np.dtype(entry["dtype"]), tuple(entry["shape"])
    if entry["nbytes"] == 0:
        return np.zeros(shape, dtype=dtype)
    if mmap:
        return np.memmap(path, dtype=dtype, mode="r", offset=entry["offset"], shape=shape)
    f.seek(entry["offset"])
    return np.frombuffer(f.read(entry["nbytes"]), dtype=dtype).reshape(shape).copy()
