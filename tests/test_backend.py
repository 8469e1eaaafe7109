"""Backend selection and thread settings."""

import threading

import numpy as np
import pytest

from vectro import kernels


# ----- issue #14, defect 7: a bad VECTRO_THREADS is a user error ------------------------------------
def test_bad_thread_setting_is_a_clear_error(monkeypatch):
    from vectro.backend import thread_count
    from vectro.errors import VectroError

    for value in ("abc", "0", "-2", "1.5"):
        monkeypatch.setenv("VECTRO_THREADS", value)
        with pytest.raises(VectroError, match=f"VECTRO_THREADS must be a positive integer, got '{value}'"):
            thread_count()
    monkeypatch.setenv("VECTRO_THREADS", " 3 ")
    assert thread_count() == 3


def test_cli_with_bad_thread_setting_exits_2_with_one_line(files_with_sample, tmp_path):
    """Before: a ValueError traceback."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "VECTRO_THREADS": "abc", "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "vectro", "compress", "--in", str(files_with_sample / "base.npy"),
                           "--out", str(tmp_path / "x.vectro")], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == ["error: VECTRO_THREADS must be a positive integer, got 'abc'"]
    assert not (tmp_path / "x.vectro").exists()


def test_backend_choice_is_per_thread_and_patches_nothing():
    seen = {}
    module_function = kernels.available
    with kernels.backend("numpy"):
        assert not kernels.available()
        worker = threading.Thread(target=lambda: seen.update(other=kernels.available()))
        worker.start()
        worker.join()
    assert kernels.available is module_function  # nothing monkeypatched
    assert seen["other"] == kernels.available()  # another thread kept the configured backend
    with pytest.raises(Exception, match="unknown backend"):
        with kernels.backend("cuda"):
            pass


class _NoMatmul(np.ndarray):
    """An array that refuses np.matmul (and so `@`): the few queries' products must not go through BLAS's
    matrix product. Other ufuncs run on the plain arrays."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc is np.matmul:
            raise AssertionError("a BLAS matrix product for a few queries")
        return getattr(ufunc, method)(*(np.asarray(x) for x in inputs), **kwargs)


@pytest.mark.parametrize("vecdot", [True, False])
@pytest.mark.parametrize("nq", [1, 8, kernels.IN_PLACE_QUERIES, kernels.IN_PLACE_QUERIES + 1])
def test_query_products_equal_the_matrix_product(vecdot, nq, monkeypatch):
    """kernels.query_products: Q @ M.T to float32 rounding, without `@` up to IN_PLACE_QUERIES queries
    (OpenBLAS's threads would spin on the cores the scoring kernel needs next), on NumPy with and
    without np.vecdot (NumPy < 2.0 takes einsum's loops)."""
    if not vecdot:
        monkeypatch.delattr(np, "vecdot", raising=False)
    rng = np.random.default_rng(nq)
    Q, M = rng.standard_normal((nq, 385)).astype(np.float32), rng.standard_normal((130, 385)).astype(np.float32)
    queries = Q.view(_NoMatmul) if nq <= kernels.IN_PLACE_QUERIES else Q
    out = kernels.query_products(queries, M)
    assert out.shape == (nq, 130)
    np.testing.assert_allclose(np.asarray(out), Q.astype(np.float64) @ M.T.astype(np.float64), rtol=1e-4, atol=1e-4)


# ----- the cores a container allows: cgroup CPU quotas ------------------------------------------------
def _cgroups(tmp_path, cgroup: str, mounts: list[str], files: dict[str, str]):
    """A /proc/self with `cgroup` and `mountinfo` lines (mount points under tmp_path/sys), and the
    cgroup files `files` (paths relative to tmp_path/sys)."""
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text(cgroup)
    sys_root = tmp_path / "sys"
    (proc / "mountinfo").write_text("".join(line.replace("SYS", str(sys_root)) + "\n" for line in mounts))
    for path, text in files.items():
        (sys_root / path).parent.mkdir(parents=True, exist_ok=True)
        (sys_root / path).write_text(text)
    return str(proc)


V2_MOUNT = "30 23 0:26 / SYS/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate"


def test_cgroup_v2_quota_is_the_smallest_up_the_hierarchy(tmp_path):
    from vectro.backend import cgroup_cpu_quota

    proc = _cgroups(tmp_path, "0::/kubepods/pod1/app\n", [V2_MOUNT], {
        "fs/cgroup/kubepods/pod1/app/cpu.max": "max 100000\n",  # no limit of its own
        "fs/cgroup/kubepods/pod1/cpu.max": "150000 100000\n",  # the pod's: 1.5 CPUs
        "fs/cgroup/kubepods/cpu.max": "400000 100000\n",
    })
    assert cgroup_cpu_quota(proc) == 1.5


def test_cgroup_v2_namespace_root_and_no_limit(tmp_path):
    """Docker's private cgroup namespace: the process sits at "/" and its limit is the mount's cpu.max."""
    from vectro.backend import cgroup_cpu_quota

    assert cgroup_cpu_quota(_cgroups(tmp_path, "0::/\n", [V2_MOUNT], {"fs/cgroup/cpu.max": "200000 100000\n"})) == 2.0
    other = tmp_path / "unlimited"
    other.mkdir()
    assert cgroup_cpu_quota(_cgroups(other, "0::/\n", [V2_MOUNT], {"fs/cgroup/cpu.max": "max 100000\n"})) is None


def test_cgroup_v1_quota_under_a_mounted_subtree(tmp_path):
    """v1: the cpu controller's hierarchy, mounted from its /docker subtree (the mount's root field), with
    octal escapes in the mount point; a quota of -1 means none, and other controllers are not read."""
    from vectro.backend import cgroup_cpu_quota

    mounts = [
        "40 31 0:37 /docker SYS/fs/cgroup/cpu,cpu\\040acct rw,relatime - cgroup cgroup rw,cpu,cpuacct",
        "41 31 0:38 / SYS/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
    ]
    proc = _cgroups(tmp_path, "4:memory:/docker/c1\n2:cpu,cpuacct:/docker/c1\n1:name=systemd:/\n", mounts, {
        "fs/cgroup/cpu,cpu acct/c1/cpu.cfs_quota_us": "50000\n",
        "fs/cgroup/cpu,cpu acct/c1/cpu.cfs_period_us": "100000\n",
        "fs/cgroup/cpu,cpu acct/cpu.cfs_quota_us": "-1\n",
        "fs/cgroup/cpu,cpu acct/cpu.cfs_period_us": "100000\n",
        "fs/cgroup/memory/docker/c1/cpu.cfs_quota_us": "1000\n",  # not the cpu hierarchy: never read
        "fs/cgroup/memory/docker/c1/cpu.cfs_period_us": "100000\n",
        "fs/cgroup/memory/c1/cpu.cfs_quota_us": "1000\n",
        "fs/cgroup/memory/c1/cpu.cfs_period_us": "100000\n",
    })
    assert cgroup_cpu_quota(proc) == 0.5


def test_cgroup_quota_is_read_within_the_mount_only(tmp_path):
    """The walk up stops at the mount point (a cpu.max above it belongs to no cgroup); a cgroup outside
    the mount's root, or outside the namespace ("/.."), is not read; a cpuset mount holds no quota; a
    line cut short is skipped."""
    from vectro.backend import cgroup_cpu_quota

    mounts = [
        "30 23 0:26 /kubepods SYS/fs/cgroup rw - cgroup2 cgroup2 rw",
        "31 23 0:27 / SYS/fs/cpuset rw - cgroup cgroup rw,cpuset",
        "32 23 0:28 / SYS/fs/cut rw -",
    ]
    files = {"fs/cpu.max": "100000 100000\n",  # above the mount point
             "fs/cgroup/pod1/cpu.max": "max 100000\n",
             "fs/cpuset/pod1/cpu.cfs_quota_us": "100000\n", "fs/cpuset/pod1/cpu.cfs_period_us": "100000\n"}
    assert cgroup_cpu_quota(_cgroups(tmp_path, "1:cpuset:/pod1\n0::/kubepods/pod1\n", mounts, files)) is None
    for i, path in enumerate(["/system.slice/other", "/../pod1", "/kubepodsX/pod1"]):
        other = tmp_path / str(i)
        other.mkdir()
        sibling = {"fs/cgroup/cpu.max": "50000 100000\n"}  # the mount's own: not this process's cgroup
        assert cgroup_cpu_quota(_cgroups(other, f"0::{path}\n", mounts[:1], sibling)) is None, path


def test_no_cgroups_to_read_means_no_limit(tmp_path):
    from vectro.backend import cgroup_cpu_quota

    assert cgroup_cpu_quota(str(tmp_path / "absent")) is None
    assert cgroup_cpu_quota(_cgroups(tmp_path, "0::/\n", [V2_MOUNT], {})) is None  # no cpu controller there


@pytest.mark.parametrize("quota, expected", [(None, 8), (0.5, 1), (1.5, 2), (2.0, 2), (64.0, 8)])
def test_core_count_is_the_affinity_lowered_to_the_quota_rounded_up(quota, expected, monkeypatch):
    import os

    from vectro import backend

    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("CPU affinity is Linux's")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr(backend, "cgroup_cpu_quota", lambda: quota)
    monkeypatch.delenv("VECTRO_THREADS", raising=False)
    assert backend.core_count() == expected
    assert backend.thread_count() == expected  # the kernels' and the server's default


def test_serial_runs_the_kernels_on_one_thread_here_only():
    """kernels.serial(): one C kernel thread inside the block, in this thread alone, restored after."""
    kernels.set_threads(None)
    outside = kernels._c_threads()
    seen = {}
    with kernels.serial():
        assert kernels._c_threads() == 1
        worker = threading.Thread(target=lambda: seen.update(other=kernels._c_threads()))
        worker.start()
        worker.join()
    assert seen["other"] == outside and kernels._c_threads() == outside


def test_composites_encode_and_decode_with_serial_kernels_and_the_same_bytes(sample, monkeypatch):
    """A composite alternates BLAS projections with its quantiser's kernel block by block: the kernel runs on
    one thread there (OpenBLAS's spinning threads held the cores it waited for), with the bytes and the
    decodings of the threaded kernel."""
    import vectro

    base, _ = sample
    X = base[:3000]
    codec = vectro.make_codec("pca:192+rq:4").fit(X)
    threads = []
    real = type(codec.quantiser).encode

    def watched(self, *args, **kwargs):
        threads.append(kernels._c_threads())
        return real(self, *args, **kwargs)
    monkeypatch.setattr(type(codec.quantiser), "encode", watched)
    codes = codec.encode(X)
    assert threads and set(threads) == {1}
    monkeypatch.setattr(type(codec.quantiser), "encode", real)
    from vectro.codecs.base import Codec

    threaded = Codec.encode(codec, X)  # the same blocks, the kernel on every thread
    np.testing.assert_array_equal(codes, threaded)
    np.testing.assert_array_equal(codec.decode(codes), Codec.decode(codec, codes))
