"""The compiled kernels give the NumPy path's results (the fallback used without numba)."""

import numpy as np
import pytest

from vectro import kernels
from vectro.codecs import make_codec

pytestmark = pytest.mark.skipif(not kernels.available(), reason="numba not installed")


@pytest.fixture
def numpy_only(monkeypatch):
    def use_numpy():
        monkeypatch.setattr(kernels, "available", lambda: False)
    return use_numpy


@pytest.mark.parametrize("spec", ["int8", "binary"])
@pytest.mark.parametrize("dim", [1, 7, 64, 385])
def test_single_query_scores_match_numpy(spec, dim, rng, numpy_only):
    X = rng.standard_normal((300, dim)).astype(np.float32)
    X[5] = 0
    X[6] *= 1e30
    codec = make_codec(spec).fit(X)
    codes = codec.encode(X)
    Q = rng.standard_normal((3, dim)).astype(np.float32)
    fast = codec.score(Q, codes)
    numpy_only()
    np.testing.assert_allclose(fast, codec.score(Q, codes), rtol=1e-5, atol=1e-5 * np.abs(fast).max())


def test_candidate_scores_match_numpy(rng, numpy_only):
    X = rng.standard_normal((500, 33)).astype(np.float32)
    codec = make_codec("int8").fit(X)
    codes = codec.encode(X)
    rows = rng.integers(0, 500, (20, 9))
    Q = rng.standard_normal((20, 33)).astype(np.float32)
    fast = codec.score_candidates(Q, codes, rows)
    numpy_only()
    np.testing.assert_allclose(fast, codec.score_candidates(Q, codes, rows), rtol=1e-5, atol=1e-5)


def test_backend_can_be_forced_to_numpy(monkeypatch):
    import subprocess
    import sys

    code = "import vectro; print(vectro.get_backend_info()['backend'])"
    env = {"VECTRO_BACKEND": "numpy", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "numpy"
