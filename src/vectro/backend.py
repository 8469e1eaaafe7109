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
    return core_count()


def core_count() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def get_backend_info() -> dict:
    """Active kernel backend, thread count and library versions (for bug reports and benchmarks)."""
    import numpy as np

    from . import __version__, kernels

    active = kernels.active()
    available = ["numpy"]
    versions = {}
    if active != "numpy":
        from importlib.metadata import version

        available[:0] = ["native", "numba"] if kernels._c_module() is not None else ["numba"]
        versions["numba"] = version("numba")  # not imported: the C kernels may be all this process needs
    numba_jobs = ("encode/decode of int8, int16, int4, nf4, int8-dim, binary, float16, rq; few-query scoring of "
                  "every codec on its codes in place; Hamming top-k by popcount")
    kernels_run = {"native": "C: int8 (and int4, int16) encode and decode, nf4 and rq encode, int8 and float32 scoring, "
                             "few-query scoring of packed 2- and 4-bit codes (int2, int4, nf4, rq:2, rq:4), shortlist "
                             "re-scoring, top-k, vectro's HNSW graph; numba: the rest of " + numba_jobs,
                   "numba": "numba: " + numba_jobs, "numpy": "numpy"}[active]
    return {
        "backend": active,
        "available_backends": available,
        "kernels": kernels_run + ("; numpy + BLAS: batched scoring" if active != "numpy" else ""),
        **versions,
        "threads": thread_count(),
        "vectro": __version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
