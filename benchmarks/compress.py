"""Encode/decode throughput of every codec, next to the seed Vectro's NumPy int8 quantiser, and
recall@10 / nDCG@10 per codec on the public embeddings.

    python benchmarks/compress.py [--n 1000000] [--d 384] [--no-write]

Throughput is measured on synthetic clustered vectors (n x d, float32) in one process; every
ratio compares against the seed quantiser timed in the same run on the same array.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import vectro
from vectro.bench import clustered_vectors
from vectro.demo import DEMO_CODECS
from vectro.speed import copy_rate, seed_quantize

from _common import best_of, machine_line, public_data, write_section


def throughput(n: int, d: int, repeats: int) -> list[str]:
    X = clustered_vectors(n, d, seed=0)
    seed_s, _ = best_of(lambda: seed_quantize(X), repeats)
    copy_per_s = copy_rate(X, repeats)
    lines = [
        f"Throughput on {n:,} x {d} float32 (synthetic clustered), best of {repeats}; "
        "ratios are to the seed Vectro's NumPy int8 quantiser timed in the same run.",
        "",
        f"- memory-bandwidth reference (`np.copyto` of the input): {copy_per_s:,.0f} vectors/s",
        f"- seed NumPy int8 quantiser: {n / seed_s:,.0f} vectors/s",
        "",
        "| codec | bytes/vector | encode vectors/s | encode / seed | decode vectors/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for spec in DEMO_CODECS:
        codec = vectro.make_codec(spec).fit(X[:20_000])
        encode_s, codes = best_of(lambda: codec.encode(X), repeats)
        decode_s, _ = best_of(lambda: codec.decode(codes), repeats)
        lines.append(f"| `{spec}` | {codec.bytes_per_vector(d)} | {n / encode_s:,.0f} | "
                     f"{seed_s / encode_s:.2f}x | {n / decode_s:,.0f} |")
        print(lines[-1], flush=True)
    return lines


def quality() -> list[str]:
    data = public_data()
    if data is None:
        return ["(public data not found: set VECTRO_PUBLIC_DATA to the public-all-MiniLM-L6-v2 folder)"]
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
    for spec in DEMO_CODECS:
        started = time.perf_counter()
        packed = vectro.compress(base, spec)
        r = vectro.evaluate(base, packed, queries=queries, k=10)
        lines.append(f"| `{spec}` | {packed.bytes_per_vector} | {r['compression_ratio']:.1f}x | {r['recall@10']:.4f} | "
                     f"{r['ndcg@10']:.4f} | {r['mrr@10']:.4f} | {r['overlap@10']:.4f} | {r['mean_cosine']:.5f} | "
                     f"{r['min_cosine']:.4f} |")
        print(lines[-1], f"({time.perf_counter() - started:.1f} s)", flush=True)
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    body = [f"Command: `python benchmarks/compress.py --n {args.n} --d {args.d}` on {machine_line()}.", ""]
    body += throughput(args.n, args.d, args.repeats) + [""] + quality()
    if not args.no_write:
        write_section("compress", "\n".join(body))
    print("\n".join(body))


if __name__ == "__main__":
    main()
