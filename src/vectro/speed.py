"""The speed benchmark (`vectro bench speed`, `benchmarks/speed.py`): the public entry points
(`vectro.compress`, `Compressed.decompress`, `Compressed.score`, `Index.add`, `Index.search` for
one query and for a batch), each beside the kernel alone, next to references timed in the same
process on the same arrays.

References: memory bandwidth (np.copyto of the float32 input), the seed Vectro's NumPy int8
quantiser, vectro's own NumPy fallback (VECTRO_BACKEND=numpy path), FAISS's scalar quantiser
(`sa_encode` / `sa_decode`) and FAISS flat indexes for scanning. Every library runs on the same
pinned thread count (single-query timings on one thread for every side), every side is warmed up
once and timed best of the same number of repeats; ratios are computed within one run because
the machine is shared and noisy.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np

from . import kernels
from ._util import best  # noqa: F401  (re-exported: the benchmarks import it from here)
from .bench import clustered_vectors

FAISS_SQ = {"int8": "QT_8bit", "int4": "QT_4bit", "float16": "QT_fp16"}
# queries a call in the search table's small-batch column (a RAG step, a re-ranker's batch)
FEW_QUERIES = 16
# seconds of idle before each search timing: OpenBLAS's threads keep spinning on the cores for a while
# after a product (a batch decoded for BLAS), which would slow whichever method is timed next
SETTLE_SECONDS = 0.2


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
    """Vectors per second np.copyto moves into an array written before: the memory-bandwidth reference."""
    target = np.empty_like(X)
    seconds, _ = best(lambda: np.copyto(target, X), repeats)
    return len(X) / seconds


def fresh_copy_rate(X: np.ndarray, repeats: int) -> float:
    """Vectors per second `X.copy()` makes: np.copyto into a new array, whose first write pays its page faults
    (what a call returning a new array, as `decompress()` does, pays at least)."""
    seconds, _ = best(lambda: X.copy(), repeats)
    return len(X) / seconds


CODECS = ["float16", "bf16", "int16", "int8", "int8-dim", "nf4", "int4", "int2", "binary", "rq:4"]


def scan_codecs(dim: int) -> list[str]:
    """Brute-force search: every codec above, the float32 reference, a 1-bit rotation code, a composite, a
    product quantiser."""
    return ["float32", *CODECS, "rq:1", f"pca:{max(1, dim // 3)}+int8"] + ([f"pq:{dim // 8}"] if dim % 8 == 0 else [])


def other_scan_codecs(dim: int) -> list[str]:
    """Codecs timed beside scan_codecs' whose few-query paths are their own (a scale per group, transform
    coding's tables, the spectral tables); #17's latency target covers scan_codecs only."""
    return ["int4:32", "tc:2", "tc:4"] + (["spectral:16"] if dim // 2 + 1 >= 16 else [])


@contextmanager
def pinned_threads(count: int | None):
    """Every library on `count` threads for the duration (None: every core): vectro's numba kernels,
    BLAS / OpenMP through threadpoolctl when installed, and FAISS's OpenMP when installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # vectro[bench] installs it; without it BLAS keeps its own setting
        threadpool_limits = None
    before = kernels.set_threads(None)
    count = kernels.set_threads(count)
    limiter = threadpool_limits(limits=count) if threadpool_limits else None
    faiss = _faiss()
    if faiss is not None:
        faiss.omp_set_num_threads(count)
    try:
        yield count
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
        kernels.set_threads(before)
        if faiss is not None:
            faiss.omp_set_num_threads(before)


def timed(fn, repeats: int = 3, warmup: int = 1) -> tuple[float, object]:
    """(fastest of `repeats` wall times, the last result) after `warmup` untimed calls; every side of
    every comparison is timed through here with the same counts."""
    for _ in range(warmup):
        fn()
    return best(fn, repeats)


def interleaved(methods: dict, rounds: int = 3) -> dict:
    """name -> (fastest wall time, last result) of each zero-argument callable, timed in `rounds`
    rounds that each call every method once, in turn (a warm-up call first, in the first round):
    a change in the machine's load during the run reaches every method alike."""
    out = {}
    for round_ in range(rounds):
        for name, fn in methods.items():
            seconds, result = timed(fn, 1, warmup=int(round_ == 0))
            out[name] = (min(seconds, out.get(name, (np.inf,))[0]), result)
    return out


def _quiet(row: dict) -> None:
    """The default row callback: the library prints nothing (the CLI's --json owns stdout)."""


def codec_rows(X: np.ndarray, repeats: int, log=_quiet) -> tuple[dict, list[dict]]:
    """References and, per codec: compress / decompress (public), encode / decode (kernel alone),
    the NumPy fallback's compress / decompress and FAISS's sa_encode / sa_decode, in vectors/s."""
    from .compressed import compress

    n = len(X)
    seed_s, _ = timed(lambda: seed_quantize(X), repeats)
    copies = [copy_rate(X, repeats)]  # timed again after each codec; the fastest is the reference
    fresh = [fresh_copy_rate(X, repeats)]
    faiss = _faiss()
    rows = []
    for spec in CODECS:
        compress_s, packed = timed(lambda: compress(X, spec), repeats)
        decompress_s, _ = timed(lambda: packed.decompress(), repeats)
        codec = packed.codec
        # the kernel alone writes into buffers the warm-up already touched, as np.copyto's target is:
        # the public calls return fresh arrays, whose first write also pays the kernel's page faults
        codes_out, vectors_out = np.empty_like(packed.codes), np.empty_like(X)
        encode_s, _ = timed(lambda: codec.encode(X, out=codes_out), repeats)
        decode_s, _ = timed(lambda: codec.decode(packed.codes, out=vectors_out), repeats)
        del codes_out, vectors_out
        with numpy_backend():
            np_compress_s, np_packed = timed(lambda: compress(X, spec), repeats)
            np_decompress_s, _ = timed(lambda: np_packed.decompress(), repeats)
        row = {"codec": spec, "bytes_per_vector": packed.bytes_per_vector, "compress": n / compress_s,
               "decompress": n / decompress_s, "encode": n / encode_s, "decode": n / decode_s,
               "numpy_compress": n / np_compress_s, "numpy_decompress": n / np_decompress_s,
               "bit_exact": bool(np.array_equal(packed.codes, np_packed.codes))}
        if faiss is not None and spec in FAISS_SQ:
            sq = faiss.IndexScalarQuantizer(X.shape[1], getattr(faiss.ScalarQuantizer, FAISS_SQ[spec]))
            sq.train(X[:100_000])
            faiss_encode_s, faiss_codes = timed(lambda: sq.sa_encode(X), repeats)
            faiss_decode_s, _ = timed(lambda: sq.sa_decode(faiss_codes), repeats)
            row.update({"faiss": f"SQ {FAISS_SQ[spec]}", "faiss_encode": n / faiss_encode_s,
                        "faiss_decode": n / faiss_decode_s})
        rows.append(row)
        log(row)
        copies.append(copy_rate(X, repeats))
        fresh.append(fresh_copy_rate(X, repeats))
    return {"copyto": max(copies), "fresh_copy": max(fresh), "seed_int8": n / seed_s}, rows


def few_query_calls(queries: int) -> list[slice]:
    """The small-batch column's calls: the first 20 x FEW_QUERIES queries (or all there are), FEW_QUERIES a call."""
    return [slice(at, min(at + FEW_QUERIES, queries)) for at in range(0, min(queries, 20 * FEW_QUERIES), FEW_QUERIES)]


def scan_rows(base: np.ndarray, queries: np.ndarray, repeats: int, k: int = 10, single: int = 50,
              log=_quiet) -> list[dict]:
    """Brute-force search through the public entry points, per codec: Index.add (vectors/s),
    Index.search of one query (the first `single` queries one call each, one thread for every side),
    of small batches (`few_query_calls`) and of the whole batch (both on
    all pinned threads); Compressed.score of one query (the scoring kernel
    alone) beside them. FAISS IndexFlatIP and flat SQ8 are timed the same way. Every index is built
    first; then each round times every method once, in turn, and each keeps its best round, so a
    change in the machine's load during the run reaches every method alike."""
    from .compressed import compress
    from .index import Index

    n, dim = base.shape
    few = queries[:single]
    batches = [queries[part] for part in few_query_calls(len(queries))]
    methods = []  # (row, one query -> result, one query -> kernel scores or None, queries -> result)
    listed = scan_codecs(dim)
    for spec in listed + other_scan_codecs(dim):
        add_s, index = timed(lambda: _filled_index(Index(dim, spec), base), repeats)
        packed = compress(base, index.codec)  # the index's fitted codec: the same codes
        methods.append(({"method": f"vectro `{spec}`", "codec": spec, "bytes_per_vector": packed.bytes_per_vector,
                         "add": n / add_s, "listed": spec in listed},
                        lambda q, index=index: index.search(q, k), lambda q, packed=packed: packed.score(q[None, :]),
                        lambda Q, index=index: index.search(Q, k)))
    faiss = _faiss()
    for name, make in ([] if faiss is None else [
            ("FAISS IndexFlatIP (float32)", lambda: faiss.IndexFlatIP(dim)),
            ("FAISS IndexScalarQuantizer QT_8bit (flat)",
             lambda: faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT))]):
        def build():
            ref = make()
            ref.train(base)
            ref.add(base)
            return ref
        add_s, ref = timed(build, repeats)
        methods.append(({"method": name, "codec": None, "bytes_per_vector": ref.sa_code_size(), "add": n / add_s},
                        lambda q, ref=ref: ref.search(q[None, :], k), None, lambda Q, ref=ref: ref.search(Q, k)))

    def one_by_one(search):
        return lambda: [search(q) for q in few]

    def settled(fn, warmup: int) -> float:
        time.sleep(SETTLE_SECONDS)
        return timed(fn, 1, warmup=warmup)[0]

    best_s = [{} for _ in methods]
    for round_ in range(repeats):
        warmup = int(round_ == 0)
        for (row, search, score, batch), seconds in zip(methods, best_s):
            timings = {}
            with pinned_threads(1):
                timings["single"] = settled(one_by_one(search), warmup)
                if score is not None:
                    timings["score"] = settled(one_by_one(score), warmup)
            timings["small"] = settled(lambda: [batch(Q) for Q in batches], warmup)
            timings["batch"] = settled(lambda: batch(queries), warmup)
            for key, value in timings.items():
                seconds[key] = min(seconds.get(key, np.inf), value)
    rows = []
    for (row, *_), seconds in zip(methods, best_s):
        row.update({"single_ms": 1e3 * seconds["single"] / len(few), "batch_qps": len(queries) / seconds["batch"],
                    "small_qps": sum(map(len, batches)) / seconds["small"]})
        if "score" in seconds:
            row["score_ms"] = 1e3 * seconds["score"] / len(few)
        rows.append(row)
        log(row)
    return rows


def _filled_index(index, base):
    """`Index.add` of base, after `train` on it when the codec learns from data (part of the timed work)."""
    if not index.is_trained:
        index.train(base)
    index.add(base)
    return index


def run(n: int = 1_000_000, dim: int = 384, repeats: int = 3, scan_n: int = 50_000, queries: int = 1000,
        scan_base: np.ndarray | None = None, scan_queries: np.ndarray | None = None, threads: int | None = None,
        log=_quiet) -> dict:
    """Codec throughput on n clustered vectors of `dim`, then brute-force search on `scan_base` and
    `scan_queries` (default: scan_n clustered vectors and `queries` more), every library pinned to `threads`.
    `log(row)` is called with each row as it is measured."""
    with pinned_threads(threads) as count:
        report = {"backend": kernels.active(), "threads": count, "n": n, "dim": dim,
                  "repeats": repeats}
        X = clustered_vectors(n, dim, seed=dim)
        report["refs"], report["codecs"] = codec_rows(X, repeats, log)
        del X
        if scan_base is None:
            data = clustered_vectors(scan_n + queries, dim, seed=11)
            scan_base, scan_queries = data[:scan_n], data[scan_n:]
        report["scan"] = {"n": len(scan_base), "dim": scan_base.shape[1], "queries": len(scan_queries),
                          "rows": scan_rows(scan_base, scan_queries, repeats, log=log)}
    return report


def markdown(report: dict) -> str:
    """The full tables (docs/benchmarks.md)."""
    refs = report["refs"]
    lines = [f"**Compress and decompress, n = {report['n']:,}, d = {report['dim']}** (vectors/s; warm-up call, then "
             f"best of {report['repeats']}; {report['threads']} threads for every library). References: `np.copyto` "
             f"of the input into an array written before, {refs['copyto']:,.0f} vectors/s (timed again after every "
             f"codec, the fastest kept); `X.copy()`, the same copy into a new array (its first write pays the page "
             f"faults every call returning a new array pays), {refs['fresh_copy']:,.0f} vectors/s "
             f"({refs['fresh_copy'] / refs['copyto']:.2f}x np.copyto); the seed Vectro's NumPy int8 quantiser "
             f"{refs['seed_int8']:,.0f} vectors/s. "
             "*compress* / *decompress* are `vectro.compress(X, codec)` and `Compressed.decompress()` (the public "
             "calls, fit included for trainable codecs), which return new arrays; *kernel* is `codec.encode` / "
             "`codec.decode` on the whole array into an `out=` array written before, as np.copyto's is, so "
             "*compress ÷ kernel* is what the new array's first touch (page faults) costs; *NumPy* is the same "
             "public call with `VECTRO_BACKEND=numpy`.", "",
             "| codec | B/vector | compress | ÷ copyto | ÷ seed | kernel encode | compress ÷ kernel | NumPy compress | "
             "FAISS sa_encode | decompress | ÷ copyto | kernel decode | NumPy decompress | FAISS sa_decode | "
             "bit-exact with NumPy |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"]
    for row in report["codecs"]:
        lines.append(
            f"| `{row['codec']}` | {row['bytes_per_vector']} | {row['compress']:,.0f} | "
            f"{row['compress'] / refs['copyto']:.2f}x | {row['compress'] / refs['seed_int8']:.2f}x | "
            f"{row['encode']:,.0f} | {row['compress'] / row['encode']:.2f}x | {row['numpy_compress']:,.0f} | "
            f"{_maybe(row, 'faiss_encode')} | {row['decompress']:,.0f} | {row['decompress'] / refs['copyto']:.2f}x | "
            f"{row['decode']:,.0f} | {row['numpy_decompress']:,.0f} | {_maybe(row, 'faiss_decode')} | "
            f"{'yes' if row['bit_exact'] else 'no'} |")
    scan = report["scan"]
    int8 = _int8_latency(report)
    calls = few_query_calls(scan["queries"])
    lines += ["", f"**Brute-force search, n = {scan['n']:,}, d = {scan['dim']}, top-10** (cosine for vectro, inner "
              f"product for FAISS on the same unit vectors). Every index is built first, then timed in "
              f"{report['repeats']} interleaved rounds (each method once per round, its best round kept; each timing "
              f"starts after {SETTLE_SECONDS} s idle, so that BLAS threads spinning after the last product do not slow "
              f"it). *1 query*: "
              f"the first 50 queries one call each, on one thread for every library, mean ms per call; *{FEW_QUERIES} a call*: "
              f"the first {calls[-1].stop:,} queries in {len(calls)} calls; *batch*: {scan['queries']:,} queries in one call (both on {report['threads']} "
              f"threads). `Index.search` includes validation, scoring, the norm division, top-k "
              "and id mapping; `Compressed.score` (the codec's scoring kernel alone, over the same codes) returns all "
              "n inner products.", "",
              "| method | B/vector | Index.add vectors/s | Index.search 1 query ms | ÷ int8 | Compressed.score 1 query ms "
              f"| Index.search {FEW_QUERIES} a call QPS | Index.search batch QPS |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in scan["rows"]:
        lines.append(f"| {row['method']} | {row['bytes_per_vector']} | {row['add']:,.0f} | {row['single_ms']:.2f} | "
                     f"{row['single_ms'] / int8:.2f}x | {_maybe(row, 'score_ms', '.2f')} | {row['small_qps']:,.0f} | "
                     f"{row['batch_qps']:,.0f} |")
    return "\n".join(lines)


def _maybe(row: dict, key: str, fmt: str = ",.0f") -> str:
    return format(row[key], fmt) if key in row else "–"


def _int8_latency(report: dict) -> float:
    return next(r["single_ms"] for r in report["scan"]["rows"] if r["codec"] == "int8")


def targets(report: dict) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each #17 target this benchmark measures."""
    refs = report["refs"]
    rows = {r["codec"]: r for r in report["codecs"]}
    int8 = rows["int8"]
    def copy_ratio(row, public, kernel):
        """The public call's ratio, the kernel's into a written array, and X.copy()'s (the page faults' share
        of a miss)."""
        return (f"{row[public] / refs['copyto']:.2f}x (kernel into a written array "
                f"{row[kernel] / refs['copyto']:.2f}x; `X.copy()` into a new array "
                f"{refs['fresh_copy'] / refs['copyto']:.2f}x)"), row[public] / refs["copyto"]

    measured, ratio = copy_ratio(int8, "compress", "encode")
    out = [("`vectro.compress(X, \"int8\")` >= 0.8x `np.copyto`", measured, ratio >= 0.8),
           ("`vectro.compress(X, \"int8\")` >= 8x the seed's NumPy quantiser",
            f"{int8['compress'] / refs['seed_int8']:.2f}x", int8["compress"] >= 8 * refs["seed_int8"])]
    measured, ratio = copy_ratio(int8, "decompress", "decode")
    out.append(("`Compressed.decompress` (int8) >= 0.8x `np.copyto`", measured, ratio >= 0.8))
    for spec in ("int4", "nf4", "binary", "float16"):
        measured, ratio = copy_ratio(rows[spec], "compress", "encode")
        out.append((f"`{spec}` through `compress` >= 0.6x `np.copyto`", measured, ratio >= 0.6))
    int8_ms = _int8_latency(report)
    vectro_rows = [r for r in report["scan"]["rows"] if r["codec"] and r.get("listed", True)]
    others = [r for r in report["scan"]["rows"] if r["codec"] and not r.get("listed", True)]
    worst = max(vectro_rows, key=lambda r: r["single_ms"])

    def ratios(rows):
        return ", ".join(f"`{r['codec']}` {r['single_ms'] / int8_ms:.2f}x" for r in rows)

    out.append((f"single-query brute force at {report['scan']['n']:,}: every codec within 3x of int8's latency",
                f"slowest `{worst['codec']}` {worst['single_ms'] / int8_ms:.2f}x ({worst['single_ms']:.2f} vs "
                f"{int8_ms:.2f} ms); " + ratios(vectro_rows)
                + (f" (timed beside them, outside #17's list: {ratios(others)})" if others else ""),
                worst["single_ms"] <= 3 * int8_ms))
    return out


def summary(report: dict) -> str:
    """The README's speed table: the public calls as ratios to the references of the same run."""
    refs = report["refs"]
    scan = {r["codec"]: r for r in report["scan"]["rows"] if r["codec"]}
    int8_ms = _int8_latency(report)
    lines = [f"Measured by `benchmarks/speed.py` (n = {report['n']:,} x {report['dim']} for compress, "
             f"{report['scan']['n']:,} vectors for search; {report['threads']} threads, one for single queries):", "",
             "| codec | `compress` ÷ np.copyto | `compress` ÷ seed quantiser | `decompress` ÷ np.copyto | "
             "1-query `Index.search` ÷ int8's |", "|---|---:|---:|---:|---:|"]
    for row in report["codecs"]:
        single = scan.get(row["codec"])
        lines.append(f"| `{row['codec']}` | {row['compress'] / refs['copyto']:.2f}x | "
                     f"{row['compress'] / refs['seed_int8']:.2f}x | {row['decompress'] / refs['copyto']:.2f}x | "
                     + (f"{single['single_ms'] / int8_ms:.2f}x |" if single else "– |"))
    return "\n".join(lines)
