"""What every route shares: the service, the auth check by scope, and vectors from JSON."""

from __future__ import annotations

import numpy as np
from fastapi import Depends, Request

from ..errors import invalid
from ..service import Service


def service(request: Request) -> Service:
    return request.app.state.service


def scope(needed: str):
    """A dependency that lets the request through only with a key of scope `needed` or higher."""

    def check(request: Request) -> None:
        request.app.state.auth.check(request.headers, needed)

    return Depends(check)


READ, WRITE, ADMIN = scope("read"), scope("write"), scope("admin")


def as_vectors(rows: list[list[float]], dim: int, path) -> np.ndarray:
    """float32 (n, dim) from JSON rows; a wrong length or NaN/Inf is a 422 naming the row (path(i))."""
    for i, row in enumerate(rows):
        if len(row) != dim:
            raise invalid(f"vector has {len(row)} dimensions, but the collection has {dim}", path(i))
    X = np.array(rows, dtype=np.float64).reshape(len(rows), dim)
    finite = (np.abs(X) <= np.finfo(np.float32).max).all(axis=1)  # False for NaN, Inf and beyond float32
    if not finite.all():
        bad = int(np.argmin(finite))
        raise invalid("vector holds NaN or Infinity (or a value beyond float32's range)", path(bad))
    return X.astype(np.float32)
