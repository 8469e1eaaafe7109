"""vectro serve against a real Chroma server, each driven through its own HTTP client.

    python benchmarks/service.py [--n 50000] [--seconds 5] [--rounds 4] [--clients 1,8,32] [--write-docs]

One server process per configuration (so each RSS is its own): vectro with an int8 collection
(re-scored on the float32 originals kept on disk; brute force, and with an HNSW graph proposing
candidates), vectro with a float32 collection, and Chroma (`chroma run`, its default HNSW, cosine).
Each is loaded in turn with the public set (50,000 x 384 real embeddings, a small payload per record)
in batches of 500: upsert throughput, the server's RSS after loading, recall@10 against the exact
top-10 (NumPy, float64). Then, with every server running and one under load at a time: search QPS,
p50/p99 latency and CPU per search at 1, 8 and 32 concurrent clients for `--seconds` each, without
and with a payload filter matching 10% of the records, each phase cut into `--rounds` rounds that
visit the servers in turn, so that this shared machine's drifts in speed fall on every server alike;
at 8 clients, also with a filter new to each search (the same 10%: vectro keeps a repeated filter's
rows until the next write, and this phase never repeats one). Last, each server's start-up time and
RSS when restarted on its data. The clients run in this process (threads), so absolute QPS is
bounded by the machine; compare the ratios.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

import vectro

from _common import ROOT, machine_line, public_data_or_exit, status, write_section

K = 10
BATCH = 500
FILTER = {"group": 3}  # group = i % 10: 10% of the records
_FRESH = itertools.count(1)


def fresh_filter() -> dict:
    """FILTER's records under a filter no search has used before (vectro keeps a repeated filter's rows until
    the next write: this is the first search of each)."""
    return {"group": {"$in": [FILTER["group"], -next(_FRESH)]}}  # no record is in group -n


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _process_tree(pid: int) -> list[int]:
    """pid and its descendants (Linux /proc)."""
    found, pids = [], [pid]
    while pids:
        p = pids.pop()
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        found.append(p)
        pids += [int(c) for c in children]
    return found


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children."""
    total = 0
    for p in _process_tree(pid):
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def maps_library(pid: int, name: str) -> bool:
    """Whether a process (or a child) has a shared library whose path holds `name` mapped."""
    for p in _process_tree(pid):
        try:
            if name in Path(f"/proc/{p}/maps").read_text():
                return True
        except OSError:
            continue
    return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by a process and its children (their threads included)."""
    total = 0
    for p in _process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def wait_until(check, timeout=120.0, what="server"):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except Exception:  # noqa: BLE001  (not up yet)
            if time.monotonic() > deadline:
                raise SystemExit(f"{what} did not start within {timeout:.0f} s")
            time.sleep(0.2)


def exact_truth(base: np.ndarray, queries: np.ndarray, allowed: np.ndarray | None) -> list[list[int]]:
    """Exact top-K row numbers by cosine, in float64, optionally among `allowed` rows only."""
    X = base.astype(np.float64)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Q = queries.astype(np.float64)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    S = Q @ X.T
    if allowed is not None:
        S[:, ~allowed] = -np.inf
    return np.argsort(-S, axis=1, kind="stable")[:, :K].tolist()


# ----- the two kinds of server, behind one small interface ------------------------------------------
class VectroTarget:
    def __init__(self, label: str, codec: str, folder: Path, **options):
        self.label, self.codec, self.options = label, codec, options
        self.data = folder / label.replace(" ", "_")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "vectro", "serve", "--data", str(self.data),
                                      "--port", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=_env())
        _started(self.proc, lambda: vectro.Client(self.url).health(), self.label)

    def client(self):
        client = vectro.Client(self.url)
        return lambda q, flt: [int(i) for i in client.search("bench", q, k=K, filter=flt, with_payload=False).ids
                               if i is not None]

    def load(self, base: np.ndarray, payloads: list[dict], first: int = 0) -> None:
        """Upsert rows first.. (ids are row numbers); the collection is made by the first call."""
        client = vectro.Client(self.url)
        if first == 0:
            client.create_collection("bench", base.shape[1], codec=self.codec, **self.options)
        client.upsert("bench", base, ids=[str(i) for i in range(first, first + len(base))], payloads=payloads,
                      batch_size=BATCH, progress=False)

    def stop(self) -> None:
        _stopped(self.proc)


class ChromaTarget:
    label = "Chroma"

    def __init__(self, folder: Path):
        import chromadb

        self.chromadb = chromadb
        self.data = folder / "chroma"
        self.port = free_port()
        self.start()

    def start(self) -> None:
        chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
        self.proc = subprocess.Popen([chroma, "run", "--path", str(self.data), "--port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _started(self.proc, lambda: self.chromadb.HttpClient(host="127.0.0.1", port=self.port).heartbeat(), "chroma")

    def _collection(self):
        client = self.chromadb.HttpClient(host="127.0.0.1", port=self.port)
        return client.get_collection("bench")

    def client(self):
        coll = self._collection()

        def search(q, flt):
            res = coll.query(query_embeddings=[q.tolist()], n_results=K, where=flt, include=[])
            return [int(i) for i in res["ids"][0]]

        return search

    def load(self, base: np.ndarray, payloads: list[dict], first: int = 0) -> None:
        client = self.chromadb.HttpClient(host="127.0.0.1", port=self.port)
        coll = (client.create_collection("bench", metadata={"hnsw:space": "cosine"}) if first == 0
                else client.get_collection("bench"))
        for start in range(0, len(base), BATCH):
            stop = min(start + BATCH, len(base))
            coll.upsert(ids=[str(first + i) for i in range(start, stop)], embeddings=base[start:stop],
                        metadatas=payloads[start:stop])

    def stop(self) -> None:
        _stopped(self.proc)


def _started(proc: subprocess.Popen, check, what: str) -> None:
    """Wait until `check` answers; a server that does not is killed, not left running."""
    try:
        wait_until(check, what=what)
    except BaseException:
        proc.kill()
        raise


def _stopped(proc: subprocess.Popen) -> None:
    """SIGTERM (a clean stop: vectro saves its checkpoints), SIGKILL after 60 s."""
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


# ----- measuring ---------------------------------------------------------------------------------
def load_phase(target, base, payloads, queries) -> dict:
    """Load every row; RSS after the first batch and two searches, one filtered (the server's fixed cost,
    warm), and at the end (with whatever the server keeps for the filter, such as vectro's index of the
    filtered field)."""
    started = time.perf_counter()
    target.load(base[:BATCH], payloads[:BATCH])
    seconds = time.perf_counter() - started
    target.client()(queries[0], None)
    target.client()(queries[0], FILTER)
    time.sleep(1.0)
    warm = rss_bytes(target.proc.pid)
    started = time.perf_counter()
    target.load(base[BATCH:], payloads[BATCH:], first=BATCH)
    seconds += time.perf_counter() - started
    time.sleep(1.0)
    return {"upsert_per_s": len(base) / seconds, "rss": rss_bytes(target.proc.pid), "rss_warm": warm,
            "llvm": maps_library(target.proc.pid, "libllvmlite")}


def restart_phase(target, queries) -> dict:
    """Stop the server, start it again on its data: seconds until a search and a filtered search have been
    answered, and the RSS then."""
    target.stop()
    started = time.perf_counter()
    target.start()
    target.client()(queries[0], None)
    target.client()(queries[0], FILTER)
    seconds = time.perf_counter() - started
    time.sleep(1.0)
    return {"restart_s": seconds, "rss_restart": rss_bytes(target.proc.pid)}


def recall_phase(target, queries, truth, flt) -> float:
    search = target.client()
    found = [search(q, flt) for q in queries]
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)]))


def load_test(target, queries, clients: int, seconds: float, flt) -> dict:
    """`clients` threads, each with its own HTTP client, searching for `seconds`: the latencies, the
    elapsed time, and the CPU seconds of the server process and of the clients (this process)."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    stop = threading.Event()
    errors: list = []

    searches = [target.client() for _ in range(clients)]  # connected before the clock starts

    def worker(slot: int):
        search = searches[slot]
        rng = np.random.default_rng(slot)
        try:
            while not stop.is_set():
                q = queries[rng.integers(len(queries))]
                started = time.perf_counter()
                search(q, flt() if callable(flt) else flt)
                latencies[slot].append(time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001  (reported, not hidden)
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    server_cpu, client_cpu = cpu_seconds(target.proc.pid), time.process_time()
    started = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    server_cpu, client_cpu = cpu_seconds(target.proc.pid) - server_cpu, time.process_time() - client_cpu
    if errors:
        raise SystemExit(f"{target.label}: {errors[0]!r}")
    return {"latencies": [x for slot in latencies for x in slot], "elapsed": elapsed,
            "server_cpu": server_cpu, "client_cpu": client_cpu}


def interleaved(targets, queries, clients: int, seconds: float, flt, rounds: int) -> list[dict]:
    """Each target's load test at `clients`, run as `rounds` rounds of seconds / rounds that visit the
    targets in turn (each round starting one further along), so that the machine's drifts in speed
    fall on every server alike. Per target: QPS, p50/p99 latency (ms) and CPU ms per search over all
    rounds, and its QPS in each round."""
    runs: list[list[dict]] = [[] for _ in targets]
    for r in range(rounds):
        for j in range(len(targets)):
            i = (r + j) % len(targets)
            runs[i].append(load_test(targets[i], queries, clients, seconds / rounds, flt))
    out = []
    for per_round in runs:
        ms = np.array([x for run in per_round for x in run["latencies"]]) * 1000
        n, elapsed = len(ms), sum(run["elapsed"] for run in per_round)
        out.append({"qps": n / elapsed, "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
                    "server_cpu_ms": 1000 * sum(run["server_cpu"] for run in per_round) / n,
                    "client_cpu_ms": 1000 * sum(run["client_cpu"] for run in per_round) / n,
                    "round_qps": [len(run["latencies"]) / run["elapsed"] for run in per_round]})
    return out


def run(args) -> list[dict]:
    base, queries, _ = public_data_or_exit()
    base, queries = base[: args.n], queries[: args.queries]
    payloads = [{"group": i % 10, "source": f"doc-{i}"} for i in range(len(base))]
    allowed = np.arange(len(base)) % 10 == FILTER["group"]
    truth = {None: exact_truth(base, queries, None), "filter": exact_truth(base, queries, allowed)}
    folder = Path(tempfile.mkdtemp(prefix="vectro-service-bench-"))
    results = []
    makers = [lambda: VectroTarget("vectro int8", "int8", folder),
              lambda: VectroTarget("vectro float32", "float32", folder, rescore=False),
              # int8 codes with a FAISS HNSW graph proposing candidates (vectro.Index ann="hnsw"), as Chroma does
              lambda: VectroTarget("vectro int8 + HNSW", "int8", folder, ann="hnsw"),
              lambda: ChromaTarget(folder)]
    targets = []
    try:
        for make in makers:  # each loaded while the ones before it idle: every RSS is its own process's
            target = make()
            targets.append(target)
            row = {"label": target.label, **load_phase(target, base, payloads, queries)}
            print(f"{target.label}: loaded {row['upsert_per_s']:,.0f} vectors/s, RSS {row['rss'] / 2**20:,.0f} MiB",
                  flush=True)
            row["recall"] = recall_phase(target, queries, truth[None], None)
            row["recall_filter"] = recall_phase(target, queries, truth["filter"], FILTER)
            results.append(row)
        for clients in args.clients:
            for name, flt in (("plain", None), ("filter", FILTER)):
                for row, stats in zip(results, interleaved(targets, queries, clients, args.seconds, flt, args.rounds)):
                    row[(clients, name)] = stats
                    print(f"  {row['label']:<20} {clients:>2} clients {name:<6} "
                          f"{ {k: v for k, v in stats.items() if k != 'round_qps'} }", flush=True)
        for row, stats in zip(results, interleaved(targets, queries, mid_clients(args.clients), args.seconds,
                                                   fresh_filter, args.rounds)):
            row["fresh"] = stats
            print(f"  {row['label']:<20} a new filter each search {stats['qps']:,.0f} QPS", flush=True)
        for row, target in zip(results, targets):
            row.update(restart_phase(target, queries))
            print(f"{target.label}: restarted in {row['restart_s']:.1f} s, RSS {row['rss_restart'] / 2**20:,.0f} MiB",
                  flush=True)
    finally:
        for target in targets:
            try:
                target.stop()
            except OSError:
                pass
        shutil.rmtree(folder, ignore_errors=True)
    return results


def mid_clients(clients: list[int]) -> int:
    """The client count the targets name (8), or the middle one run."""
    return 8 if 8 in clients else clients[len(clients) // 2]


def growth(row: dict, n: int) -> float:
    """RSS bytes per record loaded after the first batch."""
    return (row["rss"] - row["rss_warm"]) / max(n - BATCH, 1)


def round_ratios(mine: dict, theirs: dict, phase: tuple) -> str:
    """The lowest and highest of the QPS ratios of the rounds that ran side by side."""
    ratios = [a / b for a, b in zip(mine[phase]["round_qps"], theirs[phase]["round_qps"])]
    return f"{min(ratios):.2f} to {max(ratios):.2f}"


def markdown(results: list[dict], args) -> str:
    by = {r["label"]: r for r in results}
    head = ("| server | RSS after load | RSS after the first batch | growth per vector | RSS after a restart | "
            "restart to first answers | upsert vectors/s | recall@10 | recall@10, 10% filter | "
            + " | ".join(f"QPS {c} cl. (p50/p99 ms)" for c in args.clients) + " | "
            + " | ".join(f"QPS {c} cl. filtered" for c in args.clients) + " |")
    lines = [head, "|" + "---|" * (9 + 2 * len(args.clients))]
    for r in results:
        plain = [f"{r[(c, 'plain')]['qps']:,.0f} ({r[(c, 'plain')]['p50']:.1f}/{r[(c, 'plain')]['p99']:.1f})" for c in args.clients]
        filt = [f"{r[(c, 'filter')]['qps']:,.0f} ({r[(c, 'filter')]['p50']:.1f}/{r[(c, 'filter')]['p99']:.1f})" for c in args.clients]
        lines.append(f"| {r['label']} | {r['rss'] / 2**20:,.0f} MiB | {r['rss_warm'] / 2**20:,.0f} MiB | "
                     f"{growth(r, args.n):,.0f} B | {r['rss_restart'] / 2**20:,.0f} MiB | {r['restart_s']:.1f} s | "
                     f"{r['upsert_per_s']:,.0f} | {r['recall']:.4f} | "
                     f"{r['recall_filter']:.4f} | " + " | ".join(plain) + " | " + " | ".join(filt) + " |")
    i8, f32, chroma, i8h = by["vectro int8"], by["vectro float32"], by["Chroma"], by["vectro int8 + HNSW"]
    mid = mid_clients(args.clients)
    ratios = [
        f"- RSS after load: vectro int8 / Chroma = {i8['rss'] / chroma['rss']:.2f} (target <= 0.40): "
        f"{status(i8['rss'] <= 0.4 * chroma['rss'])}; vectro int8 / vectro float32 = {i8['rss'] / f32['rss']:.2f} "
        f"(target <= 0.35): {status(i8['rss'] <= 0.35 * f32['rss'])}. Most of it is each server's fixed cost, "
        f"measured after its first batch of {BATCH} records and two searches, one filtered: vectro {i8['rss_warm'] / 2**20:,.0f} MiB "
        f"(Python, FastAPI, NumPy, " + ("numba and LLVM" if i8["llvm"] else "vectro's C kernels; numba and LLVM not "
                                          "loaded") + f"), Chroma {chroma['rss_warm'] / 2**20:,.0f} MiB.",
        f"- What each further vector costs in RAM (RSS growth over the last {args.n - BATCH:,} records, per record): "
        f"vectro int8 {growth(i8, args.n):,.0f} B, vectro float32 {growth(f32, args.n):,.0f} B, Chroma "
        f"{growth(chroma, args.n):,.0f} B: int8 / Chroma = {growth(i8, args.n) / growth(chroma, args.n):.2f}, "
        f"int8 / float32 = {growth(i8, args.n) / growth(f32, args.n):.2f} (the targets' ratios, on what the "
        f"collection itself holds).",
        "- Restarted on its data (seconds until a search and a filtered search are answered; RSS then): "
        + ", ".join(f"{r['label']} {r['restart_s']:.1f} s, {r['rss_restart'] / 2**20:,.0f} MiB" for r in results) + ".",
        f"- recall@10 of vectro int8 (re-scored on the originals): {i8['recall']:.4f}, "
        f"{i8['recall_filter']:.4f} with the filter (target >= 0.99): "
        f"{status(min(i8['recall'], i8['recall_filter']) >= 0.99)}; Chroma {chroma['recall']:.4f} / "
        f"{chroma['recall_filter']:.4f}.",
        f"- QPS at {mid} clients, vectro int8 / Chroma: {i8[(mid, 'plain')]['qps'] / chroma[(mid, 'plain')]['qps']:.2f} "
        f"unfiltered ({round_ratios(i8, chroma, (mid, 'plain'))} in the {args.rounds} rounds), "
        f"{i8[(mid, 'filter')]['qps'] / chroma[(mid, 'filter')]['qps']:.2f} filtered (target >= 1): "
        f"{status(i8[(mid, 'plain')]['qps'] >= chroma[(mid, 'plain')]['qps'] and i8[(mid, 'filter')]['qps'] >= chroma[(mid, 'filter')]['qps'])}; "
        f"with the HNSW graph {i8h[(mid, 'plain')]['qps'] / chroma[(mid, 'plain')]['qps']:.2f} unfiltered "
        f"(recall@10 {i8h['recall']:.4f}, RSS / Chroma {i8h['rss'] / chroma['rss']:.2f}).",
        f"- A filter new to each search at {mid} clients (`{{'group': {{'$in': [{FILTER['group']}, -n]}}}}`, n counting up, "
        f"and no record in group -n: the same 10%, and no search reuses the rows another matched): "
        + ", ".join(f"{r['label']} {r['fresh']['qps']:,.0f} QPS ({r['fresh']['p50']:.1f}/{r['fresh']['p99']:.1f} ms)"
                    for r in results)
        + f"; vectro int8 / Chroma {i8['fresh']['qps'] / chroma['fresh']['qps']:.2f}. The filtered columns repeat one "
        f"filter, whose rows vectro keeps until the next write.",
        f"- CPU time per unfiltered search at {mid} clients, server / client (ms; both sides share the machine's "
        f"cores, so a heavier client also lowers QPS): "
        + ", ".join(f"{r['label']} {r[(mid, 'plain')]['server_cpu_ms']:.2f} / {r[(mid, 'plain')]['client_cpu_ms']:.2f}"
                    for r in results) + ".",
        f"- Upsert throughput, vectro int8 / Chroma: {i8['upsert_per_s'] / chroma['upsert_per_s']:.2f}.",
    ]
    return "\n".join([
        f"`python benchmarks/service.py --n {args.n} --seconds {args.seconds:g} --rounds {args.rounds} --clients "
        f"{','.join(map(str, args.clients))}`: {args.n:,} public vectors (384-d) with a payload each, "
        f"loaded through each server's HTTP client in batches of {BATCH}; {len(args.clients)} client counts x "
        f"{args.seconds:g} s of single-query searches (k={K}), unfiltered and with `{FILTER}` (10%), each "
        f"cut into {args.rounds} rounds that visit the servers in turn (QPS and CPU over all rounds); "
        f"recall against the exact top-10 over {args.queries} held-out queries. One server process per row, "
        f"all running, one under load at a time; the clients are threads of the benchmark process on the same machine.",
        "", *lines, "", *ratios, "", f"Machine: {machine_line()}.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=200, help="queries for recall (searches draw from them)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each timed search phase")
    parser.add_argument("--rounds", type=int, default=4,
                        help="rounds each timed phase is cut into, visiting the servers in turn")
    parser.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32])
    parser.add_argument("--write-docs", action="store_true", help="write the section into docs/benchmarks.md")
    args = parser.parse_args()
    if args.rounds < 1 or args.seconds <= 0:
        parser.error("--rounds must be at least 1 and --seconds above 0")
    results = run(args)
    text = markdown(results, args)
    print(text)
    if args.write_docs:
        write_section("service", text)


if __name__ == "__main__":
    main()
