"""Write the labelled sample that `vectro models bench` uses when given no files.

    python benchmarks/make_embed_sample.py

From the public set's relevance judgements: 40 seeded queries that each have 2-10 relevant
passages, all their relevant passages, and random other base passages up to 300 in all.
Writes src/vectro/data/bench_passages.jsonl.gz, bench_queries.jsonl and bench_qrels.tsv.
"""

from __future__ import annotations

import csv
import gzip
import json

import numpy as np

from _common import PUBLIC, ROOT

QUERIES, PASSAGES, SEED = 40, 300, 16
OUT = ROOT / "src" / "vectro" / "data"


def main() -> None:
    with open(PUBLIC / "qrels.tsv") as f:
        qrels = [(int(r["qid"]), int(r["base_id"])) for r in csv.DictReader(f, delimiter="\t")]
    with open(PUBLIC / "qrels_queries.tsv") as f:
        query_text = {int(r["qid"]): r["query"] for r in csv.DictReader(f, delimiter="\t")}
    relevant: dict[int, list[int]] = {}
    for qid, base_id in qrels:
        relevant.setdefault(qid, []).append(base_id)
    rng = np.random.default_rng(SEED)
    eligible = sorted(q for q, ids in relevant.items() if 2 <= len(ids) <= 10)
    chosen = sorted(int(q) for q in rng.choice(eligible, QUERIES, replace=False))
    keep = sorted({b for q in chosen for b in relevant[q]})
    others = np.setdiff1d(np.arange(50000), keep)
    keep = sorted(keep + [int(b) for b in rng.choice(others, PASSAGES - len(keep), replace=False)])
    wanted = set(keep)
    rows = {}
    with gzip.open(PUBLIC / "base_texts.jsonl.gz", "rt") as f:
        for line in f:
            row = json.loads(line)
            if row["id"] in wanted:
                rows[row["id"]] = {"id": row["id"], "text": row["text"], "group": row["doc"]}
    with gzip.GzipFile(OUT / "bench_passages.jsonl.gz", "wb", mtime=0) as f:
        f.write("".join(json.dumps(rows[b]) + "\n" for b in keep).encode())
    with open(OUT / "bench_queries.jsonl", "w") as f:
        f.writelines(json.dumps({"id": q, "text": query_text[q]}) + "\n" for q in chosen)
    with open(OUT / "bench_qrels.tsv", "w") as f:
        f.write("qid\tpassage_id\trelevance\n")
        f.writelines(f"{q}\t{b}\t1\n" for q in chosen for b in sorted(relevant[q]))
    print(f"{len(chosen)} queries, {len(keep)} passages, {sum(len(relevant[q]) for q in chosen)} judgements")


if __name__ == "__main__":
    main()
