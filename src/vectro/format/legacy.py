"""Files written by the seed Vectro and its later releases, so their users can migrate.

    seed .npz (MVP)     keys q int8 (n, d), scales float32 (n,), dims
    .npz "v2"           keys quantized, scales, dims, n, precision_mode, storage_format_version,
                        metadata_json (np.savez_compressed)
    .vqz                64-byte header (magic b"VECTRO\\x03\\x00", u16 version, u16 compression
                        flag 0 none / 1 zstd / 2 zlib, u64 n, u32 dims, u16 n_subspaces,
                        u32 metadata length, 8-byte blake2b of the body, 26 reserved bytes),
                        metadata, then the body: int8 codes then float32 per-row scales
All three hold per-vector int8 codes, so each loads as vectro's `int8` codec.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FormatError, VectroError, require
from .container import atomic_file

VQZ_MAGIC = b"VECTRO\x03\x00"
VQZ_HEADER = struct.Struct("<8sHHQIHI8s26x")  # 64 bytes
VQZ_FLAGS = {"none": 0, "zstd": 1, "zlib": 2}
NPZ_MAGIC = b"PK\x03\x04"


@dataclass
class Int8Artifact:
    """Per-vector int8 codes and scales read from a legacy file."""

    q: np.ndarray  # int8 (n, d)
    scales: np.ndarray  # float32 (n,)
    kind: str
    metadata: dict = field(default_factory=dict)


def write_seed_npz(path, q: np.ndarray, scales: np.ndarray) -> None:
    """Write the seed Vectro's layout (`q`, `scales`, `dims`), atomically."""
    with atomic_file(path) as f:
        np.savez(f, q=np.asarray(q, np.int8), scales=np.asarray(scales, np.float32), dims=np.int64(q.shape[1]))


def read_npz_arrays(path) -> dict[str, np.ndarray]:
    """Every array of an .npz, checked first: each member's CRC-32, then each array's header
    against the member's size, so a corrupt file is refused before anything large is allocated."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()  # reads every member through its CRC-32, in small chunks
            if bad is not None:
                raise FormatError(f"{path} is corrupt: member {bad!r} fails its CRC-32 check")
            for info in zf.infolist():
                if info.filename.endswith(".npy"):
                    with zf.open(info) as member:
                        version = np.lib.format.read_magic(member)
                        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                       else np.lib.format.read_array_header_2_0)
                        shape, _, dtype = read_header(member)
                        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
                        if dtype.hasobject or nbytes > info.file_size:
                            raise FormatError(f"{path}: array {info.filename!r} claims {shape} of {dtype}, "
                                              f"more than its {info.file_size} bytes")
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except FormatError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, zlib.error, KeyError,
            NotImplementedError, TypeError, RuntimeError) as exc:
        raise FormatError(f"{path} is not a readable .npz file: {type(exc).__name__}: {exc}") from exc


def read_npz(path) -> Int8Artifact:
    """Read a seed (v1) or v2 Vectro .npz artifact."""
    arrays = read_npz_arrays(path)
    if "q" in arrays:
        kind, q = "vectro-npz-v1", arrays["q"]
        meta = {}
    elif "quantized" in arrays:
        version = int(arrays.get("storage_format_version", 1))
        if version > 2:
            raise FormatError(f"{path} is a Vectro .npz of storage_format_version {version}; versions 1-2 are read")
        mode = str(arrays.get("precision_mode", "int8"))
        if mode != "int8":
            raise FormatError(f"{path} holds {mode} codes; only int8 Vectro .npz artifacts can be read")
        kind, q = f"vectro-npz-v{version}", arrays["quantized"]
        meta = json.loads(str(arrays["metadata_json"])) if "metadata_json" in arrays else {}
    else:
        raise FormatError(
            f"{path} is an .npz without Vectro's keys (q/scales or quantized/scales); "
            f"it has {sorted(arrays)}"
        )
    if "scales" not in arrays:
        raise FormatError(f"{path} lacks the 'scales' array")
    try:
        q, scales = np.asarray(q), np.asarray(arrays["scales"], dtype=np.float32).reshape(-1)
        dims = int(arrays["dims"]) if "dims" in arrays else None
    except (TypeError, ValueError) as exc:
        raise FormatError(f"{path}: unreadable scales or dims: {exc}") from exc
    if q.ndim != 2 or q.dtype != np.int8 or len(scales) != len(q):
        raise FormatError(f"{path}: codes {q.dtype} {q.shape} and scales {scales.shape} do not fit together")
    if dims is not None and dims != q.shape[1]:
        raise FormatError(f"{path}: dims says {dims} but the codes have {q.shape[1]} columns")
    if not np.isfinite(scales).all():
        raise FormatError(f"{path}: the scales hold NaN or Inf")
    return Int8Artifact(q, scales, kind, meta)


def write_vqz(path, q: np.ndarray, scales: np.ndarray, compression: str = "zlib", metadata: bytes = b"") -> None:
    """Write a Vectro .vqz container (for handing files back to systems that read only .vqz)."""
    if compression not in VQZ_FLAGS:
        raise VectroError(f"unknown .vqz compression {compression!r}; choose one of {sorted(VQZ_FLAGS)}")
    body = np.ascontiguousarray(q, np.int8).tobytes() + np.ascontiguousarray(scales, "<f4").tobytes()
    if compression == "zstd":
        body = require("zstandard", "zstd").ZstdCompressor(level=3).compress(body)
    elif compression == "zlib":
        body = zlib.compress(body, 6)
    digest = hashlib.blake2b(body, digest_size=8).digest()
    header = VQZ_HEADER.pack(VQZ_MAGIC, 1, VQZ_FLAGS[compression], len(q), q.shape[1], 0, len(metadata), digest)
    with atomic_file(path) as f:
        f.write(header + metadata + body)


def read_vqz(path) -> Int8Artifact:
    """Read a Vectro .vqz container, checking its blake2b digest before decompressing."""
    raw = Path(path).read_bytes()
    if len(raw) < VQZ_HEADER.size:
        raise FormatError(f"{path} is truncated: {len(raw)} bytes, shorter than the 64-byte .vqz header")
    magic, version, flag, n, dims, _, meta_len, digest = VQZ_HEADER.unpack_from(raw)
    if magic != VQZ_MAGIC:
        raise FormatError(f"{path} is not a .vqz file (magic {magic!r})")
    if version != 1:
        raise FormatError(f"{path} is .vqz version {version}; version 1 is read")
    metadata = raw[VQZ_HEADER.size : VQZ_HEADER.size + meta_len]
    body = raw[VQZ_HEADER.size + meta_len :]
    if hashlib.blake2b(body, digest_size=8).digest() != digest:
        raise FormatError(f"{path} is corrupt or truncated: the .vqz body checksum does not match")
    expected = n * dims + 4 * n
    try:
        if flag == VQZ_FLAGS["zstd"]:
            body = require("zstandard", "zstd").ZstdDecompressor().decompress(body, max_output_size=expected)
        elif flag == VQZ_FLAGS["zlib"]:
            inflater = zlib.decompressobj()
            body = inflater.decompress(body, expected + 1)  # never more than the header promises (+1 to notice)
        elif flag != VQZ_FLAGS["none"]:
            raise FormatError(f"{path} uses unknown .vqz compression flag {flag}")
    except FormatError:
        raise
    except Exception as exc:  # zlib.error, zstd.ZstdError: the body is not what the flag says
        raise FormatError(f"{path}: the .vqz body does not decompress: {exc}") from exc
    if len(body) != expected:
        raise FormatError(f"{path}: the .vqz body has {len(body)} bytes, {expected} expected")
    q = np.frombuffer(body, np.int8, count=n * dims).reshape(n, dims).copy()
    scales = np.frombuffer(body, "<f4", count=n, offset=n * dims).astype(np.float32)
    try:
        meta = json.loads(metadata) if metadata else {}
    except ValueError:
        meta = {"raw": metadata.decode("utf-8", "replace")}
    return Int8Artifact(q, scales, "vectro-vqz", meta if isinstance(meta, dict) else {"value": meta})
