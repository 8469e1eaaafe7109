"""Search on compressed vectors: vectro.Index against FAISS and hnswlib, in one process.

    python benchmarks/search.py [--big-n 1000000] [--skip-big] [--no-write]

Part 1, the public set (50,000 x 384 real embeddings, 1,000 held-out queries): every codec
brute force, with and without re-ranking, memory per vector, recall@10, single-query and batched
QPS; FAISS IndexFlatIP, IndexHNSWFlat, IndexHNSWSQ (8-bit), IndexIVFPQ, IndexBinaryFlat + float
re-rank, and hnswlib on the same queries.
Part 2, `--big-n` synthetic clustered vectors (d=384): vectro's ANN mode (ann="hnsw") against
FAISS HNSW-SQ8 and HNSW-Flat built with the same M / efConstruction, swept over efSearch.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import vectro
from vectro.bench import clustered_vectors

from _common import machine_line, public_data, write_section

K = 10


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a[:K]) & set(b[:K])) / K for a, b in zip(found, truth)]))


def qps(search, Q: np.ndarray, single: int = 200) -> tuple[float, float, np.ndarray]:
    """(single-query QPS over the first `single` queries, batched QPS over all, batched ids)."""
    started = time.perf_counter()
    for q in Q[:single]:
        search(q[None, :])
    single_qps = single / (time.perf_counter() - started)
    started = time.perf_counter()
    ids = search(Q)
    return single_qps, len(Q) / (time.perf_counter() - started), ids


def vectro_rows(base, queries, truth, faiss_threads):
    rows = []
    configs = [("float32", None, [1]), ("float16", None, [1]), ("int8", None, [1]), ("int8", "float32", [2, 4]),
               ("nf4", None, [1]), ("nf4", "float32", [2, 4]), ("int4", "float32", [4]), ("int2", None, [1]),
               ("int2", "int8", [4, 10]), ("binary", None, [1]), ("binary", "int8", [2, 4, 10]),
               ("binary", "float32", [10])]
    for codec, rerank, oversamplings in configs:
        index = vectro.Index(384, codec, rerank=rerank)
        index.add(base)
        memory = index.memory_usage()
        for oversampling in oversamplings:
            search = lambda q: index.search(q, K, oversampling=oversampling)[0]  # noqa: E731
            single, batched, ids = qps(search, queries)
            rows.append((f"vectro `{codec}`" + (f" + `{rerank}` rerank x{oversampling}" if rerank else ""),
                         memory["ram_bytes_per_vector"], memory["mapped_bytes"] / len(base), recall(ids, truth),
                         single, batched))
            print(rows[-1], flush=True)
    return rows


def faiss_rows(base, queries, truth):
    import faiss

    rows = []

    def add(name, index, bytes_per_vector, search=None, prepare=None):
        if prepare:
            prepare(index)
        search = search or (lambda q: index.search(q, K)[1])
        single, batched, ids = qps(search, queries)
        rows.append((name, bytes_per_vector, 0.0, recall(ids, truth), single, batched))
        print(rows[-1], flush=True)

    flat = faiss.IndexFlatIP(384)
    flat.add(base)
    add("FAISS IndexFlatIP", flat, 1536)
    hnsw = faiss.IndexHNSWFlat(384, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 80
    hnsw.add(base)
    hnsw.hnsw.efSearch = 64
    add("FAISS IndexHNSWFlat M=32 ef=64", hnsw, len(faiss.serialize_index(hnsw)) / len(base))
    sq = faiss.IndexHNSWSQ(384, faiss.ScalarQuantizer.QT_8bit, 32, faiss.METRIC_INNER_PRODUCT)
    sq.hnsw.efConstruction = 80
    sq.train(base)
    sq.add(base)
    sq.hnsw.efSearch = 64
    add("FAISS IndexHNSWSQ 8-bit M=32 ef=64", sq, len(faiss.serialize_index(sq)) / len(base))
    ivfpq = faiss.IndexIVFPQ(faiss.IndexFlatIP(384), 384, 256, 48, 8, faiss.METRIC_INNER_PRODUCT)
    ivfpq.train(base)
    ivfpq.add(base)
    ivfpq.nprobe = 16
    add("FAISS IndexIVFPQ 256 lists, PQ48x8, nprobe=16", ivfpq, len(faiss.serialize_index(ivfpq)) / len(base))
    bits = np.packbits(base > 0, axis=1)
    binary = faiss.IndexBinaryFlat(384)
    binary.add(bits)

    def binary_rerank(q):
        _, candidates = binary.search(np.packbits(q > 0, axis=1), K * 10)
        exact = np.einsum("qcd,qd->qc", base[candidates], q)
        return np.take_along_axis(candidates, np.argsort(-exact, axis=1)[:, :K], 1)

    add("FAISS IndexBinaryFlat + float32 rerank x10", binary, 48, search=binary_rerank)
    try:
        import hnswlib
    except ImportError:
        return rows
    graph = hnswlib.Index(space="ip", dim=384)
    graph.init_index(max_elements=len(base), M=32, ef_construction=80)
    graph.add_items(base)
    graph.set_ef(64)
    add("hnswlib M=32 ef=64 (float32)", graph, 1536 + 32 * 2 * 4, search=lambda q: graph.knn_query(q, K)[0])
    return rows


def table(rows) -> list[str]:
    lines = ["| method | RAM bytes/vector | mapped bytes/vector | recall@10 | QPS (1 query) | QPS (batch of 1,000) |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, ram, mapped, rec, single, batched in rows:
        lines.append(f"| {name} | {ram:,.0f} | {mapped:,.0f} | {rec:.4f} | {single:,.0f} | {batched:,.0f} |")
    return lines


def big(n: int, ef_grid=(16, 32, 64, 128, 256), repeats: int = 3) -> list[str]:
    """ANN at scale: every index is built first, then each efSearch is timed on every index in turn
    (best of `repeats`), so the noisy machine affects all methods alike."""
    import faiss

    data = clustered_vectors(n + 1000, 384, seed=7, clusters=1024)
    base, queries = data[:n], data[n:]
    started = time.perf_counter()
    truth = vectro.exact_search(base, queries, K, metric="ip")
    exact_s = time.perf_counter() - started

    def faiss_hnsw(index):
        index.hnsw.efConstruction = 80
        index.train(base)
        index.add(base)
        return index

    def ours():
        index = vectro.Index(384, "int8", metric="ip", ann="hnsw", hnsw_m=32, ef_construction=80)
        index.add(base)
        return index

    methods = {}  # name -> (index, set_ef, search, bytes per vector, build seconds)
    for name, build, set_ef, search, size in [
        ('vectro Index(`int8`, ann="hnsw")', ours, lambda ix, ef: None,
         lambda ix, q, ef: ix.search(q, K, ef=ef)[0], lambda ix: ix.memory_usage()["ram_bytes_per_vector"]),
        ("FAISS IndexHNSWSQ 8-bit",
         lambda: faiss_hnsw(faiss.IndexHNSWSQ(384, faiss.ScalarQuantizer.QT_8bit, 32, faiss.METRIC_INNER_PRODUCT)),
         lambda ix, ef: setattr(ix.hnsw, "efSearch", ef), lambda ix, q, ef: ix.search(q, K)[1],
         lambda ix: len(faiss.serialize_index(ix)) / n),
        ("FAISS IndexHNSWFlat", lambda: faiss_hnsw(faiss.IndexHNSWFlat(384, 32, faiss.METRIC_INNER_PRODUCT)),
         lambda ix, ef: setattr(ix.hnsw, "efSearch", ef), lambda ix, q, ef: ix.search(q, K)[1],
         lambda ix: len(faiss.serialize_index(ix)) / n),
    ]:
        started = time.perf_counter()
        index = build()
        methods[name] = (index, set_ef, search, size(index), time.perf_counter() - started)
        print(f"built {name} in {methods[name][4]:.0f} s", flush=True)

    results = {name: [] for name in methods}
    for ef in ef_grid:
        for name, (index, set_ef, search, _, _) in methods.items():
            set_ef(index, ef)
            runs = [qps(lambda q: search(index, q, ef), queries) for _ in range(repeats)]
            results[name].append((ef, recall(runs[0][2], truth), max(r[1] for r in runs), max(r[0] for r in runs)))
            print(name, results[name][-1], flush=True)

    lines = [f"{n:,} synthetic clustered vectors (1,024 clusters, d=384), 1,000 queries, inner product; exact ground "
             f"truth took {exact_s:.1f} s. HNSW graphs: M=32, efConstruction=80. All indexes are built first; then "
             f"each efSearch is timed on each index in turn, best of {repeats}: batched QPS (1,000 queries in one "
             "call) and single-query QPS (the first 200 queries one call each).", "",
             "| method | efSearch | recall@10 | QPS (batch) | QPS (1 query) | RAM bytes/vector | build s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, rows in results.items():
        for ef, rec, batched, single in rows:
            lines.append(f"| {name} | {ef} | {rec:.4f} | {batched:,.0f} | {single:,.0f} | "
                         f"{methods[name][3]:,.0f} | {methods[name][4]:.0f} |")

    def at_recall(rows, target=0.95):
        hits = [r for r in rows if r[1] >= target]
        return min(hits, key=lambda r: r[0]) if hits else None

    lines.append("")
    for name, rows in results.items():
        hit = at_recall(rows)
        lines.append(f"- {name}: " + (f"first efSearch reaching recall@10 >= 0.95 is {hit[0]}: {hit[2]:,.0f} QPS "
                                      f"batched, {hit[3]:,.0f} single" if hit else "never reaches 0.95 on this grid"))
    names = list(results)
    ours_hit, sq8_hit = at_recall(results[names[0]]), at_recall(results[names[1]])
    if ours_hit and sq8_hit:
        lines.append(f"- vectro / FAISS HNSW-SQ8 at recall 0.95: {ours_hit[2] / sq8_hit[2]:.2f}x batched, "
                     f"{ours_hit[3] / sq8_hit[3]:.2f}x single-query")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-n", type=int, default=1_000_000)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--skip-public", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    data = None if args.skip_public else public_data()
    if data is not None:
        base, queries, gt = data
        truth = gt[:, :K]
        flags = " --skip-big" if args.skip_big else ""
        body = [f"Command: `python benchmarks/search.py{flags}` on {machine_line()}.", "",
                "Public set: 50,000 real all-MiniLM-L6-v2 passages, 1,000 held-out queries, cosine (unit vectors); "
                "recall@10 against the shipped exact top-10. vectro's float32 re-rank vectors are memory-mapped, so "
                "they count as mapped, not RAM.", ""]
        body += table(vectro_rows(base, queries, truth, None) + faiss_rows(base, queries, truth))
        text = "\n".join(body)
        if not args.no_write:
            write_section("search", text)
        print(text)
    if not args.skip_big:
        text = "\n".join([f"Command: `python benchmarks/search.py --skip-public --big-n {args.big_n}` on "
                          f"{machine_line()}.", "", *big(args.big_n)])
        if not args.no_write:
            write_section("search-ann", text)
        print(text)


if __name__ == "__main__":
    main()
