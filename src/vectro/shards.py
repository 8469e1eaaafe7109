"""A dataset in shards: one .vectro file per shard, tied into one dataset by `OUT/manifest.json`.

A shard is a file of vectors, or a row range of one large `.npy`. The unit of work is
`compress_shard(shard, dst, codec)`: open that shard, encode it with a codec fitted beforehand,
write one `.vectro` file atomically (the same `write_codes` that `compress_file` runs).
`compress_shards` plans, fits once on a seeded sample gathered across shards, runs that unit per
shard through a `Runner` (in this process by default; `vectro.distributed` runs it on Dask
workers), and writes the manifest last, so a manifest never names a shard that is not complete.

    packed = vectro.shards.compress_shards("embeddings/", "out/", "pq:48", seed=7)
    packed = vectro.load("out/")            # a ShardedCompressed: len, decompress, score, evaluate
"""

from __future__ import annotations

import datetime as _dt
import glob
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .codecs.base import Codec, own_codec
from .compressed import FIT_ROWS, Compressed, Progress, _check_metric, load, write_codes
from .errors import FormatError, VectroError
from .format import container
from .format.inputs import ArraySource, VectorSource, open_vectors
from ._util import sample_rows

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "vectro-manifest"
#: rows per shard when a large .npy is split into row ranges
SHARD_ROWS = 1_000_000
SHARD_SUFFIXES = (".npy", ".npz", ".parquet", ".arrow")


@dataclass(frozen=True)
class Shard:
    """Rows [start, stop) of the vectors in one file (`path` absolute, so every worker finds it)."""

    path: str
    start: int
    stop: int
    column: str | None = None

    @property
    def n(self) -> int:
        return self.stop - self.start

    def __str__(self) -> str:
        return f"{self.path} rows {self.start}..{self.stop - 1}"

    def open(self) -> VectorSource:
        """The shard's rows as a source; errors name the row of the file."""
        source = open_vectors(self.path, self.column)
        if (self.start, self.stop) == (0, source.n):
            return source
        if not isinstance(source, ArraySource) or self.stop > source.n:
            raise VectroError(f"cannot read {self}: row ranges need an .npy or .npz of at least {self.stop} rows")
        part = ArraySource(Path(self.path), source.array[self.start : self.stop])
        part.first_row = self.start
        return part


def _natural(path: Path) -> list:
    """Sort key that puts part-2 before part-10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def list_shards(source, column: str | None = None, shard_rows: int = SHARD_ROWS) -> list[Shard]:
    """The shards of `source`: a folder of .npy/.npz/.parquet/.arrow files, a glob, or one file.

    Files are taken in natural name order; each .npy/.npz is split into row ranges of at most
    `shard_rows` rows (Parquet/Arrow files are one shard each). Every shard must have the same dimension.
    """
    if not isinstance(shard_rows, (int, np.integer)) or shard_rows < 1:
        raise VectroError(f"shard_rows must be a positive integer, got {shard_rows!r}")
    text = str(source)
    if any(ch in text for ch in "*?["):
        files = sorted((Path(p) for p in glob.glob(text) if Path(p).is_file()), key=_natural)
        if not files:
            raise VectroError(f"no files match {text}")
    else:
        path = Path(source)
        if not path.exists():
            raise VectroError(f"input {path} does not exist")
        if path.is_dir():
            files = sorted((f for f in path.iterdir() if f.suffix.lower() in SHARD_SUFFIXES
                            and not f.name.startswith(".")), key=_natural)
            if not files:
                raise VectroError(f"{path} holds no {', '.join(SHARD_SUFFIXES)} files to use as shards")
        else:
            files = [path]
    shards, dim = [], None
    for file in files:
        opened = open_vectors(file, column)
        if dim is not None and opened.dim != dim:
            raise VectroError(f"{file} holds {opened.dim}-d vectors but {files[0]} holds {dim}-d; shards must agree")
        dim = opened.dim
        step = shard_rows if isinstance(opened, ArraySource) else opened.n
        name = str(file.resolve())
        shards += [Shard(name, s, min(s + step, opened.n), column) for s in range(0, opened.n, step)]
    return shards


def read_rows(shard: Shard, rows: np.ndarray) -> np.ndarray:
    """Rows of `shard` (int, ascending, counted from the shard's first row) as float32 (len(rows), d)."""
    return shard.open().take(np.asarray(rows, dtype=np.int64))


def codec_digest(codec: Codec) -> str:
    """SHA-256 of a fitted codec's spec, dimension and learned arrays: equal digests, equal codes."""
    state = codec.state()
    digest = hashlib.sha256(f"{state['spec']}|{state['dim']}".encode())
    for name in sorted(state["arrays"]):
        array = np.ascontiguousarray(state["arrays"][name])
        digest.update(f"|{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.view(np.uint8).reshape(-1))
    return digest.hexdigest()


def header_crc32(path) -> str:
    """The CRC-32 of a .vectro file's header, which lists the CRC-32 of every section: one checksum per file."""
    with open(path, "rb") as f:
        prelude = f.read(container.PRELUDE.size)
    if len(prelude) < container.PRELUDE.size or prelude[:8] != container.MAGIC:
        raise FormatError(f"{path} is not a .vectro file")
    return f"{container.PRELUDE.unpack(prelude)[4]:08x}"


@dataclass(frozen=True)
class ShardTask:
    """What one worker needs to produce one shard file: paths and numbers, never the vectors."""

    shard: Shard
    dst: str
    stamp: dict  # written into the shard's header; a rerun reuses the file only if it matches


def _shard_result(task: ShardTask, skipped: bool) -> dict:
    return {"file": Path(task.dst).name, "source": task.shard.path, "rows": [task.shard.start, task.shard.stop],
            "n": task.shard.n, "file_bytes": os.path.getsize(task.dst), "header_crc32": header_crc32(task.dst),
            "skipped": skipped}


def finished_shard(task: ShardTask) -> dict | None:
    """The result of an earlier run of `task` if its file exists, verifies and matches the stamp, else None."""
    if not os.path.exists(task.dst):
        return None
    try:
        header, _ = container.read_container(task.dst, mmap=True, verify=True)
    except (VectroError, OSError, ValueError):
        return None  # corrupt or foreign: compress it again
    if header.get("user", {}).get("shard") != task.stamp or header.get("n") != task.shard.n:
        return None
    return _shard_result(task, skipped=True)


def compress_shard(shard: Shard, dst, codec: Codec, metric: str = "cosine", block_rows: int = 65536,
                   stamp: dict | None = None) -> None:
    """Encode one shard with a fitted codec into the .vectro file `dst`, atomically.

    An input error names the shard and the row of its file, e.g. "shard shard-00003
    (/data/part-3.npy rows 0..499999): /data/part-3.npy row 1234 holds nan at dimension 0 ...".
    """
    try:
        source = shard.open()
        meta = {"metric": metric, "source_dtype": source.dtype, "user": {"shard": stamp or {}}}
        write_codes(source, dst, codec, meta, block_rows)
    except VectroError as exc:
        raise VectroError(f"shard {Path(dst).stem} ({shard}): {exc}") from None


def run_shard_task(task: ShardTask, state: dict, block_rows: int = 65536, resume: bool = True) -> dict:
    """Worker side: skip the shard if a verified earlier output exists, else compress it. Returns its manifest entry."""
    if resume:
        done = finished_shard(task)
        if done is not None:
            return done
    codec = Codec.from_state(state)
    compress_shard(task.shard, task.dst, codec, task.stamp["metric"], block_rows, task.stamp)
    return _shard_result(task, skipped=False)


class Runner:
    """Runs one function over many items, in this process; `vectro.distributed` supplies a Dask one.

    `map(fn, items, shared, progress)` returns [fn(item, shared) for item in items] in order, calling
    `progress(done, total)` as items finish; the first error propagates. `shared` is what a cluster
    would broadcast once (a fitted codec's state, the queries).
    """

    def map(self, fn: Callable, items: Sequence, shared: Any = None, progress: Progress | None = None) -> list:
        results = []
        for done, item in enumerate(items, 1):
            results.append(fn(item, shared))
            if progress:
                progress(done, len(items))
        return results


def _take_rows(item, _shared):
    shard, rows = item
    return read_rows(shard, rows)


def gather_sample(shards: list[Shard], rows: int, seed: int, runner: Runner | None = None) -> np.ndarray:
    """The seeded sample `compress_file` would draw from the shards concatenated, read shard by shard.

    float32 (min(n, rows), d), in dataset order: the same rows `sample_rows(n, rows, seed)` picks.
    """
    return gather_rows(shards, sample_rows(sum(s.n for s in shards), rows, seed), runner)


def gather_rows(shards: list[Shard], keep: np.ndarray, runner: Runner | None = None) -> np.ndarray:
    """Dataset rows `keep` (int, ascending) of the shards concatenated, each shard reading its own: float32 (len(keep), d)."""
    runner = runner or Runner()
    offsets = np.cumsum([0] + [s.n for s in shards])
    picks = []
    for shard, first, last in zip(shards, offsets[:-1], offsets[1:]):
        local = keep[(keep >= first) & (keep < last)] - first
        if len(local):
            picks.append((shard, local))
    return np.concatenate(runner.map(_take_rows, picks))


def fit_on_shards(codec: str | Codec, shards: list[Shard], fit_rows: int = FIT_ROWS, seed: int = 0,
                  runner: Runner | None = None) -> Codec:
    """Fit a codec once for all shards: trainable codecs on the seeded sample, others learn the dimension.
    A fitted Codec is used as it is; an unfitted one is cloned (the caller's object never changes)."""
    codec = own_codec(codec)
    if codec.is_fitted:
        return codec
    if codec.trainable:
        return codec.fit(gather_sample(shards, fit_rows, seed, runner), seed=seed)
    return codec.fit(read_rows(shards[0], np.array([0])), seed=seed)


def _run_task(task: ShardTask, shared: dict) -> dict:
    return run_shard_task(task, shared["state"], shared["block_rows"], shared["resume"])


def compress_shards(source, out, codec: str | Codec = "int8", *, column: str | None = None, metric: str = "cosine",
                    shard_rows: int = SHARD_ROWS, block_rows: int = 65536, fit_rows: int = FIT_ROWS, seed: int = 0,
                    resume: bool = True, runner: Runner | None = None,
                    progress: Progress | None = None) -> "ShardedCompressed":
    """Compress `source` (see `list_shards`) into one .vectro per shard in the folder `out`, then `out/manifest.json`.

    The codes equal those of `compress_file` on the same rows with the same seed, byte for byte.
    With `resume`, shards whose files exist, verify and were made by the same fitted codec are kept.
    On any error no manifest is left in `out` (an older one is removed first).
    """
    _check_metric(metric)
    runner = runner or Runner()
    shards = list_shards(source, column, shard_rows)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise VectroError(f"cannot write shards into {out}: it is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    fd, probe = container.atomic_target(manifest_path)  # fail now, not after the work, if out is not writable
    os.close(fd)
    os.unlink(probe)
    if manifest_path.exists():
        manifest_path.unlink()  # from here on the folder is a job in progress, never a stale dataset
    fitted = fit_on_shards(codec, shards, fit_rows, seed, runner)
    digest = codec_digest(fitted)
    width = len(str(len(shards) - 1))
    tasks = [ShardTask(shard, str(out / f"shard-{i:0{max(5, width)}d}.vectro"),
                       {"source": shard.path, "rows": [shard.start, shard.stop], "codec_sha256": digest, "metric": metric})
             for i, shard in enumerate(shards)]
    shared = {"state": fitted.state(), "block_rows": block_rows, "resume": resume}
    results = runner.map(_run_task, tasks, shared, progress)
    write_manifest(out, fitted, digest, results, {"metric": metric, "seed": seed, "fit_rows": fit_rows,
                                                  "source": str(source), "column": column,
                                                  "source_dtype": open_vectors(shards[0].path, column).dtype})
    return load_manifest(out)


def write_manifest(out: Path, codec: Codec, digest: str, results: list[dict], meta: dict) -> Path:
    """Write `out/manifest.json` atomically, listing every shard file in dataset order."""
    from . import __version__

    first = 0
    shards = []
    for result in results:
        entry = {k: v for k, v in result.items() if k != "skipped"}
        shards.append({**entry, "first_row": first})
        first += result["n"]
    manifest = {
        "format": MANIFEST_FORMAT, "manifest_version": 1, "n": first, "dim": codec.dim_,
        "codec": {"spec": codec.spec, "dim": codec.dim_, "sha256": digest},
        "bytes_per_vector": codec.bytes_per_vector(codec.dim_), **meta,
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "vectro_version": __version__, "shards": shards,
    }
    path = out / MANIFEST
    with container.atomic_file(path) as f:
        f.write(json.dumps(manifest, indent=1).encode())
    return path


def is_manifest(path) -> bool:
    path = Path(path)
    return (path.is_dir() and (path / MANIFEST).is_file()) or (path.is_file() and path.name == MANIFEST)


def read_manifest(path) -> tuple[Path, dict]:
    """(folder, manifest dict) of a sharded dataset given its folder or its manifest.json."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise FormatError(f"{folder / MANIFEST} is not a readable manifest: {exc}") from exc
    if manifest.get("format") != MANIFEST_FORMAT:
        raise FormatError(f"{folder / MANIFEST} is not a vectro manifest (format {manifest.get('format')!r})")
    return folder, manifest


def manifest_shards(manifest: dict) -> list[Shard]:
    """The source shards a manifest was compressed from, in dataset order."""
    return [Shard(e["source"], e["rows"][0], e["rows"][1], manifest.get("column")) for e in manifest["shards"]]


def load_manifest(path, mmap: bool = True, verify: bool = True) -> "ShardedCompressed":
    """Open a sharded dataset; `verify` checks every shard's checksums and that it is the file the manifest names."""
    folder, manifest = read_manifest(path)
    parts = []
    for entry in manifest["shards"]:
        file = folder / entry["file"]
        part = load(file, mmap=mmap, verify=verify)
        if len(part) != entry["n"] or (verify and header_crc32(file) != entry["header_crc32"]):
            raise FormatError(f"{file} is not the shard {folder / MANIFEST} lists (rows or checksum differ)")
        parts.append(part)
    if verify and any(codec_digest(p.codec) != manifest["codec"]["sha256"] for p in parts):
        raise FormatError(f"the shards of {folder} were not all encoded by the codec its manifest names")
    return ShardedCompressed(parts, manifest, folder)


class ShardedCompressed(Compressed):
    """The shards of a manifest as one dataset: rows in manifest order, one codec.

    `decompress` and `score` go shard by shard over memory-mapped codes; `codes` concatenates
    every shard into one array in RAM (what single-array consumers such as `evaluate` need).
    """

    def __init__(self, parts: list[Compressed], manifest: dict, folder: Path):
        metadata = {"metric": manifest.get("metric", "cosine"), "source_dtype": manifest.get("source_dtype"),
                    "format": MANIFEST_FORMAT, "manifest": manifest, "folder": str(folder)}
        super().__init__(parts[0].codec, None, metadata)
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(p) for p in parts])
        self._codes = None

    @property
    def codes(self) -> np.ndarray:
        if self._codes is None:
            self._codes = np.concatenate([np.asarray(p.codes) for p in self.parts])
        return self._codes

    @codes.setter
    def codes(self, value) -> None:
        self._codes = value

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def nbytes(self) -> int:
        state = sum(np.asarray(a).nbytes for a in self.codec.state()["arrays"].values())
        return sum(int(p.codes.nbytes) for p in self.parts) + state

    def decompress(self, progress: Progress | None = None, out: np.ndarray | None = None) -> np.ndarray:
        if out is None:
            out = np.empty((len(self), self.dim), dtype=np.float32)
        for part, start, stop in zip(self.parts, self.offsets[:-1], self.offsets[1:]):
            part.decompress(out=out[start:stop])
            if progress:
                progress(int(stop), len(self))
        return out

    def score(self, queries) -> np.ndarray:
        out = None
        for part, start, stop in zip(self.parts, self.offsets[:-1], self.offsets[1:]):
            scores = part.score(queries)
            if out is None:
                out = np.empty((len(scores), len(self)), dtype=np.float32)
            out[:, start:stop] = scores
        return out

    def __repr__(self) -> str:
        return (f"ShardedCompressed(codec={self.codec.spec!r}, n={len(self)}, dim={self.dim}, "
                f"shards={len(self.parts)}, {self.bytes_per_vector} B/vector)")


__all__ = ["Shard", "ShardTask", "ShardedCompressed", "Runner", "list_shards", "compress_shard", "compress_shards",
           "fit_on_shards", "gather_rows", "gather_sample", "manifest_shards", "load_manifest", "read_manifest", "write_manifest", "is_manifest"]
