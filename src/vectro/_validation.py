"""Input checks shared by every entry point: one place that turns bad arrays into clear errors."""

from __future__ import annotations

import numpy as np

from .errors import VectroError


def as_matrix(X, name: str = "X", dim: int | None = None, allow_empty: bool = False,
              finite: bool = True) -> np.ndarray:
    """Return X as a C-contiguous float32 (n, d) array, or raise VectroError saying what is wrong.

    Accepts any array-like of real numbers (float16/32/64, ints, lists). Never modifies the
    caller's array: a float32 C-contiguous input is returned as is (read only by callers).
    `finite=False` leaves the NaN/Inf check to the caller (encoders fuse it into their pass).
    """
    try:
        arr = np.asarray(X)
    except (ValueError, TypeError) as exc:
        raise VectroError(f"{name} is not an array of numbers: {exc}") from exc
    if arr.dtype != np.float32 and (arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating)
                                                              or np.issubdtype(arr.dtype, np.integer))):
        raise VectroError(f"{name} has dtype {arr.dtype}; expected real numbers (float or int)")
    if arr.ndim != 2:
        hint = " Reshape a single vector with x.reshape(1, -1)." if arr.ndim == 1 else ""
        raise VectroError(f"{name} must be a 2-D (n, d) array, got {arr.ndim}-D with shape {arr.shape}.{hint}")
    if (arr.shape[0] == 0 or arr.shape[1] == 0) and not allow_empty:
        raise VectroError(f"{name} is empty (shape {arr.shape}); nothing to compress")
    if dim is not None and arr.shape[1] != dim:
        raise VectroError(f"{name} has {arr.shape[1]} dimensions, but {dim} are expected")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if finite:
        check_finite(out, name)
    return out


def check_finite(arr: np.ndarray, name: str = "X", row_offset: int = 0) -> None:
    """Raise VectroError naming the first row holding NaN or Inf (rows counted from row_offset).

    float64 values beyond float32's range become Inf on the cast, so they are caught here too.
    """
    finite = np.isfinite(arr)
    if finite.all():
        return
    bad_row = int(np.argmin(finite.all(axis=1)))
    bad_col = int(np.argmin(finite[bad_row]))
    value = arr[bad_row, bad_col]
    raise VectroError(
        f"{name} row {row_offset + bad_row} holds {value} at dimension {bad_col}; "
        "NaN and Inf cannot be compressed"
    )


def as_vector_or_matrix(x, name: str, dim: int) -> tuple[np.ndarray, bool]:
    """Queries may be one vector (d,) or a batch (nq, d); return (nq, d) float32 and whether it was 1-D."""
    arr = np.asarray(x)
    single = arr.ndim == 1
    return as_matrix(arr.reshape(1, -1) if single else arr, name, dim), single
