"""Quality per byte: every vectro codec against FAISS and Qdrant's quantisers on the public set.

    python benchmarks/quality.py [--no-write] [--skip-qdrant] [--skip-opq]

For each method: code bytes per vector, recall@10 and nDCG@10 against the exact top-10 (no
re-ranking), and recall@10 after re-scoring its top 100 with the float vectors. All methods fit
on the 50,000 base vectors and answer the 1,000 held-out queries; FAISS and Qdrant rank by their
own inner-product estimates, vectro by its codes' cosine (the metric of the data). Then: the
frontier per byte budget, the tuner's profile picks, rq fit/encode speed, and a Pareto plot
(docs/quality-pareto.png).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import vectro
from vectro.bench import clustered_vectors
from vectro.codecs.profiles import PROFILES
from vectro.metrics.ranking import ndcg_at_k, recall_at_k

from _common import DOC, PUBLIC, best_of, machine_line, public_data_or_exit, write_section

BUDGETS = [16, 24, 32, 48, 64, 96, 128, 192, 384]
VECTRO = ["pq:16", "pq:32x4", "opq:16", "opq:32x4", "pq:24", "pq:48x4", "opq:24", "opq:48x4", "spectral:8",
          "pq:32", "pq:64x4", "opq:32", "pq:48", "pq:96x4", "opq:48", "binary", "rq:1", "spectral:16",
          "pca:96+rq:4", "pca:128+rq:3", "pq:64", "pq:128x4", "opq:64", "pca:128+rq:4", "pq:96", "pq:192x4",
          "pca:192+rq:3", "rq:2", "int2", "pca:192+rq:4", "pca:256+rq:3", "pca:128+int8", "rq:3",
          "pca:256+rq:4", "rq:4", "nf4", "int4", "int8-dim", "int8", "rq:8"]


def rerank_recall(base, queries, shortlist, gt, k=10):
    scores = np.einsum("qd,qcd->qc", queries, base[shortlist])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return recall_at_k(np.take_along_axis(shortlist, order, axis=1), gt, k)


def row(method, family, nbytes, found, gt, base, queries, seconds):
    return {"method": method, "family": family, "bytes": int(nbytes), "recall": recall_at_k(found[:, :10], gt, 10),
            "ndcg": ndcg_at_k(found[:, :10], gt, 10), "rerank": rerank_recall(base, queries, found, gt),
            "seconds": seconds}


def vectro_rows(base, queries, gt, specs):
    rows = []
    for spec in specs:
        started = time.perf_counter()
        packed = vectro.compress(base, spec)
        r = vectro.evaluate(base, packed, queries=queries, k=10, rerank=100, truth=gt)
        rows.append({"method": f"vectro `{spec}`", "spec": spec, "family": "vectro", "bytes": packed.bytes_per_vector,
                     "recall": r["recall@10"], "ndcg": r["ndcg@10"], "rerank": r["recall@10_rerank"],
                     "seconds": time.perf_counter() - started})
        print(rows[-1], flush=True)
    return rows


def faiss_rows(base, queries, gt, skip_opq):
    import faiss

    d, ip = base.shape[1], faiss.METRIC_INNER_PRODUCT
    made = [("FAISS SQ8", lambda: faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, ip)),
            ("FAISS SQ4", lambda: faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_4bit, ip)),
            ("FAISS RaBitQ", lambda: faiss.IndexRaBitQ(d, ip))]
    for m in (16, 24, 32, 48, 64, 96):
        made.append((f"FAISS PQ{m}x8", lambda m=m: faiss.IndexPQ(d, m, 8, ip)))
        if not skip_opq and m <= 64:
            made.append((f"FAISS OPQ{m}+PQ{m}x8",
                         lambda m=m: faiss.IndexPreTransform(faiss.OPQMatrix(d, m), faiss.IndexPQ(d, m, 8, ip))))
    for m in (32, 48, 64, 96, 128, 192):
        made.append((f"FAISS PQ{m}x4 fast-scan", lambda m=m: faiss.IndexPQFastScan(d, m, 4, ip)))
    rows = []
    for name, make in made:
        started = time.perf_counter()
        index = make()
        index.train(base)
        index.add(base)
        _, found = index.search(queries, 100)
        rows.append(row(name, "FAISS", index.sa_code_size(), found, gt, base, queries, time.perf_counter() - started))
        print(rows[-1], flush=True)
    started = time.perf_counter()
    binary = faiss.IndexBinaryFlat(d)
    binary.add(np.packbits(base > 0, axis=1, bitorder="little"))
    _, found = binary.search(np.packbits(queries > 0, axis=1, bitorder="little"), 100)
    rows.append(row("FAISS IndexBinaryFlat (sign bits, Hamming)", "FAISS", d // 8, found, gt, base, queries,
                    time.perf_counter() - started))
    return rows


def _stored_bytes(folder: str) -> int | None:
    """Bytes per vector of Qdrant's quantised storage, from its chunk config (None when kept in RAM only)."""
    for path in Path(folder).glob("segments/*/vector_storage/quantized_data/config.json"):
        return int(json.loads(path.read_text())["dim"])
    return None


def qdrant_rows(base, queries, gt):
    """Qdrant Edge with each quantiser, no HNSW graph (m=0): a full scan of the quantised vectors, no rescoring."""
    try:
        import qdrant_edge as q
    except ImportError:
        return []
    d = base.shape[1]
    configs = [("Qdrant int8 (scalar)", d + 4, q.ScalarQuantizationConfig(type=q.ScalarType.Int8, always_ram=True))]
    for label, encoding, bits in [("1-bit", q.BinaryQuantizationEncoding.OneBit, 1),
                                  ("1.5-bit", q.BinaryQuantizationEncoding.OneAndHalfBits, 1.5),
                                  ("2-bit", q.BinaryQuantizationEncoding.TwoBits, 2)]:
        for query_label, query_encoding in [("binary query", None), ("8-bit query", q.BinaryQuantizationQueryEncoding.Scalar8Bits)]:
            configs.append((f"Qdrant binary {label}, {query_label}", int(d * bits / 8),
                            q.BinaryQuantizationConfig(always_ram=True, encoding=encoding, query_encoding=query_encoding)))
    for label, size, bits in [("1-bit", q.TurboQuantBitSize.Bits1, 1), ("1.5-bit", q.TurboQuantBitSize.Bits1_5, 1.5),
                              ("2-bit", q.TurboQuantBitSize.Bits2, 2), ("4-bit", q.TurboQuantBitSize.Bits4, 4)]:
        configs.append((f"Qdrant TurboQuant {label}", int(d * bits / 8), q.TurboQuantQuantizationConfig(bits=size)))
    rows = []
    for name, nbytes, config in configs:
        folder = tempfile.mkdtemp(prefix="vectro-qdrant-")
        started = time.perf_counter()
        try:
            params = q.EdgeVectorParams(size=d, distance=q.Distance.Dot, quantization_config=config,
                                        hnsw_config=q.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10))
            shard = q.EdgeShard.create(folder, q.EdgeConfig(vectors=params))
            for start in range(0, len(base), 5000):
                points = [q.Point(id=i, vector=base[i].tolist()) for i in range(start, min(len(base), start + 5000))]
                shard.update(q.UpdateOperation.upsert_points(points))
            shard.optimize()
            search = q.SearchParams(quantization=q.QuantizationSearchParams(rescore=False))
            found = np.array([[p.id for p in shard.search(q.SearchRequest(query=q.Query.Nearest(v.tolist()), limit=100,
                                                                          params=search))] for v in queries])
            shard.close()
            nbytes = _stored_bytes(folder) or nbytes
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        rows.append(row(name, "Qdrant", nbytes, found, gt, base, queries, time.perf_counter() - started))
        print(rows[-1], flush=True)
    return rows


def qrels_ndcg(specs, base) -> list[tuple[str, int, float]]:
    """nDCG@10 against the public set's relevance judgements (500 natural queries, binary relevance):
    a task measure like SpectraLTM's BEIR numbers, not agreement with exact search."""
    folder = PUBLIC
    queries = np.load(folder / "qrels_queries.npy")
    relevant: dict[int, set[int]] = {}
    for line in (folder / "qrels.tsv").read_text().splitlines()[1:]:
        qid, base_id, relevance = map(int, line.split("\t"))
        if relevance > 0:
            relevant.setdefault(qid, set()).add(base_id)
    discounts = 1 / np.log2(np.arange(2, 12))
    out = []
    for spec in specs:
        packed = vectro.compress(base, spec)
        decoded_norms = np.linalg.norm(packed.decompress(), axis=1)
        scores = packed.score(queries) / np.where(decoded_norms == 0, 1, decoded_norms)
        top = np.argsort(-scores, axis=1)[:, :10]
        values = []
        for qid, ids in enumerate(top):
            wanted = relevant.get(qid, set())
            ideal = discounts[: min(len(wanted), 10)].sum()
            values.append(sum(d for d, i in zip(discounts, ids) if int(i) in wanted) / ideal if ideal else 0.0)
        out.append((spec, packed.bytes_per_vector, float(np.mean(values))))
        print(out[-1], flush=True)
    return out


def frontier(rows, budget, key="recall"):
    within = [r for r in rows if r["bytes"] <= budget]
    return max(within, key=lambda r: r[key]) if within else None


def speed_lines(base: np.ndarray) -> list[str]:
    X = clustered_vectors(1_000_000, 384, seed=0)
    int8 = vectro.make_codec("int8").fit(X[:10])
    int8_s, _ = best_of(lambda: int8.encode(X), 2)
    lines = ["| codec | fit on 50,000 public vectors (s) | encode vectors/s (1M x 384) | ÷ int8 encode, same run |",
             "|---|---:|---:|---:|"]
    for spec in ("rq:1", "rq:2", "rq:4", "rq:8"):
        fit_s, codec = best_of(lambda: vectro.make_codec(spec).fit(base), 2)
        codec.encode(X[:100])
        encode_s, _ = best_of(lambda: codec.encode(X), 2)
        lines.append(f"| `{spec}` | {fit_s:.2f} | {len(X) / encode_s:,.0f} | {int8_s / encode_s:.2f}x |")
    lines.append(f"\n`int8` encode in the same run: {len(X) / int8_s:,.0f} vectors/s.")
    return lines


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"vectro": "#d7301f", "FAISS": "#2c7fb8", "Qdrant": "#41ab5d"}
    fig, ax = plt.subplots(figsize=(10, 6), dpi=110)
    for family, colour in colours.items():
        mine = sorted((r for r in rows if r["family"] == family), key=lambda r: r["bytes"])
        if not mine:
            continue
        ax.scatter([r["bytes"] for r in mine], [r["recall"] for r in mine], color=colour, s=14, alpha=0.6)
        best, front = -1.0, []
        for r in mine:
            if r["recall"] > best:
                best = r["recall"]
                front.append((r["bytes"], best))
        ax.step(*zip(*front), where="post", color=colour, label=f"{family} frontier")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("code bytes per vector (d=384; float32 = 1536)")
    ax.set_ylabel("recall@10, no re-ranking")
    ax.set_title("Quality per byte on 50,000 all-MiniLM-L6-v2 passages, 1,000 held-out queries")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/ alone")
    parser.add_argument("--skip-qdrant", action="store_true")
    parser.add_argument("--skip-opq", action="store_true", help="leave out OPQ (its training takes about a minute each)")
    args = parser.parse_args()
    base, queries, gt = public_data_or_exit()
    specs = [s for s in VECTRO if not (args.skip_opq and s.startswith("opq"))]
    rows = vectro_rows(base, queries, gt, specs) + faiss_rows(base, queries, gt, args.skip_opq)
    if not args.skip_qdrant:
        rows += qdrant_rows(base, queries, gt)
    rows.sort(key=lambda r: (r["bytes"], -r["recall"]))

    body = [f"Command: `python benchmarks/quality.py` on {machine_line()}.", "",
            "50,000 all-MiniLM-L6-v2 passages (d=384) as the corpus and the training set, 1,000 held-out queries, "
            "recall@10 / nDCG@10 against the shipped exact top-10. *+re-rank* re-scores each method's top 100 with "
            "the float vectors. Bytes are code bytes per vector (scales and per-vector factors included; shared "
            "codebooks and rotations excluded for every library alike). Qdrant Edge runs without an HNSW graph "
            "(a full scan of its quantised vectors, no rescoring); its sizes are read from its storage (int8 keeps "
            "its codes in RAM only: d + 4 assumed).", "",
            "| method | bytes/vector | recall@10 | nDCG@10 | recall@10 +re-rank 100 | fit + search s |",
            "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        body.append(f"| {r['method']} | {r['bytes']} | {r['recall']:.4f} | {r['ndcg']:.4f} | {r['rerank']:.4f} | "
                    f"{r['seconds']:.1f} |")
    ours = [r for r in rows if r["family"] == "vectro"]
    others = [r for r in rows if r["family"] != "vectro"]
    body += ["", "**The frontier per budget**: the best method of at most that many bytes (no re-ranking).", "",
             "| budget (bytes) | best vectro | recall@10 | best FAISS / Qdrant | recall@10 | vectro ahead |",
             "|---:|---|---:|---|---:|:---:|"]
    for budget in BUDGETS:
        mine, theirs = frontier(ours, budget), frontier(others, budget)
        if mine is None:
            continue
        ahead = "yes" if theirs is None or mine["recall"] >= theirs["recall"] else "**no**"
        body.append(f"| {budget} | {mine['method']} | {mine['recall']:.4f} | {theirs['method'] if theirs else '–'} | "
                    f"{theirs['recall']:.4f} | {ahead} |" if theirs else
                    f"| {budget} | {mine['method']} | {mine['recall']:.4f} | – | – | yes |")
    spectral = next(r for r in ours if r["method"] == "vectro `spectral:8`")
    best24 = frontier(ours, spectral["bytes"], "ndcg")
    task = qrels_ndcg(["float32", "spectral:8", best24["spec"]], base)
    body += ["", f"At {spectral['bytes']} bytes, the best vectro codec ({best24['method']}) has nDCG@10 "
             f"{best24['ndcg']:.4f} against the exact top-10, {best24['ndcg'] / spectral['ndcg']:.1f}x the spectral "
             f"codec's {spectral['ndcg']:.4f}. Against the set's relevance judgements (500 natural-language queries, "
             "the measure SpectraLTM reports on BEIR), nDCG@10 is: " +
             ", ".join(f"`{spec}` ({size} B) {value:.4f}" for spec, size, value in task) +
             f": {task[2][2] / task[1][2]:.1f}x the spectral codec's.",
             "", "![quality per byte](quality-pareto.png)", "",
             "**Profiles** (`vectro compress --profile NAME`): the codec each one applies, and its rule.", "",
             "| profile | codec | rule | measured |", "|---|---|---|---|"]
    body += [f"| {name} | `{p.codec}` | {p.rule} | {p.measured} |" for name, p in PROFILES.items()]
    body += ["", "**rq:B speed** (fit on the public base; encode on 1,000,000 synthetic clustered vectors, best of 2):", ""]
    body += speed_lines(base)
    text = "\n".join(body)
    print(text)
    if not args.no_write:
        plot(rows, DOC.parent / "quality-pareto.png")
        write_section("quality", text)


if __name__ == "__main__":
    main()
