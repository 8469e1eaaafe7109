"""Composition: projection stages, then one quantiser (`pca:128+int8`)."""

from __future__ import annotations

import numpy as np

from .. import kernels
from .._validation import as_matrix
from ..errors import VectroError
from .base import Codec
from .projection import Projection


class Composite(Codec):
    name = "composite"

    def __init__(self, stages: list[Codec]):
        super().__init__()
        *projections, quantiser = stages
        for stage in projections:
            if not isinstance(stage, Projection):
                raise VectroError(
                    f"{stage.spec!r} cannot come before another stage: only projections "
                    "(pca, trunc, learned) can, and the quantiser comes last"
                )
        if isinstance(quantiser, Projection):
            raise VectroError(f"{quantiser.spec!r} must be followed by a quantiser, e.g. {quantiser.spec}+int8")
        self.projections, self.quantiser = projections, quantiser
        self.trainable = any(stage.trainable for stage in stages)

    @property
    def stages(self) -> list[Codec]:
        return [*self.projections, self.quantiser]

    @property
    def spec(self) -> str:
        return "+".join(stage.spec for stage in self.stages)

    def _inner_dim(self, dim: int) -> int:
        for stage in self.projections:
            dim = stage.output_dim(dim)
        return dim

    def bytes_per_vector(self, dim):
        return self.quantiser.bytes_per_vector(self._inner_dim(dim))

    def _check_fitted(self, dim=None):
        if self.dim_ is None and not self.trainable and dim is not None:
            self.fit(np.zeros((1, dim), dtype=np.float32))  # data-free stages learn only dimensions
        return super()._check_fitted(dim)

    def clone(self):
        return Composite([stage.clone() for stage in self.stages])  # a trained learned:D stage clones to itself

    def _fit(self, X, progress):
        for stage in self.projections:
            stage.fit(X, seed=self._seed)  # a trained learned:D model only checks X
            X = stage.transform(X)
        self.quantiser.fit(X, seed=self._seed, progress=progress)

    def _project(self, X):
        for stage in self.projections:
            X = stage.transform(X)
        return np.ascontiguousarray(X, dtype=np.float32)

    # the quantiser's public encode/decode: its compiled kernel when it has one
    def encode(self, X, out=None, *, first_row: int = 0):
        with kernels.serial():  # blocks alternate BLAS projections with the quantiser's kernel
            return super().encode(X, out, first_row=first_row)

    def _encode_block(self, X):
        return self.quantiser.encode(self._project(X))

    def decode(self, codes, out=None):
        with kernels.serial():
            return super().decode(codes, out)

    def _decode_block(self, codes):
        X = self.quantiser.decode(codes)
        for stage in reversed(self.projections):
            X = stage.inverse_transform(X)
        return X

    def inner_products(self, queries, codes):
        """Project the queries once (q.inverse(z) = q'.z + offset), then score with the quantiser's
        own path: its compiled kernel for a few queries, decode + BLAS for many. Never lifts the
        stored rows back to d dimensions."""
        codes = self._check_codes(codes)
        Q = as_matrix(queries, "queries", self.dim_)
        offset = np.zeros(len(Q), dtype=np.float32)
        for stage in self.projections:
            Q, extra = stage.transform_queries(Q)
            offset += extra
        return self.quantiser.inner_products(np.ascontiguousarray(Q, dtype=np.float32), codes) + offset[:, None]

    score = inner_products

    def state(self):
        state = super().state()
        for i, stage in enumerate(self.stages):
            for name, value in stage.state()["arrays"].items():
                state["arrays"][f"{i}.{name}"] = value
        return state

    def _load_state(self, dim, arrays):
        self.dim_ = dim
        for i, stage in enumerate(self.stages):
            own = {key.split(".", 1)[1]: value for key, value in arrays.items() if key.startswith(f"{i}.")}
            stage._load_state(dim, own)
            dim = stage.output_dim(dim) if isinstance(stage, Projection) else dim
