"""`vectro bench`: the seed Vectro's harness (compress and reconstruct time, cosine, recall, bytes)."""

from __future__ import annotations

import time

import numpy as np

from ._util import sample_rows
from ._validation import as_matrix
from .compressed import compress
from .metrics.evaluate import evaluate


def clustered_vectors(n: int, d: int, seed: int = 0, clusters: int = 64, rank: int | None = None) -> np.ndarray:
    """Synthetic unit vectors that index like real embeddings: a low-rank cluster structure plus noise.

    Not plain Gaussian noise (where every method's recall collapses): `clusters` centres in a
    `rank`-dimensional subspace, per-point offsets, then isotropic noise and L2 normalisation.
    """
    rng = np.random.default_rng(seed)
    rank = rank or max(2, d // 4)
    basis = np.linalg.qr(rng.standard_normal((d, rank)))[0].T.astype(np.float32)  # (rank, d)
    centres = rng.standard_normal((clusters, rank)).astype(np.float32)
    scales = 1.0 / np.sqrt(np.arange(1, rank + 1, dtype=np.float32))  # decaying spectrum, as in real models
    out = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 65536):
        m = min(65536, n - start)
        latent = centres[rng.integers(0, clusters, m)] + 0.6 * rng.standard_normal((m, rank), dtype=np.float32)
        block = (latent * scales) @ basis + 0.05 * rng.standard_normal((m, d), dtype=np.float32)
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def warm_up(codec, dim: int) -> float:
    """Seconds spent loading a codec's compiled kernels (once per process), so timings leave it out.

    Codecs that learn from data are skipped (their fit on a few synthetic rows would be no warm-up).
    """
    from .codecs.base import make_codec

    if make_codec(codec).trainable:
        return 0.0
    started = time.perf_counter()
    compress(clustered_vectors(64, dim, seed=1), codec).decompress()
    return time.perf_counter() - started


def run_bench(codecs, n: int = 2000, d: int = 128, n_queries: int = 100, k: int = 10,
              data=None, seed: int = 0, progress=None) -> list[dict]:
    """Per codec: compress/reconstruct seconds, mean cosine, recall@k against held-out queries, bytes.

    Each codec's kernel warm-up is timed apart (`warmup_seconds`), not counted as compression.
    progress(done, total) is called after each codec.
    """
    if data is None:
        data = clustered_vectors(n + n_queries, d, seed)
    data = as_matrix(data, "data")
    n_queries = min(n_queries, len(data) // 2)
    held_out = np.zeros(len(data), dtype=bool)
    held_out[sample_rows(len(data), n_queries, seed)] = True
    base, queries = data[~held_out], data[held_out]
    rows = []
    for done, spec in enumerate(codecs, 1):
        warmup = warm_up(spec, base.shape[1])
        started = time.perf_counter()
        packed = compress(base, spec)
        compress_seconds = time.perf_counter() - started
        started = time.perf_counter()
        packed.decompress()
        reconstruct_seconds = time.perf_counter() - started
        report = evaluate(base, packed, queries=queries, k=k)
        rows.append({
            "codec": packed.codec.spec, "n": len(base), "dim": base.shape[1],
            "warmup_seconds": warmup, "compress_seconds": compress_seconds, "reconstruct_seconds": reconstruct_seconds,
            "mean_cosine": report["mean_cosine"], f"recall@{k}": report[f"recall@{k}"],
            f"ndcg@{k}": report[f"ndcg@{k}"], "compressed_bytes": report["compressed_bytes"],
            "original_bytes": report["original_bytes"], "compression_ratio": report["compression_ratio"],
        })
        if progress:
            progress(done, len(codecs))
    return rows
