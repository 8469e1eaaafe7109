"""`vectro demo`: every codec on the bundled real sample, with what each one keeps."""

from __future__ import annotations

import time
import warnings

from . import sample_data
from .compressed import compress
from .errors import advice
from .metrics.evaluate import evaluate

DEMO_CODECS = ["float32", "float16", "bf16", "int16", "int8", "int8-dim", "int8:64", "rq:8", "nf4", "int4",
               "int4:64", "tc:4", "rq:4", "rq:3", "int2", "tc:2", "rq:2", "pca:192+rq:4", "binary", "rq:1",
               "spectral:16", "pca:128+int8", "trunc:256+int8", "pq:32", "pq:48x4"]


def run_demo(codecs=DEMO_CODECS, k: int = 10, progress=None) -> list[dict]:
    """One row per codec: bytes/vector, ratio, recall@k, nDCG@k, mean cosine, the fit's seconds (a compress
    less its encode), encode throughput with the fitted codec, and what compressing the sample warned of (a
    pq codebook learned from few vectors).

    progress(done, total) is called after each codec.
    """
    rows = []
    for row in iter_demo(codecs, k):
        rows.append(row)
        if progress:
            progress(len(rows), len(codecs))
    return rows


def iter_demo(codecs=DEMO_CODECS, k: int = 10):
    """The rows of `run_demo`, each yielded as soon as it is measured."""
    base, queries = sample_data()
    for spec in codecs:
        with warnings.catch_warnings():  # advice about this 256-row fit would be about ours, not the user's data
            warnings.simplefilter("ignore")
            compress(base[:256], spec)  # first call loads the compiled kernels; time the steady state
        with advice() as notes:  # handed over with the row, not printed mid-table
            started = time.perf_counter()
            packed = compress(base, spec)
            seconds = time.perf_counter() - started
            report = evaluate(base, packed, queries=queries, k=k)
        started = time.perf_counter()
        compress(base, packed.codec)  # the fitted codec as it is: encoding alone
        encode_seconds = time.perf_counter() - started
        yield {
            "codec": packed.codec.spec,
            "bytes_per_vector": packed.bytes_per_vector,
            "compression_ratio": report["compression_ratio"],
            f"recall@{k}": report[f"recall@{k}"],
            f"ndcg@{k}": report[f"ndcg@{k}"],
            "mean_cosine": report["mean_cosine"],
            "fit_seconds": max(0.0, seconds - encode_seconds),
            "encode_vectors_per_s": len(base) / max(encode_seconds, 1e-9),
            "warnings": notes,
        }


def run_learned_demo(dim_out: int = 32, epochs: int = 5) -> list[dict]:
    """Small end to end: train `learned:dim_out` on the bundled sample, then it and PCA (alone and + int8)
    answer the held-out queries."""
    from .train import TrainConfig, train_projection

    base, queries = sample_data()
    model = train_projection(base, TrainConfig(dim_out=dim_out, epochs=epochs, k=20, hard_neg_l=100))
    rows = []
    for codec in (f"pca:{dim_out}", model, f"pca:{dim_out}+int8", model.then("int8")):
        packed = compress(base, codec)
        report = evaluate(base, packed, queries=queries, k=10)
        rows.append({"codec": packed.codec.spec, "bytes_per_vector": packed.bytes_per_vector,
                     "recall@10": report["recall@10"], "ndcg@10": report["ndcg@10"]})
    return rows
