"""The seed Vectro's API, so code written for Vectro runs unchanged on `import vectro`.

    out = vectro.quantize_embeddings(X)              # int8, one scale per vector
    out["q"], out["scales"], out["dims"]             # the MVP's mapping keys
    out.quantized, out.scales, out.dims, out.n       # the later named-tuple API
    X_hat = vectro.reconstruct_embeddings(out)       # or (q, scales, dims)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._validation import as_matrix
from .codecs.scalar import Int4, Int8
from .errors import VectroError

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
        raise VectroError(f"unknown precision_mode {precision_mode!r}; choose 'int8' or 'int4'")
    codec.dim_ = dims
    return codec


def quantize_embeddings(embeddings, backend: str = "auto", precision_mode: str = "int8",
                        group_size: int = 64) -> QuantizationResult:
    """Quantise (n, d) embeddings: int8 with one abs-max scale per vector, or int4 per group.

    `backend` is accepted for compatibility ("auto", "numpy", or a fast backend name); vectro picks
    its fastest available kernels, and the codes are identical on every backend.
    """
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
    """Float32 (n, d) from a QuantizationResult, or from int8 codes q (n, d), scales (n,) and dims."""
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


__all__ = ["QuantizationResult", "quantize_embeddings", "reconstruct_embeddings"]
