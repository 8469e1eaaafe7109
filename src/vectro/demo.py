"""`vectro demo`: every codec on the bundled real sample, with what each one keeps."""

from __future__ import annotations

import time

from . import sample_data
from .compressed import compress
from .metrics.evaluate import evaluate

DEMO_CODECS = ["float32", "float16", "bf16", "int16", "int8", "int8-dim", "int8:64", "rq:8", "nf4", "int4",
               "int4:64", "rq:4", "rq:3", "int2", "rq:2", "pca:192+rq:4", "binary", "rq:1", "spectral:16",
               "pca:128+int8", "trunc:256+int8"]


def run_demo(codecs=DEMO_CODECS, k: int = 10) -> list[dict]:
    """One row per codec: bytes/vector, ratio, recall@k, nDCG@k, mean cosine, compress throughput (fit included)."""
    base, queries = sample_data()
    rows = []
    for spec in codecs:
        compress(base[:256], spec)  # first call loads the compiled kernels; time the steady state
        started = time.perf_counter()
        packed = compress(base, spec)
        seconds = time.perf_counter() - started
        report = evaluate(base, packed, queries=queries, k=k)
        rows.append({
            "codec": packed.codec.spec,
            "bytes_per_vector": packed.bytes_per_vector,
            "compression_ratio": report["compression_ratio"],
            f"recall@{k}": report[f"recall@{k}"],
            f"ndcg@{k}": report[f"ndcg@{k}"],
            "mean_cosine": report["mean_cosine"],
            "encode_vectors_per_s": len(base) / max(seconds, 1e-9),
        })
    return rows
