"""The Codec protocol, the codec registry and the spec-string parser.

A codec turns float vectors into fixed-size byte rows and back:

    codec = make_codec("int8").fit(X)        # fit learns what it needs (nothing, for int8)
    codes = codec.encode(X)                  # uint8 (n, codec.bytes_per_vector(d))
    X_hat = codec.decode(codes)              # float32 (n, d)
    S = codec.inner_products(Q, codes)       # float32 (nq, n), queries stay float (alias: codec.score)

Every code row has the same length, so files, indexes and mmaps never need to know which codec
wrote them. A codec subclass writes its kernels (`_encode_block`, `_decode_block`, optionally
`_score_block`); the base class checks inputs and walks large inputs block by block so memory
stays bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np

from .. import kernels
from .._validation import as_matrix, check_finite
from ..errors import VectroError

# Rows scored at once (large enough for efficient matrix products) and the unit of progress.
BLOCK_ROWS = 16384
# Float data an encode/decode kernel touches at once: small enough that its temporaries stay in
# the CPU cache, which makes the NumPy kernels 2-3x faster than whole-array operations.
KERNEL_BYTES = 1 << 20


# progress(done, total): called as long work advances, in whatever unit the work counts
Progress = Callable[[int, int], None]


def _quiet(done: int, total: int) -> None:
    """The progress callback of a caller that did not ask for one."""


def in_small_batches(score: Callable[[np.ndarray, np.ndarray], np.ndarray], Q: np.ndarray,
                     codes: np.ndarray) -> np.ndarray:
    """score(part, codes) over kernels.SMALL_BATCH queries of Q at a time, stacked: (nq, n). For codecs
    whose lookup tables or kernels for a few queries beat decoding a block, up to a batch size of their own."""
    step = kernels.SMALL_BATCH
    return np.concatenate([score(Q[at : at + step], codes) for at in range(0, len(Q), step)])


def kernel_rows(dim: int) -> int:
    return max(16, KERNEL_BYTES // (4 * max(dim, 1)))


@dataclass(frozen=True)
class StageSpec:
    """One stage of a spec string: `name` and its optional argument (`pq:8x4` -> ("pq", "8x4"))."""

    name: str
    arg: str | None = None

    def __str__(self) -> str:
        return self.name if self.arg is None else f"{self.name}:{self.arg}"


_STAGE = re.compile(r"^([a-z][a-z0-9_-]*)(?::([A-Za-z0-9_.=,x-]+))?$")


def parse_spec(spec: str) -> list[StageSpec]:
    """Split `pca:128+int8` into [StageSpec("pca", "128"), StageSpec("int8")] or raise VectroError."""
    if not isinstance(spec, str) or not spec.strip():
        raise VectroError(f"codec spec must be a non-empty string, got {spec!r}")
    stages = []
    for part in spec.strip().lower().split("+"):
        match = _STAGE.match(part.strip())
        if not match:
            raise VectroError(
                f"cannot parse codec spec {spec!r}: {part!r} is not of the form name or name:arg"
            )
        stages.append(StageSpec(match.group(1), match.group(2)))
    return stages


class Codec:
    """Base class of every codec. `__init__` stores arguments only; learned arrays end in `_`."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    #: a spec that builds this codec, for listings (codecs that need an argument override it)
    example: ClassVar[str] = ""
    #: whether `fit` learns from data (data-free codecs only record the dimension)
    trainable: ClassVar[bool] = False
    #: names of learned arrays saved with the codec state
    state_arrays: ClassVar[tuple[str, ...]] = ()
    #: the smallest number of rows `fit` accepts
    min_fit_rows: ClassVar[int] = 1
    #: rows the encoder computes together; a block that starts at a multiple of this encodes each row
    #: exactly as the whole array does (`compress` aligns its blocks to it)
    batch_rows: ClassVar[int] = 1

    def __init__(self, arg: str | None = None):
        if arg is not None:
            raise VectroError(f"codec {self.name!r} takes no argument, got {self.name}:{arg}")
        self.dim_: int | None = None

    # ----- identity -------------------------------------------------------------------------
    @property
    def spec(self) -> str:
        """The spec string that rebuilds this codec (before fitting)."""
        return self.name

    def __repr__(self) -> str:
        fitted = f", dim={self.dim_}" if self.dim_ is not None else ""
        return f"{type(self).__name__}({self.spec!r}{fitted})"

    def bytes_per_vector(self, dim: int) -> int:
        """Bytes one encoded vector of `dim` dimensions takes (known from the spec alone)."""
        raise NotImplementedError

    @property
    def is_fitted(self) -> bool:
        """Whether the codec can encode: fitted (or, data-free, its dimension known). FAISS's is_trained."""
        return self.dim_ is not None

    def clone(self) -> "Codec":
        """A new, unfitted codec with the same parameters (scikit-learn's `clone`)."""
        return make_codec(self.spec)

    # ----- fit / encode / decode / score ----------------------------------------------------
    def fit(self, X, seed: int = 0, progress: Progress | None = None) -> "Codec":
        """Learn what the codec needs from X (n, d); data-free codecs record the dimension only.

        `seed` drives every random choice the fit makes (row samples, rotations, k-means starts).
        Fits that take many steps (k-means per sub-space, OPQ iterations) call `progress(done,
        total)` after each one.
        """
        X = as_matrix(X, "X")
        if len(X) < self.min_fit_rows:
            raise VectroError(
                f"codec {self.spec!r} needs at least {self.min_fit_rows} training vectors, got {len(X)}"
            )
        self.dim_ = X.shape[1]
        self._seed = int(seed)
        self._fit(X, progress or _quiet)
        return self

    def _fit(self, X: np.ndarray, progress: Progress) -> None:
        """Learn state from float32 (n, d) (random choices seeded by `self._seed`); nothing by default."""

    def _check_fitted(self, dim: int | None = None) -> int:
        if self.dim_ is None:
            if self.trainable or dim is None:
                raise VectroError(f"codec {self.spec!r} is not fitted yet; call fit(X) first")
            self.dim_ = dim  # data-free codecs learn only the dimension, from the first input
        if dim is not None and dim != self.dim_:
            raise VectroError(f"X has {dim} dimensions, but codec {self.spec!r} was fitted on {self.dim_}")
        return self.dim_

    def encode(self, X, out: np.ndarray | None = None, *, first_row: int = 0) -> np.ndarray:
        """Encode float vectors (n, d) into uint8 codes (n, bytes_per_vector(d)).

        out: a C-contiguous uint8 (n, bytes_per_vector(d)) array (e.g. a slice of a larger code
        array or of a memory-mapped file) written in place and returned: no second copy.
        first_row: the row number of X[0] in error messages, for callers that encode block by block.
        """
        X = as_matrix(X, "X", finite=False)
        dim = self._check_fitted(X.shape[1])
        out = _output(out, (len(X), self.bytes_per_vector(dim)), np.uint8)
        bad_row = self._encode_fast(X, out) if kernels.available() else None
        if bad_row is not None:
            if bad_row >= 0:
                check_finite(X[bad_row : bad_row + 1], "X", row_offset=first_row + bad_row)
            return out
        rows = kernel_rows(dim)
        for start in range(0, len(X), rows):
            block = X[start : start + rows]
            check_finite(block, "X", row_offset=first_row + start)
            if len(block) < rows < len(X):
                # pad a short last chunk with copies of its last row: BLAS takes another code path for
                # small matrices and rounds differently, and a row's code must not depend on where a
                # block or a shard happens to end (sharded and single-file runs give equal bytes)
                block = np.concatenate([block, np.repeat(block[-1:], rows - len(block), axis=0)])
            out[start : start + rows] = self._encode_block(block)[: len(X) - start]
        return out

    def decode(self, codes, out: np.ndarray | None = None) -> np.ndarray:
        """Decode uint8 codes (n, bytes_per_vector) into float32 vectors (n, d), into `out` if given
        (a C-contiguous float32 (n, d) array, written in place and returned)."""
        codes = self._check_codes(codes)
        out = _output(out, (len(codes), self.dim_), np.float32)
        if kernels.available() and self._decode_fast(codes, out):
            return out
        rows = kernel_rows(self.dim_)
        for start in range(0, len(codes), rows):
            out[start : start + rows] = self._decode_block(codes[start : start + rows])
        return out

    def _encode_fast(self, X: np.ndarray, out: np.ndarray) -> int | None:
        """Encode into `out` with a compiled kernel: the first row holding NaN/Inf or -1; None: no kernel."""
        return None

    def _decode_fast(self, codes: np.ndarray, out: np.ndarray) -> bool:
        """Decode into `out` with a compiled kernel; False: no kernel for this codec."""
        return False

    def inner_products(self, queries, codes) -> np.ndarray:
        """Inner products of float queries (nq, d) with encoded vectors: float32 (nq, n).

        Asymmetric: the queries are not quantised. Codes are visited block by block, so the full
        set is never decompressed at once. (Not a metric's score: `Index.search` turns these into
        cosine, inner-product or L2 scores with `metrics.ranking.metric_scores`.)
        """
        codes = self._check_codes(codes)
        Q = as_matrix(queries, "queries", self.dim_)
        out = np.empty((len(Q), len(codes)), dtype=np.float32)
        prepared = self._scoring_queries(Q)  # once per call, not once per block
        for start in range(0, len(codes), BLOCK_ROWS):
            block = codes[start : start + BLOCK_ROWS]
            out[:, start : start + len(block)] = self._score_block(prepared, block)
        return out

    #: the first name of `inner_products`, kept for code written against it
    score = inner_products

    def row_kernel(self) -> kernels.RowKernel | None:
        """How compiled code scores one encoded row in place (the HNSW walk over the codes), or None:
        this codec has no such kernel. Fitted codecs only."""
        return None

    def score_candidates(self, queries: np.ndarray, codes: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Inner products of each query with its own candidates: queries float32 (nq, d), rows int (nq, c)
        indexing `codes` -> float32 (nq, c). Used to re-score shortlists."""
        decoded = self.decode(np.asarray(codes[rows.reshape(-1)])).reshape(*rows.shape, self.dim_)
        return kernels.pair_dots(decoded, queries[:, None, :])

    def _encode_block(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _decode_block(self, codes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _score_block(self, Q: np.ndarray, codes: np.ndarray) -> np.ndarray:
        # up to IN_PLACE_QUERIES queries: a compiled kernel reads the codes in place; more: decode a block,
        # one BLAS product
        fast = self._in_place_scores(Q, codes)
        return fast if fast is not None else Q @ self._decode_block(codes).T

    def _in_place_scores(self, Q: np.ndarray, codes: np.ndarray) -> np.ndarray | None:
        """`_score_fast` over a batch of up to kernels.IN_PLACE_QUERIES, SMALL_BATCH queries a call;
        None for a larger batch or a codec without the kernel."""
        if not 0 < len(Q) <= kernels.IN_PLACE_QUERIES or not kernels.available():
            return None
        parts = []
        for at in range(0, len(Q), kernels.SMALL_BATCH):
            part = self._score_fast(Q[at : at + kernels.SMALL_BATCH], codes)
            if part is None:
                return None
            parts.append(part)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _scoring_queries(self, Q: np.ndarray) -> np.ndarray:
        """The queries (nq, d) as `_score_block` takes them: Q itself, or a transform of it that holds
        for every block (rq: the rotated queries)."""
        return Q

    def _score_fast(self, Q: np.ndarray, codes: np.ndarray) -> np.ndarray | None:
        """Scores of a few float32 queries (nq, d) against codes read in place by a compiled kernel:
        float32 (nq, n), or None when this codec has no such kernel."""
        return None

    def _check_codes(self, codes) -> np.ndarray:
        dim = self._check_fitted()
        codes = np.asarray(codes)
        width = self.bytes_per_vector(dim)
        if codes.dtype != np.uint8 or codes.ndim != 2 or codes.shape[1] != width:
            raise VectroError(
                f"codes for {self.spec!r} at d={dim} must be uint8 (n, {width}), "
                f"got {codes.dtype} {codes.shape}"
            )
        return codes

    # ----- state ----------------------------------------------------------------------------
    def state(self) -> dict:
        """Everything needed to rebuild the fitted codec: spec, dim and learned arrays."""
        self._check_fitted()
        return {
            "spec": self.spec,
            "dim": self.dim_,
            "arrays": {name: np.asarray(getattr(self, name)) for name in self.state_arrays},
        }

    @classmethod
    def from_state(cls, state: dict) -> "Codec":
        codec = make_codec(state["spec"])
        codec._load_state(int(state["dim"]), state.get("arrays", {}))
        return codec

    def _load_state(self, dim: int, arrays: dict) -> None:
        self.dim_ = dim
        for name in self.state_arrays:
            if name not in arrays:
                raise VectroError(f"codec state for {self.spec!r} lacks the array {name!r}")
            setattr(self, name, np.asarray(arrays[name]))


def _output(out: np.ndarray | None, shape: tuple[int, int], dtype) -> np.ndarray:
    """A fresh (shape, dtype) array, or the caller's `out` once it is checked to fit."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray) or out.dtype != dtype or out.shape != shape or not out.flags.c_contiguous \
            or not out.flags.writeable:
        got = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
        raise VectroError(f"out must be a writeable C-contiguous {np.dtype(dtype).name} array of shape {shape}, "
                          f"got {got}")
    return out


# ----- registry -------------------------------------------------------------------------------
_REGISTRY: dict[str, Callable[[str | None], Codec]] = {}


def register(cls):
    """Class decorator: make a codec available by its `name` in spec strings."""
    _REGISTRY[cls.name] = cls
    return cls


def registered_codecs() -> dict[str, type]:
    """Name -> codec class, in registration order."""
    _load_builtin_codecs()
    return dict(_REGISTRY)


def _load_builtin_codecs() -> None:
    from . import scalar, binary, rotation, transform, product, additive, projection, learned, spectral  # noqa: F401,I001  (registration order = listing order)


def own_codec(codec: str | Codec, dim: int | None = None) -> Codec:
    """The codec to work with for a caller's `codec` argument, never the caller's object changed.

    A spec string builds a new codec. A fitted Codec is used as it is, and never refitted (its
    codes stay valid); an unfitted one is cloned, so fitting it leaves the caller's object
    untouched (scikit-learn's rule). `dim`: the data's dimension, checked against a fitted codec.
    """
    if not isinstance(codec, Codec):
        return make_codec(codec)
    if not codec.is_fitted:
        return codec.clone()
    if dim is not None and codec.dim_ != dim:
        raise VectroError(f"codec {codec.spec!r} was fitted on {codec.dim_} dimensions, but the data has {dim}")
    return codec


def make_codec(spec: str | Codec) -> Codec:
    """Build an unfitted codec from a spec string such as `int8`, `int4:64` or `float16` (a Codec is returned as is)."""
    if isinstance(spec, Codec):
        return spec
    stages = parse_spec(spec)
    _load_builtin_codecs()
    for stage in stages:
        if stage.name not in _REGISTRY:
            known = ", ".join(_REGISTRY)
            raise VectroError(f"unknown codec {stage.name!r} in spec {spec!r}; known codecs: {known}")
    codecs = [_REGISTRY[s.name](s.arg) for s in stages]
    if len(codecs) == 1:
        return codecs[0]
    from .composite import Composite

    return Composite(codecs)
