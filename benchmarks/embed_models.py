"""Embedding models compared on the bundled labelled sample (what `vectro models bench` prints).

    python benchmarks/embed_models.py [--models minilm,openai-small] [--write-docs]

Runs `vectro.embed.benchmark_models` on the 300 passages and 40 judged queries that ship in
`vectro/data/bench_*`: seconds per text (after a warm-up call that loads the model), contrast
(mean cosine of same-page passage pairs minus different-page pairs), and recall@10 / nDCG@10
against the judgements with float32 vectors and after each codec. Remote models need their key
in the environment; models that cannot run here are listed with the reason.
With --write-docs, writes the `embed-models` section of docs/benchmarks.md.
"""

from __future__ import annotations

import os

from vectro.embed import benchmark_models

from _common import arguments, machine_line, write_section

CODECS = ["float16", "int8", "nf4", "rq:2", "binary"]


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--models", default="minilm", help="Comma-separated registry names (default: minilm).")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    report = benchmark_models(args.models.split(","), codecs=CODECS)
    lines = [f"Command: `python benchmarks/embed_models.py --models {args.models}` on {machine_line()}; "
             f"the bundled sample: {report['passages']} passages, {report['queries']} judged queries. "
             f"s/text is wall time on a shared machine (1-minute load average {load:.1f} at the start): "
             "compare models within one run, not across machines.", "",
             "| model | provider | dim | s/text | contrast | codec | bytes/vector | recall@10 | nDCG@10 |",
             "|---|---|---:|---:|---:|---|---:|---:|---:|"]
    for row in report["models"]:
        if "error" in row:
            lines.append(f"| {row['model']} | {row['provider']} | {row['dimension']} | - | - | not run: {row['error']} | | | |")
            continue
        head = (f"| {row['model']} | {row['provider']} | {row['dimension']} | {row['seconds_per_text']:.4f} | "
                f"{row['contrast']:.3f} |")
        lines.append(f"{head} float32 | {4 * row['dimension']} | {row['recall@10']:.4f} | {row['ndcg@10']:.4f} |")
        for c in row["codecs"]:
            lines.append(f"| | | | | | {c['codec']} | {c['bytes_per_vector']} | {c['recall@10']:.4f} | {c['ndcg@10']:.4f} |")
    text = "\n".join(["## Embedding models", ""] + lines)
    print(text)
    if args.write_docs:
        write_section("embed-models", text)


if __name__ == "__main__":
    main()
