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
