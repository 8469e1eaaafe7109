"""The compiled kernels give the NumPy path's results (the fallback used without numba)."""

import contextlib
import numpy as np
import pytest

from vectro import kernels
from vectro.codecs import make_codec

pytestmark = pytest.mark.skipif(not kernels.available(), reason="numba not installed")


@pytest.fixture(params=["auto", "numba"])
def compiled(request):
    """Each compiled backend in turn: "auto" takes the C kernels where they are built (the int8 path),
    "numba" skips them. A test lists it before `numpy_only`, so the NumPy block nests inside it."""
    with kernels.backend(request.param):
        yield request.param


@pytest.fixture
def numpy_only():
    """Calling it switches this test to the NumPy fallback (kernels.backend, no patched module global)."""
    with contextlib.ExitStack() as stack:
        yield lambda: stack.enter_context(kernels.backend("numpy"))


KERNEL_CODECS = ["int8", "int16", "int4", "nf4", "int8-dim", "binary", "float16", "bf16"]


def edge_cases(rng, n, dim):
    X = rng.standard_normal((n, dim)).astype(np.float32)
    if n > 4:
        X[1] = 0  # a zero vector
        X[2] *= np.float32(3e37)  # very large magnitudes
        X[3] = np.float32(1e-6) * rng.standard_normal(dim)  # float16 subnormals
        X[4, ::2] = np.float32(65504 + 8)  # float16 saturation (rounds up past the largest half)
    return X


@pytest.mark.parametrize("spec", KERNEL_CODECS)
@pytest.mark.parametrize("n, dim", [(1, 384), (1, 1), (37, 7), (200, 63), (50, 129), (300, 385)])
def test_fast_codes_are_bit_exact_with_numpy(spec, n, dim, rng, compiled, numpy_only):
    X = edge_cases(rng, n, dim)
    codec = make_codec(spec).fit(X)
    fast_codes = codec.encode(X)
    fast_decoded = codec.decode(fast_codes)
    numpy_only()
    np.testing.assert_array_equal(fast_codes, codec.encode(X))
    np.testing.assert_array_equal(fast_decoded, codec.decode(fast_codes))


def test_float16_kernel_matches_numpy_on_every_exponent(rng, numpy_only):
    bits = rng.integers(0, 2**32, 2**18, dtype=np.uint64).astype(np.uint32)
    values = bits.view(np.float32)
    values = values[np.isfinite(values)]
    # ties: halfway between half-precision neighbours (last kept mantissa bit 0 and 1)
    ties = (np.arange(1, 2000, dtype=np.uint32) << 13 | 0x1000).astype(np.uint32) + np.uint32(0x38000000)
    X = np.concatenate([values, ties.view(np.float32)])
    X = X[: len(X) // 64 * 64].reshape(-1, 64)
    codec = make_codec("float16").fit(X)
    fast = codec.encode(X)
    numpy_only()
    np.testing.assert_array_equal(fast, codec.encode(X))


@pytest.mark.parametrize("kind", ["hw", "bits"])
def test_both_float16_kernels_give_numpys_bits(kind, rng):
    """The CPU-conversion kernels (F16C) and the bit-field ones that run without it: the same bits
    as NumPy's clip + astype, both ways, on every exponent, ties, subnormals and saturation; and
    scores that match a float64 reference."""
    from vectro.kernels import _jit

    if kind == "hw" and not _jit.HARDWARE_HALF:
        pytest.skip("this CPU has no float16 conversion instructions")
    encode, decode = getattr(_jit, f"_half_encode_{kind}"), getattr(_jit, f"_half_decode_{kind}")
    values = rng.integers(0, 2**32, 2**16, dtype=np.uint64).astype(np.uint32).view(np.float32)
    ties = ((np.arange(1, 2000, dtype=np.uint32) << 13) | 0x1000) + np.uint32(0x38000000)
    X = np.concatenate([values[np.isfinite(values)], ties.view(np.float32), [65519.0, 65520.0, -1e30, 6e-8, 2e-8]])
    X = X[: len(X) // 32 * 32].astype(np.float32).reshape(-1, 32)
    halves, bad = np.empty(X.shape, dtype=np.uint16), np.zeros(len(X), dtype=np.bool_)
    encode(X, halves, bad)
    np.testing.assert_array_equal(halves, np.clip(X, -65504, 65504).astype(np.float16).view(np.uint16))
    assert not bad.any()
    every_half = np.arange(2**16, dtype=np.uint32).astype(np.uint16)
    every_half = every_half[np.isfinite(every_half.view(np.float16))].reshape(1, -1)
    decoded = np.empty(every_half.shape, dtype=np.float32)
    decode(every_half, decoded)
    np.testing.assert_array_equal(decoded, every_half.view(np.float16).astype(np.float32))
    rows = rng.standard_normal((300, 70)).astype(np.float16)
    rows[0, :5] = [6e-8, -6e-8, 65504, -65504, 0]  # subnormals and the extremes
    Q = rng.standard_normal((3, 70)).astype(np.float32)
    expected = Q.astype(np.float64) @ rows.astype(np.float64).T
    scores = getattr(_jit, f"_half_scores_{kind}")(Q, rows.view(np.uint16))
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("spec", KERNEL_CODECS)
def test_fast_path_names_the_first_bad_row(spec, rng, compiled):
    X = rng.standard_normal((100, 20)).astype(np.float32)
    codec = make_codec(spec).fit(X)
    X[61, 3] = np.inf
    X[80, 0] = np.nan
    with pytest.raises(Exception, match="row 61 holds inf at dimension 3"):
        codec.encode(X)


@pytest.mark.parametrize("spec", KERNEL_CODECS + ["rq:4"])
def test_every_position_of_nan_or_inf_is_caught(spec, rng, compiled):
    """The encoders check each row's bits in vectorised lanes plus a scalar tail: a bad value is
    caught in every position (d = 21: two vectors of eight, then five)."""
    X = rng.standard_normal((21, 21)).astype(np.float32)
    codec = make_codec(spec).fit(X)
    for j in range(21):
        bad = X.copy()
        bad[j, j] = (np.nan, np.inf, -np.inf)[j % 3]
        with pytest.raises(Exception, match=f"row {j} holds (nan|inf|-inf) at dimension {j}"):
            codec.encode(bad)


@pytest.mark.parametrize("spec", ["int8", "int16", "int4", "int4:8", "int4:32", "int8:16", "nf4", "nf4:64", "int2",
                                  "binary", "float32", "float16", "bf16", "int8-dim", "rq:2", "rq:3", "rq:4"])
@pytest.mark.parametrize("dim", [1, 7, 64, 385])
def test_single_query_scores_match_numpy(spec, dim, rng, compiled, numpy_only):
    X = rng.standard_normal((300, dim)).astype(np.float32)
    X[5] = 0
    X[6] *= 1e30
    codec = make_codec(spec).fit(X)
    codes = codec.encode(X)
    Q = rng.standard_normal((3, dim)).astype(np.float32)
    fast = codec.score(Q, codes)
    numpy_only()
    np.testing.assert_allclose(fast, codec.score(Q, codes), rtol=1e-5, atol=1e-5 * np.abs(fast).max())


def test_candidate_scores_match_numpy(rng, compiled, numpy_only):
    X = rng.standard_normal((500, 33)).astype(np.float32)
    codec = make_codec("int8").fit(X)
    codes = codec.encode(X)
    rows = rng.integers(0, 500, (20, 9))
    Q = rng.standard_normal((20, 33)).astype(np.float32)
    fast = codec.score_candidates(Q, codes, rows)
    numpy_only()
    np.testing.assert_allclose(fast, codec.score_candidates(Q, codes, rows), rtol=1e-5, atol=1e-5)


def test_hamming_kernel_matches_numpy(rng, numpy_only):
    X = rng.standard_normal((300, 77)).astype(np.float32)
    codec = make_codec("binary").fit(X)
    codes = codec.encode(X)
    fast = codec.hamming(codes[:9], codes)
    numpy_only()
    np.testing.assert_array_equal(fast, codec.hamming(codes[:9], codes))


def test_backend_can_be_forced_to_numpy(monkeypatch):
    import subprocess
    import sys

    code = "import vectro; print(vectro.get_backend_info()['backend'])"
    env = {"VECTRO_BACKEND": "numpy", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "numpy"


def test_import_is_lazy_and_compiled_kernels_are_cached_on_disk(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    import vectro.kernels._jit as jit

    probe = ("import sys, vectro; assert 'numba' not in sys.modules, 'import vectro loaded numba'; "
             "import numpy as np; vectro.compress(np.ones((3, 16), np.float32), 'float16'); "
             "assert 'numba' in sys.modules")
    subprocess.run([sys.executable, "-c", probe], check=True)
    cache = Path(jit.__file__).parent / "__pycache__"
    assert any(p.name.startswith("_jit._half_encode") and p.suffix == ".nbi" for p in cache.iterdir())


@pytest.mark.parametrize("n, k", [(5000, 40), (100, 1), (1000, 999), (7, 3), (12, 12)])
def test_top_k_orders_by_score_then_index(n, k, rng, compiled):
    """ranking.top_k (the C heap where built, else argpartition): score descending, ties to the lower
    index, against an independent reference (Python's sort of (-score, index)); many ties, and -inf."""
    from vectro.metrics import top_k

    scores = rng.integers(0, 20, (3, n)).astype(np.float32)
    scores[0, ::7] = -np.inf
    scores[1, 1::5] = np.nan  # an overflowed score: ranked after everything, -inf included (NumPy's sort)
    ids, best = top_k(scores, k)
    for q in range(3):
        expected = sorted(range(n), key=lambda i: (np.isnan(scores[q, i]), -np.nan_to_num(scores[q, i], nan=0), i))[:k]
        np.testing.assert_array_equal(best[q], scores[q, expected])
        if compiled == "auto" and kernels._c_module() is not None:  # argpartition may pick any of tied ids
            assert ids[q].tolist() == expected


@pytest.mark.skipif(kernels._c_module() is None, reason="the C kernels were not built (no C compiler at install)")
@pytest.mark.parametrize("spec", ["int8", "float32", "int4", "nf4", "int2", "rq:2", "rq:4"])
@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
@pytest.mark.parametrize("threads", [1, 2])
def test_one_pass_scan_keeps_what_the_score_matrix_ranks_first(spec, metric, threads, rng, monkeypatch):
    """kernels.scan_top_k (an exact scan that scores and selects in one pass) returns the rows and scores
    that ranking.top_k picks from the scan's score matrix (metric_scores of codec.score, disallowed rows
    at -inf): the same scores to the bit, with or without a filter mask, for one query (int8 rows in
    pairs) and several, on one thread and split between two; and the rows a float64 reference ranks
    first."""
    from vectro.metrics import top_k
    from vectro.metrics.ranking import metric_scores

    monkeypatch.setattr(kernels, "_threads", threads)
    n, dim = 3001, 384  # odd: a last unpaired row; 3001 x 384 splits the scan between threads
    X = rng.standard_normal((n, dim)).astype(np.float32)
    codec = make_codec(spec).fit(X)
    codes = codec.encode(X)
    decoded = codec.decode(codes)
    sq_norms = np.einsum("ij,ij->i", decoded, decoded).astype(np.float32)
    kernel = codec.row_kernel()
    rows = kernels.coded_rows(kernel, codes, sq_norms, metric)
    Q = rng.standard_normal((3, dim)).astype(np.float32)
    if metric == "cosine":
        Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    prepared = Q if kernel.prepare is None else kernel.prepare(Q)
    masks = {"none": None, "most": rng.random(n) < 0.8, "few": rng.random(n) < 0.01, "nothing": np.zeros(n, bool)}
    for (label, mask), nq, k in [(m, nq, k) for m in masks.items() for nq in (1, 3) for k in (1, 40)]:
        ids, best = kernels.scan_top_k(rows, prepared[:nq], k, mask)
        width = min(k, n if mask is None else int(mask.sum()))  # no column only -1 would fill
        assert ids.shape == best.shape == (nq, width)
        S = metric_scores(codec.score(Q[:nq], codes), sq_norms, metric)
        if mask is not None:
            S[:, ~mask] = -np.inf
        want_ids, want_best = top_k(S, k)
        want_ids = np.where(np.isfinite(want_best), want_ids, -1)
        np.testing.assert_array_equal(best, want_best[:, :width], err_msg=f"{label} nq={nq} k={k}")
        np.testing.assert_array_equal(ids, want_ids[:, :width], err_msg=f"{label} nq={nq} k={k}")
        reference = Q[:nq].astype(np.float64) @ decoded.T.astype(np.float64)
        if metric == "cosine":
            reference /= np.sqrt(np.maximum(sq_norms, 1e-30))
        elif metric == "l2":
            reference = 2 * reference - sq_norms
        allowed = np.ones(n, bool) if mask is None else mask
        for q in range(nq):
            order = np.flatnonzero(allowed)[np.argsort(-reference[q, allowed], kind="stable")][:k]
            assert ids[q, : len(order)].tolist() == order.tolist(), f"{label} nq={nq} k={k}"
            assert (ids[q, len(order) :] == -1).all() and np.isneginf(best[q, len(order) :]).all()
    assert kernels.scan_top_k(rows, prepared[:1], n + 5, None)[0].shape == (1, n)  # k above n: every row


@pytest.mark.skipif(kernels._c_module() is None, reason="the C kernels were not built (no C compiler at install)")
@pytest.mark.parametrize("spec", ["int8", "int4", "float32"])
def test_a_batch_up_to_in_place_queries_is_searched_in_one_pass(spec, rng, monkeypatch):
    """Index.search of SMALL_BATCH + 1 to IN_PLACE_QUERIES queries takes the one-pass scan too (no score
    matrix, no decoded block: 9 queries cost 5x what 8 did that way), and answers each query with the rows
    a float64 reference over the decoded codes ranks first."""
    import vectro

    if not kernels.native():
        pytest.skip("the one-pass scan is the C kernels' (another backend is forced here)")
    X = rng.standard_normal((2001, 64)).astype(np.float32)
    index = vectro.Index(64, spec)
    index.add(X)
    decoded = index.codec.decode(index.codec.encode(X)).astype(np.float64)
    decoded /= np.linalg.norm(decoded, axis=1, keepdims=True)
    monkeypatch.setattr(type(index.codec), "inner_products", lambda *a: pytest.fail("scored through a matrix"))
    for nq in (kernels.SMALL_BATCH + 1, kernels.IN_PLACE_QUERIES):
        Q = rng.standard_normal((nq, 64)).astype(np.float32)
        ids, scores = index.search(Q, k=10)
        reference = (Q / np.linalg.norm(Q, axis=1, keepdims=True)).astype(np.float64) @ decoded.T
        np.testing.assert_array_equal(ids, np.argsort(-reference, axis=1, kind="stable")[:, :10])
        np.testing.assert_allclose(scores, np.sort(reference, axis=1)[:, ::-1][:, :10], rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(kernels._c_module() is None, reason="the C kernels were not built (no C compiler at install)")
def test_one_pass_scan_counts_an_overflowed_score_as_no_hit(rng):
    """A float32 row whose inner product overflows to +inf (or -inf) is left out, as the block-by-block
    scan leaves out every non-finite score: the hits are the finite ones, best first."""
    X = rng.standard_normal((9, 8)).astype(np.float32)
    X[4] = np.float32(3e38)  # q.x overflows float32 for a query of positive values
    X[6] = np.float32(-3e38)
    codec = make_codec("float32").fit(X)
    codes = codec.encode(X)
    rows = kernels.coded_rows(codec.row_kernel(), codes, np.zeros(9, np.float32), "ip")
    ids, best = kernels.scan_top_k(rows, np.ones((1, 8), np.float32), 9, None)
    finite = np.delete(np.arange(9), [4, 6])
    expected = finite[np.argsort(-X[finite].sum(axis=1), kind="stable")]
    assert ids[0].tolist() == expected.tolist() + [-1, -1]
    assert np.isneginf(best[0, -2:]).all() and np.isfinite(best[0, :-2]).all()


@pytest.mark.skipif(kernels._c_module() is None, reason="the C kernels were not built (no C compiler at install)")
@pytest.mark.parametrize("simd", ["avx512", "avx2", "none"])
def test_every_instruction_set_of_the_c_kernels_scores_as_numpy_does(simd):
    """The C kernels pick AVX-512, AVX2 or plain C at load; VECTRO_SIMD caps the choice, so each path
    is checked here (against the NumPy fallback, in a process of its own) whatever this CPU has: codes,
    scores, and the answers of vectro's HNSW graph and of the one-pass scan against a float64 reference."""
    import os
    import subprocess
    import sys

    probe = """
import numpy as np, vectro
from vectro import kernels
from vectro.codecs import make_codec
rng = np.random.default_rng(7)
for dim in (1, 7, 31, 64, 100, 385):
    X = rng.standard_normal((301, dim)).astype(np.float32)  # odd: int8 scores one query's rows in pairs
    Q = rng.standard_normal((3, dim)).astype(np.float32)
    for spec in ("int8", "float32", "int4", "nf4", "int2", "int4:32", "nf4:64", "int2:32",
                 "rq:1", "rq:2", "rq:3", "rq:4"):
        codec = make_codec(spec).fit(X)
        codes = codec.encode(X)
        fast = codec.score(Q, codes)
        single = codec.score(Q[:1], codes)
        rows = rng.integers(0, 300, (3, 9))
        candidates = codec.score_candidates(Q, codes, rows)
        with kernels.backend("numpy"):
            np.testing.assert_array_equal(codes, codec.encode(X))
            slow = codec.score(Q, codes)
            np.testing.assert_allclose(candidates, codec.score_candidates(Q, codes, rows), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-5 * np.abs(slow).max(), err_msg=f"{spec} d={dim}")
        np.testing.assert_allclose(single, slow[:1], rtol=1e-5, atol=1e-5 * np.abs(slow).max(), err_msg=f"{spec} d={dim}")
from vectro.index import ann
ann.SCAN_BELOW = 10  # vectro's HNSW graph scores rows with the same kernels
X = rng.standard_normal((500, 40)).astype(np.float32)
for spec in ("int8", "float32", "nf4"):
    index = vectro.Index(40, spec, metric="ip", ann="hnsw")
    index.add(X)
    ids, scores = index.search(X[:5], 5, ef=64)
    decoded = index.codec.decode(index.codes()).astype(np.float64)
    expected = np.take_along_axis(X[:5].astype(np.float64) @ decoded.T, ids, axis=1)
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4, err_msg=spec)
for spec in ("int8", "float32", "nf4"):  # brute force on a few queries: the one-pass scan (scan_top_k)
    index = vectro.Index(40, spec, metric="ip")
    index.add(X)
    for nq in (1, 3):
        ids, scores = index.search(X[:nq], 7)
        full = X[:nq].astype(np.float64) @ index.codec.decode(index.codes()).astype(np.float64).T
        np.testing.assert_array_equal(ids, np.argsort(-full, axis=1, kind="stable")[:, :7], err_msg=spec)
        np.testing.assert_allclose(scores, np.take_along_axis(full, ids, axis=1), rtol=1e-4, atol=1e-4, err_msg=spec)
print(kernels._c_module().simd())
"""
    env = {**os.environ, "VECTRO_SIMD": simd}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    levels = ["none", "avx2", "avx512"]
    assert levels.index(done.stdout.strip()) <= levels.index(simd)  # capped (less where the CPU has less)


def test_a_numba_that_does_not_import_hands_over_to_numpy(tmp_path):
    """numba found but failing to import (as when it does not support the installed NumPy): one clear
    error, then the NumPy path for every call (the same codes)."""
    import os
    import subprocess
    import sys

    (tmp_path / "numba").mkdir()
    (tmp_path / "numba" / "__init__.py").write_text("raise ImportError('Numba needs NumPy 1.0 or less')\n")
    probe = """
import numpy as np, vectro
from vectro import kernels
from vectro.errors import VectroError
X = np.random.default_rng(0).standard_normal((50, 16)).astype(np.float32)
try:
    vectro.compress(X, "float16")
    raise SystemExit("no error")
except VectroError as exc:
    assert "numba is installed but does not import (Numba needs NumPy 1.0 or less)" in str(exc), exc
codes = vectro.compress(X, "float16").codes
with kernels.backend("numpy"):
    assert (codes == vectro.compress(X, "float16").codes).all()
print(kernels.active())
"""
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "numpy"


@pytest.mark.skipif(kernels._c_module() is None, reason="the C kernels were not built (no C compiler at install)")
def test_the_int8_path_runs_without_numba():
    """Encode, brute-force search with re-scoring on the codes, and the top-k of the shortlist: all in
    C, so the process never loads numba and LLVM (what keeps `vectro serve`'s memory small)."""
    import subprocess
    import sys

    probe = """
import sys, numpy as np, vectro
X = np.random.default_rng(0).standard_normal((3000, 64)).astype(np.float32)
index = vectro.Index(64, "int8", rerank="int8")
index.add(X)
ids, scores = index.search(X[:3], k=5)
assert ids[:, 0].tolist() == [0, 1, 2], ids
vectro.compress(X, "int4")
assert vectro.get_backend_info()["backend"] == "native"
assert "numba" not in sys.modules and "llvmlite" not in sys.modules, "the int8 path loaded numba"
"""
    subprocess.run([sys.executable, "-c", probe], check=True)


@pytest.mark.parametrize("count, k", [(10, 10), (40, 10), (7, 12), (100, 40)])
def test_best_candidates_select_as_the_sort_does(count, k, rng, compiled, numpy_only):
    """The selection kernel (few candidates) and the sort (the NumPy path, and many candidates) agree:
    score descending, ties to the lower row, -1 rows scored -inf last."""
    rows = rng.integers(-1, 50, (6, count))
    scores = rng.integers(0, 5, (6, count)).astype(np.float32)  # many ties
    scores[rows < 0] = -np.inf
    fast_rows, fast_scores = kernels.best_candidates(rows, scores, k)
    numpy_only()
    slow_rows, slow_scores = kernels.best_candidates(rows, scores, k)
    np.testing.assert_array_equal(fast_rows, slow_rows)
    np.testing.assert_array_equal(fast_scores, slow_scores)
    assert fast_rows.shape == (6, min(k, count))
    for q in range(6):  # against an independent reference: Python's sort of (-score, row)
        expected = sorted(zip(-scores[q], rows[q]))[: min(k, count)]
        assert [(-s, r) for s, r in expected] == list(zip(fast_scores[q], fast_rows[q]))
