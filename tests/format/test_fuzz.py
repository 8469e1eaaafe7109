"""Corrupt files, fuzzed (issue #14, defect 8): random flips, truncations and splices of every
file vectro reads. Each case must end in a VectroError (FormatError), or, when the damage hit
bytes no reader uses, in exactly the original result; never another exception, a hang, or a
large allocation."""

import time
import tracemalloc

import numpy as np
import pytest

import vectro
from vectro.codecs.learned import LearnedProjection, load_model
from vectro.errors import VectroError
from vectro.format import legacy

CASES_PER_FILE = 500  # x 6 files: 3,000 cases
PEAK_BYTES = 32 << 20  # far above what reading these small files needs, far below what a corrupt size could ask


@pytest.fixture(scope="module")
def originals(tmp_path_factory, sample):
    """name -> (file bytes, function reading a path and returning what a user would get)."""
    folder = tmp_path_factory.mktemp("fuzz-originals")
    base, queries = sample
    X = np.ascontiguousarray(base[:40, :16])
    files = {}
    vectro.compress(X, "int8").save(folder / "a.vectro")
    files["int8.vectro"] = lambda p: vectro.load(p).decompress()
    vectro.compress(X, "rq:2").save(folder / "b.vectro")
    files["rq.vectro"] = lambda p: vectro.load(p).decompress()
    index = vectro.Index(16, "int8", rerank="float32")
    index.add(X, ids=[f"doc-{i}" for i in range(40)])
    index.remove(["doc-3"])
    index.save(folder / "c.vxi")
    files["index.vxi"] = lambda p: _search(vectro.Index.load(p), X[:3])
    rng = np.random.default_rng(0)
    LearnedProjection.from_arrays(rng.standard_normal((4, 16)), X.mean(axis=0), {"note": "fuzz"},
                                  rng.standard_normal((8, 4)), rng.standard_normal((4, 8))).save(folder / "d.npz")
    files["model.npz"] = lambda p: load_model(p).transform(X)
    q, scales = vectro.compress(X, "int8").codec.split(vectro.compress(X, "int8").codes)
    legacy.write_seed_npz(folder / "e.npz", q, scales.reshape(-1))
    files["seed.npz"] = lambda p: vectro.load(p).decompress()
    legacy.write_vqz(folder / "f.vqz", q, scales.reshape(-1), compression="zlib", metadata=b'{"a": 1}')
    files["zlib.vqz"] = lambda p: vectro.load(p).decompress()
    names = dict(zip(files, ["a.vectro", "b.vectro", "c.vxi", "d.npz", "e.npz", "f.vqz"]))
    return {key: ((folder / names[key]).read_bytes(), read, files[key](folder / names[key]))
            for key, read in files.items()}


def _search(index, Q):
    ids, scores = index.search(Q, 5)
    return np.concatenate([np.asarray([hash(i) for i in ids.ravel()], dtype=np.float64), scores.ravel()])


def _mutate(data: bytes, other: bytes, rng) -> bytes:
    data = bytearray(data)
    kind = rng.integers(6)
    if kind == 0:  # flip a few bits anywhere
        for at in rng.integers(0, len(data), rng.integers(1, 5)):
            data[at] ^= int(rng.integers(1, 256))
    elif kind == 1:  # flip inside the first 300 bytes: magic, versions, sizes, headers
        for at in rng.integers(0, min(300, len(data)), rng.integers(1, 4)):
            data[at] ^= int(rng.integers(1, 256))
    elif kind == 2:  # truncate
        del data[int(rng.integers(0, len(data))) :]
    elif kind == 3:  # splice: a chunk of this or another file pasted over
        source = other if rng.random() < 0.5 else bytes(data)
        start, size = int(rng.integers(0, len(source))), int(rng.integers(1, 200))
        at = int(rng.integers(0, len(data)))
        data[at : at + size] = source[start : start + size]
    elif kind == 4:  # insert or delete a run of bytes (everything after shifts)
        at = int(rng.integers(0, len(data)))
        if rng.random() < 0.5:
            data[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8))
        else:
            del data[at : at + int(rng.integers(1, 64))]
    else:  # a huge little-endian number written over 8 bytes (sizes, counts, offsets)
        at = int(rng.integers(0, max(1, min(len(data), 300) - 8)))
        data[at : at + 8] = int(rng.integers(1 << 32, 1 << 62)).to_bytes(8, "little")
    return bytes(data)


@pytest.mark.parametrize("name", ["int8.vectro", "rq.vectro", "index.vxi", "model.npz", "seed.npz", "zlib.vqz"])
def test_corrupt_files_end_in_one_clear_error(originals, name, tmp_path):
    data, read, expected = originals[name]
    others = [d for key, (d, _, _) in originals.items() if key != name]
    rng = np.random.default_rng(sum(map(ord, name)))
    outcomes = {"refused": 0, "unchanged": 0}
    started = time.monotonic()
    for case in range(CASES_PER_FILE):
        corrupt = _mutate(data, others[case % len(others)], rng)
        path = tmp_path / f"{case}{name[name.index('.'):]}"
        path.write_bytes(corrupt)
        tracemalloc.start()
        case_started = time.monotonic()
        try:
            result = read(path)
        except VectroError:
            outcomes["refused"] += 1
        except Exception as exc:  # anything else is the bug this test hunts
            pytest.fail(f"{name} case {case}: {type(exc).__name__}: {exc}")
        else:
            np.testing.assert_array_equal(result, expected, err_msg=f"{name} case {case}: silently wrong result")
            outcomes["unchanged"] += 1
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            path.unlink()
        assert peak < PEAK_BYTES, f"{name} case {case}: allocated {peak:,} bytes"
        assert time.monotonic() - case_started < 5, f"{name} case {case} took too long"
    assert outcomes["refused"] > CASES_PER_FILE // 2, outcomes
    assert time.monotonic() - started < 60
