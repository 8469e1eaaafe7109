"""Encode/decode/scan speed of the compiled kernels against memory bandwidth, the seed Vectro's
quantiser, vectro's NumPy fallback and FAISS, all in one process (see vectro/speed.py).

    python benchmarks/speed.py [--n 1000000] [--dims 384,768,1536] [--no-write]
"""

from __future__ import annotations

import argparse

from vectro.speed import markdown, run

from _common import machine_line, write_section


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dims", default="384,768,1536")
    parser.add_argument("--scan-queries", type=int, default=1000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    dims = tuple(int(d) for d in args.dims.split(","))
    report = run(dims=dims, n=args.n, scan_n=args.n, scan_queries=args.scan_queries)
    text = (f"Command: `python benchmarks/speed.py --n {args.n} --dims {args.dims}` on {machine_line()}. "
            "`sentence_transformers.quantize_embeddings` is not compared: it needs torch and transformers, "
            "which vectro's benchmark extra does not install.\n\n" + markdown(report))
    if not args.no_write:
        write_section("speed", text)
    print(text)


if __name__ == "__main__":
    main()
