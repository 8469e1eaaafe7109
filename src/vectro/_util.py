"""Ground-floor helpers shared by the library, the speed report and the benchmarks: one seeded
row sampler (every random row choice in vectro goes through it) and one wall-clock timer."""

from __future__ import annotations

import time

import numpy as np


def rng_of(seed) -> np.random.Generator:
    """A NumPy generator from an int seed (or the generator itself, to draw a stream on)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def sample_rows(n: int, rows: int, seed=0) -> np.ndarray:
    """Sorted row numbers of a seeded sample of `rows` of n rows without replacement (all n if n <= rows)."""
    if n <= rows:
        return np.arange(n)
    return np.sort(rng_of(seed).choice(n, rows, replace=False))


def sample(X, rows: int, seed=0):
    """X itself when it has at most `rows` rows, else a seeded sample of them in their original order."""
    return X if len(X) <= rows else X[sample_rows(len(X), rows, seed)]


def best(fn, repeats: int = 3) -> tuple[float, object]:
    """(fastest of `repeats` wall times in seconds, the last result)."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result
