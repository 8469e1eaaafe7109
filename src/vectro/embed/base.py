"""The one interface every embedding provider implements: a name, a dimension, and `embed(texts)`.

As in llm's `EmbeddingModel`, a provider writes one method, `_embed_batch`; the base class checks
the texts, splits them into batches of at most `batch_size`, and checks every answer's shape and
values, so no provider can hand back a vector of the wrong length or a made-up one.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..errors import VectroError

Progress = Callable[[int, int], None]


def check_texts(texts) -> list[str]:
    """texts as a list of str, or a VectroError naming the first item that is not a string."""
    if isinstance(texts, (str, bytes)):
        raise VectroError("texts must be a list of strings, got a single string; wrap it: [text]")
    try:
        items = list(texts)
    except TypeError as exc:
        raise VectroError(f"texts must be a list of strings, got {type(texts).__name__}") from exc
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise VectroError(f"texts[{i}] is {type(text).__name__}, not a string")
    return items


class Provider:
    """Turns texts into float32 vectors of one fixed `dimension`.

    Subclasses set `max_batch` (the most texts one call of their model or API accepts) and write
    `_embed_batch(texts) -> array-like (len(texts), dimension)`.
    """

    kind = "provider"
    max_batch = 1024

    def __init__(self, name: str, dimension: int, batch_size: int | None = None):
        if not isinstance(dimension, int) or dimension < 1:
            raise VectroError(f"model {name!r}: dimension must be a positive integer, got {dimension!r}")
        batch_size = self.max_batch if batch_size is None else batch_size
        if not isinstance(batch_size, int) or not 1 <= batch_size <= self.max_batch:
            raise VectroError(f"model {name!r}: batch_size must be 1..{self.max_batch} for {self.kind}, "
                              f"got {batch_size!r}")
        self.name, self.dimension, self.batch_size = name, dimension, batch_size

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dimension={self.dimension})"

    def missing(self) -> str | None:
        """What this provider lacks to run (a package, a folder, a key), or None when it is ready."""
        return None

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed texts in batches; returns float32 (len(texts), dimension), row i for texts[i]."""
        items = check_texts(texts)
        out = np.empty((len(items), self.dimension), dtype=np.float32)
        for start in range(0, len(items), self.batch_size):
            batch = items[start:start + self.batch_size]
            out[start:start + len(batch)] = self._checked(self._embed_batch(batch), len(batch))
            if progress is not None:
                progress(start + len(batch), len(items))
        return out

    def _checked(self, rows, n: int) -> np.ndarray:
        """The batch answer as float32 (n, dimension), or a VectroError saying what came back."""
        try:
            arr = np.asarray(rows, dtype=np.float32)
        except (ValueError, TypeError) as exc:
            raise VectroError(f"model {self.name!r} returned something that is not a list of vectors: {exc}") from exc
        if arr.ndim != 2 or arr.shape[0] != n:
            raise VectroError(f"model {self.name!r} returned shape {arr.shape} for {n} texts; "
                              f"expected ({n}, {self.dimension})")
        if arr.shape[1] != self.dimension:
            raise VectroError(f"model {self.name!r} returned {arr.shape[1]}-d vectors, but the registry "
                              f"says {self.dimension}; fix its dimension in the registry")
        if not np.isfinite(arr).all():
            raise VectroError(f"model {self.name!r} returned NaN or Inf values")
        return arr

    def _embed_batch(self, texts: list[str]):
        raise NotImplementedError
