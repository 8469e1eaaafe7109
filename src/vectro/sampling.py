"""The seeded row sample trainable codecs learn from: one definition, so every path draws the same rows.

`compress`, `compress_file` and the sharded (Dask) compressor all call `sample_rows`, which is
what makes their fitted codecs, and so their codes, equal byte for byte for the same seed.
"""

from __future__ import annotations

import numpy as np


def sample_rows(n: int, rows: int, seed: int = 0) -> np.ndarray:
    """Row numbers int64 (min(n, rows),) of a seeded sample without replacement, ascending (all rows if n <= rows)."""
    if n <= rows:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, rows, replace=False)).astype(np.int64)
