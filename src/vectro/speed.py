"""The speed benchmark (`vectro bench speed`, `benchmarks/speed.py`): encode, decode and scan
throughput next to references timed in the same process on the same arrays.

References: memory bandwidth (np.copyto of the float32 input), the seed Vectro's NumPy int8
quantiser, vectro's own NumPy fallback (VECTRO_BACKEND=numpy path), FAISS's scalar quantiser
(`sa_encode` / `sa_decode`, QT_8bit / QT_4bit / QT_fp16) and FAISS flat SQ8 / binary indexes
for scanning. Every figure is vectors (or query x vector pairs) per second; ratios are computed
within one run because the machine is shared and noisy.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np

from . import kernels
from ._util import best  # noqa: F401  (re-exported: the benchmarks import it from here)
from .bench import clustered_vectors
from .codecs.base import make_codec

CODECS = ["float16", "int16", "int8", "int8-dim", "int4", "binary"]
FAISS_SQ = {"int8": "QT_8bit", "int4": "QT_4bit", "float16": "QT_fp16"}


@contextmanager
def numpy_backend():
    """Run the NumPy fallback for the duration (the same code VECTRO_BACKEND=numpy selects)."""
    with kernels.backend("numpy"):
        yield


def seed_quantize(X: np.ndarray):
    """The seed Vectro's NumPy quantiser: per-vector abs-max scale, round, cast to int8."""
    scales = np.max(np.abs(X), axis=1) / 127.0
    scales[scales == 0] = 1.0
    return np.round(X / scales[:, None]).astype(np.int8), scales.astype(np.float32)


def _faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def copy_rate(X: np.ndarray, repeats: int) -> float:
    """Vectors per second np.copyto moves: the memory-bandwidth reference."""
    target = np.empty_like(X)
    seconds, _ = best(lambda: np.copyto(target, X), repeats)
    return len(X) / seconds


def codec_rows(X: np.ndarray, repeats: int) -> tuple[dict, list[dict]]:
    """Reference rates and, per codec, encode/decode rates (fast path, NumPy fallback, FAISS)."""
    n = len(X)
    seed_s, _ = best(lambda: seed_quantize(X), repeats)
    refs = {"copyto": copy_rate(X, repeats), "seed_int8": n / seed_s}
    compile_started = time.perf_counter()
    for spec in CODECS:  # first calls compile (or load from the on-disk cache)
        codec = make_codec(spec).fit(X[:1000])
        codec.decode(codec.encode(X[:2]))
    refs["first_call_seconds"] = time.perf_counter() - compile_started
    faiss = _faiss()
    rows = []
    for spec in CODECS:
        codec = make_codec(spec).fit(X[:100_000])
        encode_s, codes = best(lambda: codec.encode(X), repeats)
        decode_s, _ = best(lambda: codec.decode(codes), repeats)
        with numpy_backend():
            np_encode_s, np_codes = best(lambda: codec.encode(X), 1)
            np_decode_s, _ = best(lambda: codec.decode(codes), 1)
        row = {"codec": spec, "bytes_per_vector": codec.bytes_per_vector(X.shape[1]),
               "encode": n / encode_s, "decode": n / decode_s, "numpy_encode": n / np_encode_s,
               "numpy_decode": n / np_decode_s, "bit_exact": bool(np.array_equal(codes, np_codes))}
        if faiss is not None and spec in FAISS_SQ:
            sq = faiss.IndexScalarQuantizer(X.shape[1], getattr(faiss.ScalarQuantizer, FAISS_SQ[spec]))
            sq.train(X[:100_000])
            faiss_encode_s, faiss_codes = best(lambda: sq.sa_encode(X), repeats)
            faiss_decode_s, _ = best(lambda: sq.sa_decode(faiss_codes), repeats)
            row.update({"faiss": f"SQ {FAISS_SQ[spec]}", "faiss_encode": n / faiss_encode_s,
                        "faiss_decode": n / faiss_decode_s})
        rows.append(row)
    return refs, rows


def scan_rows(X: np.ndarray, queries: np.ndarray, k: int = 10) -> list[dict]:
    """Brute-force top-k throughput (query x vector pairs/s), 1 query and a batch, vs FAISS."""
    from .index import Index

    n, dim = X.shape
    faiss = _faiss()
    rows = []
    for spec in ("int8", "binary"):
        index = Index(dim, spec, metric="ip")
        index.add(X)
        codes = np.asarray(index._codes.view())
        flat = codes.reshape(-1)[: codes.size // 8 * 8].view(np.uint64)
        read_s, _ = best(lambda: np.add.reduce(flat), 3)
        single_s, _ = best(lambda: [index.search(q, k) for q in queries[:20]], 2)
        batch_s, _ = best(lambda: index.search(queries, k), 1)
        row = {"codec": spec, "read_codes_s": read_s, "single_s": single_s / 20, "batch_s": batch_s,
               "single_pairs": n / (single_s / 20), "batch_pairs": n * len(queries) / batch_s,
               "batch": len(queries)}
        if faiss is not None:
            if spec == "int8":
                ref = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
                ref.train(X[:100_000])
                ref.add(X)
                prepare, name = (lambda q: q), "IndexScalarQuantizer QT_8bit (flat)"
            else:
                ref = faiss.IndexBinaryFlat(8 * codes.shape[1])
                ref.add(codes)
                prepare, name = (lambda q: np.packbits(q > 0, axis=1, bitorder="little")), "IndexBinaryFlat (Hamming)"
            f_single_s, _ = best(lambda: [ref.search(prepare(q[None, :]), k) for q in queries[:20]], 2)
            f_batch_s, _ = best(lambda: ref.search(prepare(queries), k), 1)
            row.update({"faiss": name, "faiss_single_pairs": n / (f_single_s / 20),
                        "faiss_batch_pairs": n * len(queries) / f_batch_s})
        rows.append(row)
    return rows


def run(dims=(384, 768, 1536), n: int = 1_000_000, max_bytes: float = 1.6e9, repeats: int = 2,
        scan_n: int = 1_000_000, scan_queries: int = 1000) -> dict:
    """Everything above for each dimension; n shrinks for large d to keep the input under max_bytes."""
    report = {"backend": "numba" if kernels.available() else "numpy", "dims": []}
    for dim in dims:
        rows_n = int(min(n, max_bytes // (4 * dim)))
        X = clustered_vectors(rows_n, dim, seed=dim)
        refs, rows = codec_rows(X, repeats)
        report["dims"].append({"dim": dim, "n": rows_n, "refs": refs, "codecs": rows})
        del X
    scan_n = int(min(scan_n, max_bytes // (4 * dims[0])))
    data = clustered_vectors(scan_n + scan_queries, dims[0], seed=11)
    report["scan"] = {"n": scan_n, "dim": dims[0],
                      "rows": scan_rows(data[:scan_n], data[scan_n:])}
    return report


def markdown(report: dict) -> str:
    lines = []
    for block in report["dims"]:
        refs = block["refs"]
        lines += [f"**d = {block['dim']}, n = {block['n']:,}** — memory-bandwidth reference (np.copyto) "
                  f"{refs['copyto']:,.0f} vectors/s; seed NumPy int8 quantiser {refs['seed_int8']:,.0f} vectors/s; "
                  f"first calls (compile or cache load) {refs['first_call_seconds']:.1f} s.", "",
                  "| codec | B/vector | encode vec/s | ÷ copyto | ÷ seed | ÷ NumPy fallback | FAISS encode vec/s | "
                  "÷ FAISS | decode vec/s | ÷ NumPy fallback | FAISS decode vec/s | bit-exact |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"]
        for row in block["codecs"]:
            faiss_enc = f"{row['faiss_encode']:,.0f}" if "faiss_encode" in row else "–"
            faiss_ratio = f"{row['encode'] / row['faiss_encode']:.2f}x" if "faiss_encode" in row else "–"
            faiss_dec = f"{row['faiss_decode']:,.0f}" if "faiss_decode" in row else "–"
            lines.append(
                f"| `{row['codec']}` | {row['bytes_per_vector']} | {row['encode']:,.0f} | "
                f"{row['encode'] / refs['copyto']:.2f}x | {row['encode'] / refs['seed_int8']:.2f}x | "
                f"{row['encode'] / row['numpy_encode']:.2f}x | {faiss_enc} | {faiss_ratio} | {row['decode']:,.0f} | "
                f"{row['decode'] / row['numpy_decode']:.2f}x | {faiss_dec} | {'yes' if row['bit_exact'] else 'NO'} |")
        lines.append("")
    scan = report["scan"]
    lines += [f"**Brute-force scan, top-10, n = {scan['n']:,}, d = {scan['dim']}** (query x vector pairs per second; "
              "vectro.Index search including top-k selection):", "",
              "| codes | 1 query: pairs/s | time ÷ one read of the codes | FAISS 1 query | batch: pairs/s | FAISS batch | "
              "FAISS index |", "|---|---:|---:|---:|---:|---:|---|"]
    for row in scan["rows"]:
        lines.append(
            f"| `{row['codec']}` | {row['single_pairs']:,.0f} | {row['single_s'] / row['read_codes_s']:.2f}x | "
            f"{row.get('faiss_single_pairs', 0):,.0f} | {row['batch_pairs']:,.0f} (x{row['batch']}) | "
            f"{row.get('faiss_batch_pairs', 0):,.0f} | {row.get('faiss', '–')} |")
    return "\n".join(lines)
