"""Which kernels run, on how many threads: `vectro.get_backend_info()`."""

from __future__ import annotations

import os
import platform


def thread_count() -> int:
    """Threads vectro may use: VECTRO_THREADS if set, else every core this process may run on."""
    configured = os.environ.get("VECTRO_THREADS", "").strip()
    if configured:
        if not configured.isdigit() or int(configured) < 1:
            from .errors import VectroError

            raise VectroError(f"VECTRO_THREADS must be a positive integer, got {configured!r}")
        return int(configured)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def get_backend_info() -> dict:
    """Active kernel backend, thread count and library versions (for bug reports and benchmarks)."""
    import numpy as np

    from . import __version__, kernels

    fast = kernels.available()
    versions = {}
    if fast:
        import numba

        versions["numba"] = numba.__version__
    return {
        "backend": "numba" if fast else "numpy",
        "available_backends": ["numba", "numpy"] if fast else ["numpy"],
        "kernels": ("numba: encode/decode of int8, int16, int4, nf4, int8-dim, binary, float16, rq; few-query "
                    "scoring of every codec on its codes in place; Hamming top-k by popcount; numpy + BLAS: batched "
                    "scoring")
        if fast else "numpy",
        **versions,
        "threads": thread_count(),
        "vectro": __version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
