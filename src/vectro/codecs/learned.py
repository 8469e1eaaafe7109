"""`learned:D`: a projection to D dimensions trained to keep each query's neighbour ranking.

A document x is stored as z = f(x) with f(x) = W (x - mean) (+ U gelu(V W (x - mean)) with the
optional residual MLP, `learned:D,mlp`). Searching lifts z back linearly, x_hat = W^T z + mean,
so a float query q scores q . x_hat = (W q) . z + q . mean: the query needs W alone, and cosine
ranks by q . x_hat / |x_hat|. Training (`vectro.train`, PyTorch) optimises exactly that score,
so what it measured is what search returns; applying a model needs only numpy.

Models are saved as one `.npz` (arrays, plus the training metadata as JSON) and the same arrays
and metadata travel in the codec state of every `.vectro` file made with the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import kernels
from .._validation import as_matrix
from ..errors import FormatError, VectroError
from .base import Codec, make_codec, register
from .projection import Projection

MODEL_FORMAT = "vectro-learned-projection"


def gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh form (PyTorch's approximate='tanh'), in float32."""
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(over="ignore"):  # x**3 overflows for huge x; tanh(inf) = 1 gives the right limit
        return (0.5 * x * (1 + np.tanh(np.float32(0.7978845608) * (x + np.float32(0.044715) * x**3)))).astype(np.float32)


@register
class LearnedProjection(Projection):
    name = "learned"
    example = "learned:64"
    summary = "projection trained to keep neighbour rankings (listwise distillation; training needs vectro[train])"
    trainable = True
    min_fit_rows = 50

    def __init__(self, arg: str | None = None):
        dims, _, variant = (arg or "").partition(",")
        if variant not in ("", "mlp", "linear"):
            raise VectroError(f"learned:{arg}: the variant after the comma is mlp or linear, e.g. learned:64,mlp")
        super().__init__(dims or None)
        self.mlp = variant == "mlp"
        self.state_arrays = self._array_names()
        self.meta_: dict = {}

    def _array_names(self) -> tuple[str, ...]:
        return ("mean_", "weight_", "meta_json_") + (("mlp_in_", "mlp_out_") if self.mlp else ())

    @property
    def spec(self) -> str:
        return f"learned:{self.out_dim}" + (",mlp" if self.mlp else "")

    # ----- the codec applies a model; training (vectro.train.fit_codec, PyTorch) makes one ----------
    def fit(self, X, seed: int = 0, progress=None) -> "LearnedProjection":
        """A trained model is never refitted: X is only checked. An untrained one cannot be fitted here."""
        if self.dim_ is None:
            raise VectroError(
                f"{self.spec} has no trained model: train one with vectro.train.fit_codec({self.spec!r}, X) "
                f"(or `vectro train`, then load_model), which needs pip install 'vectro[train]', and pass the fitted codec"
            )
        as_matrix(X, "X", self.dim_)
        return self

    def clone(self) -> "LearnedProjection":
        """A trained model is immutable (never refitted), so it clones to itself; an untrained one to a new one."""
        return self if self.dim_ is not None else make_codec(self.spec)

    @property
    def frozen(self) -> bool:
        """Kept for code written before training moved out of the codec: a loaded or trained model is fixed."""
        return self.dim_ is not None

    def adopt(self, other: "LearnedProjection") -> "LearnedProjection":
        """Take the trained arrays and metadata of `other` (same output dimension and variant); returns self."""
        if (other.out_dim, other.mlp) != (self.out_dim, self.mlp):
            raise VectroError(f"cannot adopt a {other.spec} model into {self.spec}")
        self.dim_, self.mean_, self.weight_, self.meta_ = other.dim_, other.mean_, other.weight_, other.meta_
        if self.mlp:
            self.mlp_in_, self.mlp_out_ = other.mlp_in_, other.mlp_out_
        return self

    @classmethod
    def from_arrays(cls, weight, mean, meta: dict | None = None, mlp_in=None, mlp_out=None) -> "LearnedProjection":
        """A fitted projection from its arrays: weight (D, d), mean (d,), optional MLP (h, D) and (D, h).

        Fitting it again (as vectro.compress does) keeps these arrays."""
        weight = np.ascontiguousarray(weight, dtype=np.float32)
        out_dim, dim = weight.shape
        codec = cls(f"{out_dim}" + (",mlp" if mlp_in is not None else ""))
        codec.dim_, codec.weight_ = dim, weight
        codec.mean_ = np.ascontiguousarray(mean, dtype=np.float32).reshape(dim)
        codec.meta_ = dict(meta or {})
        if mlp_in is not None:
            codec.mlp_in_ = np.ascontiguousarray(mlp_in, dtype=np.float32)
            codec.mlp_out_ = np.ascontiguousarray(mlp_out, dtype=np.float32)
        return codec

    # ----- the projection -----------------------------------------------------------------------
    def transform(self, X):
        Z = (X - self.mean_) @ self.weight_.T
        if self.mlp:
            Z = Z + gelu(Z @ self.mlp_in_.T) @ self.mlp_out_.T
        return np.ascontiguousarray(Z, dtype=np.float32)

    def inverse_transform(self, Z):
        return Z @ self.weight_ + self.mean_

    def transform_queries(self, Q):
        return kernels.query_products(Q, self.weight_), kernels.pair_dots(Q, self.mean_)

    # ----- state: arrays, and the metadata as JSON bytes (checksummed with them in .vectro files) -
    @property
    def meta_json_(self) -> np.ndarray:
        return np.frombuffer(json.dumps(self.meta_, sort_keys=True).encode(), dtype=np.uint8)

    @meta_json_.setter
    def meta_json_(self, value) -> None:
        self.meta_ = json.loads(np.asarray(value, dtype=np.uint8).tobytes().decode()) if np.size(value) else {}

    # ----- model files ---------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the model to one `.npz` (atomically): its arrays and its metadata as JSON."""
        from ..format.container import atomic_file

        self._check_fitted()
        path = Path(path)
        arrays = {name.rstrip("_"): np.asarray(getattr(self, name)) for name in self.state_arrays if name != "meta_json_"}
        header = {"format": MODEL_FORMAT, "spec": self.spec, "dim": self.dim_, "meta": self.meta_}
        with atomic_file(path) as f:
            np.savez(f, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
        return path

    def then(self, quantiser: str | Codec) -> Codec:
        """This (fitted, kept as it is) projection followed by a quantiser: model.then("int8")."""
        from .composite import Composite

        return Composite([self, make_codec(quantiser)])


def load_model(path) -> LearnedProjection:
    """Read a model written by `LearnedProjection.save` (or `vectro train`)."""
    path = Path(path)
    if not path.is_file():
        raise VectroError(f"{path} does not exist or is not a file")
    from ..format.legacy import read_npz_arrays

    arrays = read_npz_arrays(path)  # CRCs and array sizes checked before anything is loaded
    try:
        header = json.loads(arrays.pop("header").tobytes().decode())
        if header.get("format") != MODEL_FORMAT:
            raise FormatError(f"{path} is not a vectro learned-projection model (format {header.get('format')!r})")
        model = LearnedProjection.from_arrays(arrays["weight"], arrays["mean"], header.get("meta"),
                                              arrays.get("mlp_in"), arrays.get("mlp_out"))
        dim = model.dim_
        if model.mlp and (model.mlp_in_.ndim != 2 or model.mlp_in_.shape[1] != model.out_dim
                          or model.mlp_out_.shape != (model.out_dim, model.mlp_in_.shape[0])):
            raise ValueError("the MLP arrays do not fit the projection")
    except FormatError:
        raise
    except (KeyError, ValueError, TypeError, AttributeError, UnicodeDecodeError) as exc:  # missing key, bad JSON, shapes
        raise FormatError(f"{path} is not a readable vectro model: {type(exc).__name__}: {exc}") from exc
    if not (np.isfinite(model.weight_).all() and np.isfinite(model.mean_).all()) or dim < 1:
        raise FormatError(f"{path}: the model's arrays hold NaN or Inf")
    return model
