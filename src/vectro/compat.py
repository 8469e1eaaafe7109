"""The seed Vectro's API, so code written for Vectro runs unchanged on `import vectro`.

    out = vectro.quantize_embeddings(X)              # int8, one scale per vector
    out["q"], out["scales"], out["dims"]             # the MVP's mapping keys
    out.quantized, out.scales, out.dims, out.n       # the later named-tuple API
    X_hat = vectro.reconstruct_embeddings(out)       # or (q, scales, dims), or the tuple as one argument

The seed's own import path works too: `from vectro.python.interface import reconstruct_embeddings`.
Vectro's later releases' common names are thin aliases over vectro's API (see ALIASES below):
`compress_vectors`, `decompress_vectors`, `save_compressed`, `load_compressed`, `quantize_nf4`,
`dequantize_nf4`, `quantize_binary`, `dequantize_binary`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._validation import as_matrix
from .codecs.scalar import Int4, Int8
from .errors import VectroError

SEED_MODES = ("int8", "int4")
# what the later releases' profile names applied (their profiles_api: all INT8 but ultra)
LATER_RELEASE_PROFILES = {"fast": "int8", "balanced": "int8", "quality": "int8", "ultra": "int4", "binary": "binary"}

_MAPPING_KEYS = {"q": "quantized", "quantized": "quantized", "scales": "scales", "dims": "dims", "n": "n",
                 "precision_mode": "precision_mode", "group_size": "group_size"}


class _Result(NamedTuple):
    quantized: np.ndarray
    scales: np.ndarray
    dims: int
    n: int
    precision_mode: str
    group_size: int


class QuantizationResult(_Result):
    """A named tuple that also answers the seed's mapping keys (`q`, `scales`, `dims`).

    int8: quantized int8 (n, d), scales float32 (n,). int4: quantized uint8 (n, ceil(d/2)) with
    two codes per byte (low nibble first, stored as code + 8), scales float32 (n, ceil(d/group_size)).
    """

    __slots__ = ()

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in _MAPPING_KEYS:
                raise KeyError(key)
            return getattr(self, _MAPPING_KEYS[key])
        return super().__getitem__(key)

    def keys(self):
        return ["q", "scales", "dims", "n", "precision_mode", "group_size"]

    def get(self, key, default=None):
        return self[key] if key in _MAPPING_KEYS else default

    def __contains__(self, key):
        return key in _MAPPING_KEYS if isinstance(key, str) else super().__contains__(key)


def _codec(precision_mode: str, group_size: int, dims: int):
    if precision_mode == "int8":
        codec = Int8()
    elif precision_mode == "int4":
        if not isinstance(group_size, (int, np.integer)) or group_size < 1:
            raise VectroError(f"group_size must be a positive integer, got {group_size!r}")
        codec = Int4(str(group_size))
    else:
        from .codecs.base import registered_codecs

        if str(precision_mode).split(":")[0] in registered_codecs():
            raise VectroError(f"precision_mode={precision_mode!r} is not one of the seed's modes {SEED_MODES}; "
                              f"vectro has that codec: vectro.compress(X, codec={precision_mode!r})")
        raise VectroError(f"unknown precision_mode {precision_mode!r}; choose 'int8' or 'int4' "
                          "(other codecs: vectro.compress(X, codec=...), listed by `vectro codecs`)")
    codec.dim_ = dims
    return codec


def _check_backend(backend: str) -> None:
    """Accept 'auto' and the backends that exist here; refuse the seed's others (mojo, cython, ...)."""
    from .backend import get_backend_info

    available = get_backend_info()["available_backends"]
    if backend != "auto" and backend not in available:
        raise VectroError(f"backend {backend!r} does not exist here; choose 'auto' or one of {available} "
                          "(every backend gives identical codes)")


def quantize_embeddings(embeddings, backend: str = "auto", precision_mode: str = "int8",
                        group_size: int = 64) -> QuantizationResult:
    """Quantise (n, d) embeddings: int8 with one abs-max scale per vector, or int4 per group.

    `backend` is "auto" or one of `get_backend_info()["available_backends"]` (others are refused);
    vectro picks its fastest available kernels, and the codes are identical on every backend.
    """
    _check_backend(backend)
    X = as_matrix(embeddings, "embeddings")
    n, dims = X.shape
    codec = _codec(precision_mode, group_size, dims)
    codes = codec.encode(X)
    values, scales = codec.split(codes)
    if precision_mode == "int8":
        return QuantizationResult(values.copy(), scales.reshape(-1).copy(), dims, n, "int8", group_size)
    packed = codes[:, : -(-dims // 2)].copy()
    return QuantizationResult(packed, scales.copy(), dims, n, "int4", group_size)


def reconstruct_embeddings(q, scales=None, dims=None, backend: str = "auto") -> np.ndarray:
    """Float32 (n, d) from a QuantizationResult, or from int8 codes q (n, d), scales (n,) and dims
    (given apart, or as one tuple `(q, scales, dims)`)."""
    _check_backend(backend)
    if isinstance(q, tuple) and not isinstance(q, QuantizationResult) and scales is None:
        if len(q) not in (2, 3):
            raise VectroError(f"reconstruct_embeddings takes a tuple (q, scales[, dims]); got {len(q)} items")
        q, scales, dims = (*q, None)[:3]
    if isinstance(q, QuantizationResult):
        result = q
    else:
        if scales is None:
            raise VectroError("reconstruct_embeddings needs scales (or a QuantizationResult)")
        q = np.asarray(q)
        scales = np.asarray(scales, dtype=np.float32)
        dims = q.shape[-1] if dims is None else int(dims)
        if q.ndim != 2 or q.shape[1] != dims or scales.reshape(-1).shape[0] != len(q):
            raise VectroError(f"codes {q.shape}, scales {scales.shape} and dims={dims} do not fit together")
        result = QuantizationResult(q, scales.reshape(-1), dims, len(q), "int8", 0)
    codec = _codec(result.precision_mode, result.group_size or 64, result.dims)
    if result.precision_mode == "int8":
        return np.asarray(result.quantized, dtype=np.float32) * np.asarray(result.scales, np.float32)[:, None]
    scales = np.asarray(result.scales, dtype="<f4").reshape(result.n, -1)
    codes = np.hstack([np.asarray(result.quantized, np.uint8), scales.view(np.uint8).reshape(result.n, -1)])
    return codec.decode(codes)


def later_release_profile_note(name: str) -> str | None:
    """Say what a profile applies when Vectro's later releases used the same name for another codec."""
    from .codecs.profiles import PROFILES

    here, there = PROFILES.get(name.lower()), LATER_RELEASE_PROFILES.get(name.lower())
    if here is None or there is None or here.codec == there:
        return None
    return (f"profile {name!r} applies {here.codec} here; in Vectro's later releases it meant {there} "
            f"(for that, use --codec {there})")


# ----- Vectro's later releases' names: thin aliases -------------------------------------------------
def compress_vectors(vectors, codec: str = "int8", **options):
    """Alias of `vectro.compress(vectors, codec=...)` (later releases' name); returns a `Compressed`."""
    from .compressed import compress

    if "profile" in options or "precision_mode" in options:
        raise VectroError("compress_vectors takes codec=..., e.g. codec='int8' or 'nf4' (see `vectro codecs`)")
    return compress(vectors, codec, **options)


def decompress_vectors(result) -> np.ndarray:
    """Float32 (n, d) from a `Compressed` or a `QuantizationResult` (later releases' name)."""
    if isinstance(result, QuantizationResult):
        return reconstruct_embeddings(result)
    return result.decompress()


def save_compressed(result, path, metadata: dict | None = None):
    """Alias of `Compressed.save(path)`: `.vectro` for any codec, `.npz`/`.vqz` for int8 (later releases' name).

    `metadata` (a JSON-able dict) is stored in the `.vectro` header's "user" field.
    """
    from .compressed import Compressed

    if isinstance(result, QuantizationResult):
        if result.precision_mode != "int8":
            raise VectroError("save_compressed stores int8 QuantizationResults; use vectro.compress for other codecs")
        codec = _codec("int8", 0, result.dims)
        codes = np.hstack([np.asarray(result.quantized, np.int8).view(np.uint8),
                           np.asarray(result.scales, "<f4").reshape(-1, 1).view(np.uint8)])
        result = Compressed(codec, codes, {"metric": "cosine"})
    if not isinstance(result, Compressed):
        raise VectroError(f"save_compressed takes a Compressed or QuantizationResult, got {type(result).__name__}")
    if metadata:
        result = Compressed(result.codec, result.codes, {**result.metadata, "user": dict(metadata)})
    return result.save(path)


def load_compressed(path):
    """Alias of `vectro.load(path)` (later releases' name): `.vectro`, Vectro `.npz` or `.vqz`."""
    from .compressed import load

    return load(path)


def quantize_nf4(vectors) -> tuple[np.ndarray, np.ndarray]:
    """NF4 codes as the later releases returned them: packed uint8 (n, ceil(d/2)), scales float32 (n,).

    The 16 QLoRA levels on a per-vector abs-max scale (vectro's `nf4` codec); two codes per byte,
    first dimension in the low nibble.
    """
    return _split_scaled("nf4", vectors)


def dequantize_nf4(packed, scales, dims: int) -> np.ndarray:
    """Float32 (n, dims) from `quantize_nf4`'s packed codes and scales."""
    return _join_scaled("nf4", packed, scales, dims)


def quantize_binary(vectors, normalize: bool = True) -> np.ndarray:
    """Sign bits packed 8 per byte, first dimension in the lowest bit: uint8 (n, ceil(d/8)).

    `normalize` is accepted for compatibility (a vector's signs do not depend on its length).
    """
    from .codecs.binary import Binary

    X = as_matrix(vectors, "vectors")
    return Binary().fit(X[:1]).encode(X)


def dequantize_binary(packed, dims: int) -> np.ndarray:
    """+1/-1 float32 (n, dims) from `quantize_binary`'s bits."""
    bits = np.unpackbits(np.asarray(packed, np.uint8), axis=1, count=int(dims), bitorder="little")
    return bits.astype(np.float32) * 2 - 1


def _split_scaled(spec: str, vectors) -> tuple[np.ndarray, np.ndarray]:
    from .codecs.base import make_codec

    X = as_matrix(vectors, "vectors")
    codes = make_codec(spec).fit(X[:1]).encode(X)
    packed_bytes = codes.shape[1] - 4  # then one little-endian float32 scale per vector
    return codes[:, :packed_bytes].copy(), codes[:, packed_bytes:].copy().view("<f4")[:, 0].copy()


def _join_scaled(spec: str, packed, scales, dims: int) -> np.ndarray:
    from .codecs.base import make_codec

    packed = np.asarray(packed, np.uint8)
    scales = np.asarray(scales, "<f4").reshape(-1, 1)
    if len(packed) != len(scales):
        raise VectroError(f"{len(packed)} rows of codes but {len(scales)} scales")
    codec = make_codec(spec).fit(np.zeros((1, int(dims)), np.float32))
    return codec.decode(np.hstack([packed, scales.view(np.uint8)]))


# the later releases' names, each with the vectro call it stands for (README "Coming from Vectro")
ALIASES = {
    "compress_vectors": "vectro.compress(X, codec=...)",
    "decompress_vectors": "Compressed.decompress()",
    "save_compressed": "Compressed.save(path)",
    "load_compressed": "vectro.load(path)",
    "quantize_nf4": "vectro.compress(X, 'nf4')",
    "dequantize_nf4": "Compressed.decompress()",
    "quantize_binary": "vectro.compress(X, 'binary')",
    "dequantize_binary": "Compressed.decompress()",
}

__all__ = ["QuantizationResult", "quantize_embeddings", "reconstruct_embeddings", *ALIASES]
