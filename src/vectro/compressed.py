"""Compressed vectors in memory and on disk: `compress`, `Compressed`, `load`, and file-to-file streaming."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

import numpy as np

from ._validation import as_matrix
from ._util import sample
from .codecs.base import BLOCK_ROWS, Codec, Progress, own_codec
from .codecs.scalar import Int8
from .errors import FormatError, VectroError
from .format import container, legacy, remote
from .format.inputs import VectorSource, open_vectors

METRICS = ("cosine", "ip", "l2")
#: rows a trainable codec learns from at most (a seeded sample of the input)
FIT_ROWS = 100_000


def _check_metric(metric: str, allowed: tuple = METRICS) -> str:
    if metric not in allowed:
        raise VectroError(f"unknown metric {metric!r}; choose one of {', '.join(allowed)}")
    return metric


class Compressed:
    """n vectors encoded by one codec: codes uint8 (n, bytes_per_vector), possibly memory-mapped."""

    def __init__(self, codec: Codec, codes: np.ndarray, metadata: dict | None = None):
        self.codec = codec
        self.codes = codes
        self.metadata = dict(metadata or {})

    @property
    def dim(self) -> int:
        return self.codec.dim_

    def __len__(self) -> int:
        return len(self.codes)

    def __repr__(self) -> str:
        return f"Compressed(codec={self.codec.spec!r}, n={len(self)}, dim={self.dim}, {self.bytes_per_vector} B/vector)"

    @property
    def bytes_per_vector(self) -> int:
        """Bytes stored per vector (codes and per-vector scales; shared codec state excluded)."""
        return self.codec.bytes_per_vector(self.dim)

    @property
    def nbytes(self) -> int:
        """All bytes held: codes plus the codec's learned arrays."""
        state = sum(np.asarray(a).nbytes for a in self.codec.state()["arrays"].values())
        return int(self.codes.nbytes) + state

    @property
    def metric(self) -> str:
        return self.metadata.get("metric", "cosine")

    def decompress(self, progress: Progress | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """Decode every vector: float32 (n, d), into `out` (e.g. a memory-mapped .npy) if given."""
        if out is None:
            out = np.empty((len(self), self.dim), dtype=np.float32)
        elif out.shape != (len(self), self.dim):
            raise VectroError(f"out must have shape {(len(self), self.dim)}, got {out.shape}")
        for start in range(0, len(self), BLOCK_ROWS):  # each block decoded straight into its rows of out
            self.codec.decode(self.codes[start : start + BLOCK_ROWS], out=out[start : start + BLOCK_ROWS])
            if progress:
                progress(min(start + BLOCK_ROWS, len(self)), len(self))
        return out

    def inner_products(self, queries) -> np.ndarray:
        """Inner products of float queries (nq, d) with every stored vector: float32 (nq, n)."""
        return self.codec.inner_products(queries, self.codes)

    #: the first name of `inner_products` (the README's), kept working
    score = inner_products

    def save(self, path) -> Path:
        """Write to `path`: `.npz` and `.vqz` in the seed Vectro layouts (int8 only), else `.vectro`.
        `path` may be an fsspec URL (s3://, gs://, az://): written locally, then uploaded."""
        if remote.is_url(path):
            with remote.local_then_upload(str(path)) as local:
                self.save(local)
            return path
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix in (".npz", ".vqz"):
            q, scales = _int8_parts(self.codec, self.codes, suffix)
            if suffix == ".npz":
                legacy.write_seed_npz(path, q, scales)
            else:
                legacy.write_vqz(path, q, scales)
            return path
        state = self.codec.state()
        arrays = {"codes": self.codes, **{f"state/{k}": v for k, v in state["arrays"].items()}}
        container.write_container(path, _file_meta(self.codec, len(self), self.metadata), arrays)
        return path


def _int8_parts(codec: Codec, codes: np.ndarray, suffix: str) -> tuple[np.ndarray, np.ndarray]:
    if not (type(codec) is Int8 and codec.group is None):
        raise VectroError(
            f"the {suffix} layout holds per-vector int8 codes only; save codec {codec.spec!r} as .vectro"
        )
    q, scales = codec.split(codes)
    return q, scales.reshape(-1)


def _file_meta(codec: Codec, n: int, metadata: dict) -> dict:
    from . import __version__

    return {
        "format": "vectro",
        "codec": {"spec": codec.spec, "dim": codec.dim_},
        "n": n,
        "dim": codec.dim_,
        "bytes_per_vector": codec.bytes_per_vector(codec.dim_),
        "metric": metadata.get("metric", "cosine"),
        "source_dtype": metadata.get("source_dtype", "float32"),
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "vectro_version": __version__,
        "user": metadata.get("user", {}),
    }


def compress(X, codec: str | Codec = "int8", *, metric: str = "cosine", fit_rows: int = FIT_ROWS,
             seed: int = 0, progress: Progress | None = None,
             fit_progress: Progress | None = None) -> Compressed:
    """Compress float vectors X (n, d) with a codec spec such as "int8", "float16" or "pca:128+int8".

    Trainable codecs learn from a sample of at most `fit_rows` rows; `seed` drives every random
    choice of the fit (the sample, PCA's rows, rq's rotation, k-means). A fitted Codec passed in
    is used as it is, and an unfitted one is cloned first: the caller's object never changes.
    `progress(done, total)` is called after each block, `fit_progress(done, total)` after each
    step of a fit that takes many (k-means sub-spaces, OPQ iterations). Returns a `Compressed`
    holding the codes and the fitted codec.
    """
    _check_metric(metric)
    source_dtype = np.asarray(X).dtype.name if hasattr(X, "dtype") else "float32"
    X = as_matrix(X, "X", finite=False)  # the encoders check NaN/Inf in their own pass
    codec = _fitted(codec, X.shape[1], lambda: sample(X, fit_rows, seed), lambda: X[:1], seed, fit_progress)
    codes = np.empty((len(X), codec.bytes_per_vector(X.shape[1])), dtype=np.uint8)
    step = _aligned(BLOCK_ROWS, codec)
    for start in range(0, len(X), step):  # each block encoded straight into its rows of codes
        codec.encode(X[start : start + step], out=codes[start : start + step], first_row=start)
        if progress:
            progress(min(start + step, len(X)), len(X))
    return Compressed(codec, codes, {"metric": metric, "source_dtype": source_dtype})


def _fitted(codec: str | Codec, dim: int, fit_sample, first_row, seed: int,
            progress: Progress | None = None) -> Codec:
    """The codec to encode with: a fitted Codec as it is (never refitted, never changed); otherwise
    a new or cloned codec, fitted on fit_sample() when it learns from data, else on first_row()."""
    codec = own_codec(codec, dim)
    if not codec.is_fitted:
        codec.fit(fit_sample() if codec.trainable else first_row(), seed=seed, progress=progress)
    return codec


def compress_file(src, dst, codec: str | Codec = "int8", *, column: str | None = None,
                  metric: str = "cosine", block_rows: int = 65536, fit_rows: int = FIT_ROWS,
                  seed: int = 0, progress: Progress | None = None,
                  fit_progress: Progress | None = None) -> Compressed:
    """Compress an embeddings file into `dst`, block by block: peak memory is independent of n.

    Memory is bounded by about block_rows x d x 12 bytes plus the fit sample; the input is read
    twice at most (once for the fit sample of trainable codecs, once to encode). Nothing is left
    at `dst` if any block fails (for example a NaN in row 10,000,001).
    """
    _check_metric(metric)
    source = open_vectors(src, column)
    codec = _fitted(codec, source.dim, lambda: source.sample(fit_rows, seed), lambda: next(source.blocks(1))[1], seed,
                    fit_progress)
    meta = {"metric": metric, "source_dtype": source.dtype}
    dst = Path(dst)
    if dst.suffix.lower() in (".npz", ".vqz"):
        codes = np.empty((source.n, codec.bytes_per_vector(source.dim)), dtype=np.uint8)
        for start, block in _blocks(source, _aligned(block_rows, codec), progress):
            codec.encode(block, out=codes[start : start + len(block)], first_row=start)
        compressed = Compressed(codec, codes, meta)
        compressed.save(dst)
        return compressed
    write_codes(source, dst, codec, meta, block_rows, progress)
    return load(dst)


def write_codes(source: VectorSource, dst, codec: Codec, metadata: dict, block_rows: int = 65536,
                progress: Progress | None = None) -> None:
    """Encode every row of `source` with the fitted `codec` into a .vectro file at `dst`, atomically.

    The unit of work both `compress_file` and the sharded compressor (`vectro.shards`) run: a
    source here is a whole file or one shard (a file, or a row range of one).
    """
    state = codec.state()["arrays"]
    sections = [container.Section("codes", "|u1", (source.n, codec.bytes_per_vector(source.dim)))]
    sections += [container.Section(f"state/{k}", np.asarray(v).dtype.str, np.shape(v)) for k, v in state.items()]
    with container.ContainerWriter(dst, _file_meta(codec, source.n, metadata), sections) as writer:
        for name, value in state.items():
            writer.write(f"state/{name}", np.asarray(value))
        rows = _aligned(block_rows, codec)
        buffer = np.empty((min(rows, source.n), codec.bytes_per_vector(source.dim)), dtype=np.uint8)
        for start, block in _blocks(source, rows, progress):  # one code buffer, reused per block
            writer.write("codes", codec.encode(block, out=buffer[: len(block)], first_row=start))


def _aligned(rows: int, codec: Codec) -> int:
    """`rows` rounded up to a multiple of the codec's batch_rows: then every block starts where a
    batch of the whole array's encode starts, so the codes do not depend on the block size."""
    unit = max(1, codec.batch_rows)
    return -(-rows // unit) * unit


def _blocks(source: VectorSource, rows: int, progress: Progress | None):
    for start, block in source.blocks(rows):
        yield start, block
        if progress:
            progress(start + len(block), source.n)


def decompress_file(src, dst, progress: Progress | None = None) -> Path:
    """Decode a compressed file into a float32 .npy at `dst`, block by block and atomically."""
    compressed = load(src)
    dst = Path(dst)
    fd, tmp = container.atomic_target(dst)
    os.close(fd)
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(compressed), compressed.dim))
        compressed.decompress(progress, out=out)
        out.flush()
        del out
        with open(tmp, "rb+") as f:
            container.commit(f, tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dst


def load(path, mmap: bool = True, verify: bool = True) -> Compressed:
    """Open a compressed file: `.vectro` (memory-mapped codes), a seed/v2 Vectro `.npz` or `.vqz`, or a
    sharded dataset (a folder holding manifest.json, or the manifest itself) as one `ShardedCompressed`.
    An fsspec URL (s3://...) reads a `.vectro` file by range requests."""
    if remote.is_url(path):
        return _from_container(*remote.read_container(str(path), verify=verify))
    path = Path(path)
    if not path.exists():
        raise VectroError(f"{path} does not exist")
    if (path.is_dir() and (path / "manifest.json").is_file()) or path.name == "manifest.json":
        from .shards import load_manifest  # a sharded dataset: shards.py builds on this module

        return load_manifest(path, mmap=mmap, verify=verify)
    if path.is_dir():
        raise VectroError(f"{path} is a directory, not a compressed file")
    with open(path, "rb") as f:
        head = f.read(8)
    if head == container.MAGIC:
        return _from_container(*container.read_container(path, mmap=mmap, verify=verify))
    if head.startswith(legacy.NPZ_MAGIC):
        artifact = legacy.read_npz(path)
    elif head == legacy.VQZ_MAGIC:
        artifact = legacy.read_vqz(path)
    else:
        raise FormatError(f"{path} is not a vectro file (.vectro, Vectro .npz or .vqz); it starts with {head!r}")
    codec = Int8()
    codec.dim_ = artifact.q.shape[1]
    codes = np.empty((len(artifact.q), codec.bytes_per_vector(codec.dim_)), dtype=np.uint8)
    codes[:, : codec.dim_] = artifact.q.view(np.uint8)
    codes[:, codec.dim_ :] = artifact.scales.astype("<f4").view(np.uint8).reshape(-1, 4)
    return Compressed(codec, codes, {"metric": "cosine", "format": artifact.kind, "user": artifact.metadata})


def _from_container(header: dict, arrays: dict) -> Compressed:
    state = {"spec": header["codec"]["spec"], "dim": header["codec"]["dim"],
             "arrays": {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("state/")}}
    codec = Codec.from_state(state)
    meta = {"metric": header.get("metric", "cosine"), "source_dtype": header.get("source_dtype"),
            "format": "vectro", "header": header, "user": header.get("user", {})}
    return Compressed(codec, arrays["codes"], meta)
