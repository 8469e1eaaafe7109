"""Throughput of `vectro.compress` / `Compressed.decompress` for every codec, next to the seed
Vectro's NumPy int8 quantiser, and recall@10 / nDCG@10 per codec on the public embeddings; writes
the README's codec table.

    python benchmarks/compress.py [--n 1000000] [--d 384] [--threads N] [--data DIR] [--write-docs]

Throughput is measured on synthetic clustered vectors (n x d, float32) in one process, every
library pinned to the same threads, warm-up then best of --repeats; every ratio compares against
the seed quantiser timed in the same run on the same array.
"""

from __future__ import annotations

import time

import numpy as np

import vectro
from vectro.bench import clustered_vectors
from vectro.demo import DEMO_CODECS
from vectro.speed import copy_rate, seed_quantize

from _common import data_flag, README, arguments, machine_line, pin_threads, public_data, timed, use_data, write_section


def throughput(n: int, d: int, repeats: int) -> list[str]:
    X = clustered_vectors(n, d, seed=0)
    seed_s, _ = timed(lambda: seed_quantize(X), repeats)
    copy_per_s = copy_rate(X, repeats)
    lines = [
        f"Throughput on {n:,} x {d} float32 (synthetic clustered), best of {repeats}; "
        "ratios are to the seed Vectro's NumPy int8 quantiser timed in the same run.",
        "",
        f"- memory-bandwidth reference (`np.copyto` of the input): {copy_per_s:,.0f} vectors/s",
        f"- seed NumPy int8 quantiser: {n / seed_s:,.0f} vectors/s",
        "",
        "`vectro.compress(X, codec)` includes the fit of trainable codecs (on a seeded sample of at most "
        "100,000 rows); *kernel alone* is the fitted codec's `encode` on the whole array.",
        "",
        "| codec | bytes/vector | compress vectors/s | compress / seed | kernel alone vectors/s | decompress vectors/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for spec in DEMO_CODECS:
        compress_s, packed = timed(lambda: vectro.compress(X, spec), repeats)
        encode_s, _ = timed(lambda: packed.codec.encode(X), repeats)
        decode_s, _ = timed(lambda: packed.decompress(), repeats)
        lines.append(f"| `{spec}` | {packed.bytes_per_vector} | {n / compress_s:,.0f} | "
                     f"{seed_s / compress_s:.2f}x | {n / encode_s:,.0f} | {n / decode_s:,.0f} |")
        print(lines[-1], flush=True)
    return lines


def quality() -> tuple[list[str], list[str]]:
    """The docs' quality table and the README's codec table, from one pass over the codecs."""
    data = public_data()
    if data is None:
        missing = ["(public data not found: pass --data DIR or set VECTRO_PUBLIC_DATA)"]
        return missing, missing
    base, queries, gt = data
    truth = vectro.exact_search(base, queries, 10, metric="ip")
    agreement = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, gt[:, :10])])
    lines = [
        f"Quality on the public set: {len(base):,} all-MiniLM-L6-v2 passages (d=384), {len(queries):,} held-out "
        f"queries, cosine; exact top-10 computed in-process agrees {agreement:.4f} with the shipped `gt_top100.npy`.",
        "",
        "| codec | bytes/vector | ratio | recall@10 | nDCG@10 | MRR@10 | overlap@10 | mean cosine | min cosine |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    codecs = ["| spec | bytes/vector at d=384 | recall@10 | what |", "|---|---:|---:|---|"]
    for spec in DEMO_CODECS:
        started = time.perf_counter()
        packed = vectro.compress(base, spec)
        r = vectro.evaluate(base, packed, queries=queries, k=10)
        lines.append(f"| `{spec}` | {packed.bytes_per_vector} | {r['compression_ratio']:.1f}x | {r['recall@10']:.4f} | "
                     f"{r['ndcg@10']:.4f} | {r['mrr@10']:.4f} | {r['overlap@10']:.4f} | {r['mean_cosine']:.5f} | "
                     f"{r['min_cosine']:.4f} |")
        stages = getattr(packed.codec, "stages", [packed.codec])
        what = "; then ".join(stage.summary for stage in stages)
        codecs.append(f"| `{spec}` | {packed.bytes_per_vector} | {r['recall@10']:.4f} | {what} |")
        print(lines[-1], f"({time.perf_counter() - started:.1f} s)", flush=True)
    return lines, codecs


def main():
    parser = arguments(__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    use_data(args.data)
    threads = pin_threads(args.threads)
    command = (f"Command: `python benchmarks/compress.py --n {args.n} --d {args.d}{data_flag(args)} --write-docs` on "
               f"{machine_line(threads)}.")
    table, codecs = quality()
    body = [command, ""] + throughput(args.n, args.d, args.repeats) + [""] + table
    print("\n".join(body))
    if args.write_docs:
        write_section("compress", "\n".join(body))
        readme = [command.replace("Command:", "Measured with") + " Recall@10 without re-ranking on the public "
                  "passages and held-out queries named in docs/benchmarks.md (cosine).", "", *codecs]
        write_section("codecs", "\n".join(readme), README)


if __name__ == "__main__":
    main()
