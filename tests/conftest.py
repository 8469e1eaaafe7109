import os

# FAISS's OpenMP threads spin while they wait (and OpenBLAS's after each call): on a shared or
# small machine a k-means then crawls, each thread waiting for a descheduled partner. Passive
# waiting costs nothing measurable in the tests; set before FAISS loads libgomp.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pytest

import vectro
import vectro.bench

# One representative spec per codec family, with arguments and compositions.
SPECS = ["float32", "float16", "bf16", "int16", "int8", "int8:16", "int8-dim", "int4", "int4:8",
         "nf4", "int2", "int2:32", "binary", "rq:1", "rq:3", "rq:4", "rq:8", "tc:2.5", "tc:0.5", "tc:12", "spectral:8", "spectral:4,4,6,2", "pca:6", "trunc:5", "pca:6+int8", "trunc:5+binary", "pca:6+nf4", "pca:6+rq:2",
         "pq:23", "pq:23x4", "opq:23x4", "rvq:4", "rvq:5x4", "learned:6", "learned:6,mlp+int8"]


@pytest.fixture(scope="session")
def sample():
    """The bundled real embeddings: base (5000, 384) and queries (200, 384), float32."""
    return vectro.sample_data()


@pytest.fixture(scope="session")
def compressed_sample(sample):
    """`compressed_sample(spec)`: the bundled base compressed with spec (default seed), made once per
    session: trainable fits dominate the suite's time, and several files pin the same codes."""
    made = {}

    def get(spec: str):
        if spec not in made:
            made[spec] = vectro.compress(sample[0], spec)
        return made[spec]

    return get


@pytest.fixture
def clustered():
    return vectro.bench.clustered_vectors(300, 23, seed=1)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def files_with_sample(tmp_path, sample):
    """The bundled sample written as base.npy and queries.npy in a temporary folder."""
    base, queries = sample
    np.save(tmp_path / "base.npy", base)
    np.save(tmp_path / "queries.npy", queries)
    return tmp_path


def clustered_npy(path, n: int, d: int, chunk: int = 10_000):
    """Write clustered vectors (n, d) float32 to a .npy chunk by chunk, as a large input is made; returns path."""
    data = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    for start in range(0, n, chunk):
        data[start : start + chunk] = vectro.bench.clustered_vectors(min(chunk, n - start), d, seed=start)
    data.flush()
    del data
    return path
