"""Speed of the public entry points (compress, decompress, score, Index.add, Index.search) against
memory bandwidth, the seed Vectro's quantiser, vectro's NumPy fallback and FAISS, in one process.

    python benchmarks/speed.py [--n 1000000] [--dim 384] [--repeats 3] [--threads N] [--data DIR] [--write-docs]

Compress/decompress run on n synthetic clustered vectors; brute-force search on the public set
(50,000 x 384, 1,000 queries; synthetic vectors of the same size when it is absent). Every library
is pinned to the same threads (single queries: one thread each); see vectro/speed.py.
"""

from __future__ import annotations

from _common import data_flag, arguments, machine_line, public_data, status, use_data, write_section

from vectro.speed import markdown, run, summary, targets


def main():
    parser = arguments(__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    use_data(args.data)
    data = public_data()
    base, queries = (data[0], data[1]) if data is not None and args.dim == 384 else (None, None)
    report = run(n=args.n, dim=args.dim, repeats=args.repeats, scan_base=base, scan_queries=queries,
                 threads=args.threads, log=lambda row: print(row, flush=True))
    source = "the public set" if base is not None else "synthetic clustered vectors (public set not found)"
    command = (f"Command: `python benchmarks/speed.py --n {args.n} --dim {args.dim} --repeats {args.repeats}"
               + (f" --threads {args.threads}" if args.threads else "") + data_flag(args) + " --write-docs` on "
               f"{machine_line(report['threads'])}. Search on {source}.")
    text = command + "\n\n" + markdown(report)
    rows = targets(report)
    target_text = "\n".join([command, "", "| target (#17) | measured | status |", "|---|---|---|"]
                            + [f"| {t} | {m} | {status(ok)} |" for t, m, ok in rows])
    print(text, "\n", target_text, sep="\n")
    if args.write_docs:
        write_section("speed", text)
        write_section("targets-speed", target_text)
        from _common import README

        write_section("speed", command.replace("Command:", "Measured with") + "\n\n" + summary(report), README)


if __name__ == "__main__":
    main()
