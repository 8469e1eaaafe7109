"""Which kernels run, on how many threads: `vectro.get_backend_info()`."""

from __future__ import annotations

import math
import os
import platform
import re


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
    """The cores this process may run on: its CPU affinity, lowered to its cgroups' CPU quota rounded up
    (a container started with `--cpus 2` on a 64-core host gets 2)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return max(1, min(cores, math.ceil(quota))) if quota is not None else cores


def cgroup_cpu_quota(proc: str = "/proc/self") -> float | None:
    """The CPUs the cgroups of process `proc` allow (quota / period, the smallest of its cgroup and every
    parent up to the hierarchy's mount, cgroup v2 `cpu.max` and v1 `cpu.cfs_quota_us`), or None without
    a limit or where there are no cgroups to read."""
    try:
        with open(os.path.join(proc, "cgroup"), errors="surrogateescape") as lines:
            groups = [fields for fields in (line.rstrip("\n").split(":", 2) for line in lines) if len(fields) == 3]
        with open(os.path.join(proc, "mountinfo"), errors="surrogateescape") as lines:
            mounts = [line.split() for line in lines]
    except OSError:
        return None
    limits = []
    for fields in mounts:
        dash = fields.index("-") if "-" in fields else 0  # the optional fields end at "-"
        if dash < 5 or len(fields) < dash + 4:
            continue  # not a whole mountinfo line
        root, point = _unescape(fields[3]), os.path.normpath(_unescape(fields[4]))
        kind, options = fields[dash + 1], fields[dash + 3].split(",")
        if kind == "cgroup2":
            paths = [path for _, controllers, path in groups if controllers == ""]
        elif kind == "cgroup" and "cpu" in options:
            paths = [path for _, controllers, path in groups if "cpu" in controllers.split(",")]
        else:
            continue
        for path in paths:
            # the mount shows the part of the hierarchy under its root: a cgroup elsewhere (or outside the
            # process's cgroup namespace, "/..") is not in it
            if path.startswith("/..") or not (path.rstrip("/") + "/").startswith(root.rstrip("/") + "/"):
                continue
            folder = os.path.normpath(os.path.join(point, os.path.relpath(path, root)))
            limits += _quotas_up_to(point, folder, kind == "cgroup2")
    return min(limits, default=None)


def _quotas_up_to(mount: str, folder: str, v2: bool) -> list[float]:
    """The CPU quotas set in `folder` and each parent up to the `mount` of its hierarchy."""
    quotas = []
    while True:
        try:
            if v2:
                with open(os.path.join(folder, "cpu.max")) as f:
                    quota, period = f.read().split()
            else:
                with open(os.path.join(folder, "cpu.cfs_quota_us")) as f, \
                        open(os.path.join(folder, "cpu.cfs_period_us")) as g:
                    quota, period = f.read().strip(), g.read().strip()
            if quota not in ("max", "-1") and int(period) > 0:
                quotas.append(int(quota) / int(period))
        except (OSError, ValueError):
            pass
        if folder == mount or os.path.dirname(folder) == folder:  # up to the mount, or the file system's root
            return quotas
        folder = os.path.dirname(folder)


def _unescape(field: str) -> str:
    """A /proc/self/mountinfo path with its octal escapes (\\040 for a space) decoded."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


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
