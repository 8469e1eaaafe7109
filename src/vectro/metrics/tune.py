"""`tune`: try candidate codecs on a sample of your data and pick the smallest that meets a target.

Every candidate is fitted on the same seeded sample (the corpus), scored against held-out
queries, and measured against the exact top-k computed once. Sizes are true sizes: the bytes
of each code row plus the codec's learned state (rotations, codebooks, scales) spread over the
n vectors you will store.

    result = vectro.tune(X, target="recall@10=0.95")
    result.chosen            # e.g. "rq:4"
    result.rows              # one dict per candidate, smallest first, with "pareto": True on the frontier
    result.plot("pareto.png")
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import numpy as np

from .._validation import as_matrix
from ..codecs.base import make_codec
from ..compressed import Compressed, _check_metric
from ..errors import VectroError
from ..shards import Runner
from .evaluate import evaluate, exact_search

_TARGET = re.compile(r"^(recall@\d+|ndcg@\d+|mean_cosine)\s*[=>]=?\s*([0-9.]+)$")


def default_candidates(dim: int) -> list[str]:
    """Codecs worth trying at `dim`, from 2x to about 100x smaller (transform codes from 1 to 8 bits per
    dimension, the best per byte from 48 to 384 bytes on the public set; product quantisers where M divides d;
    opq beside pq at the same sizes; rvq at 16 and 32 bytes, the best per byte there on the public set,
    whose fits take the longest; rvq:48, best at 48 bytes, is left to `codecs=`: its fit takes longer still)."""
    specs = ["float16", "tc:8", "int8", "int8-dim", "rq:8", "tc:6", "nf4", "int4", "tc:4", "rq:4", "tc:3", "rq:3",
             "tc:2.5", "int2", "tc:2", "rq:2", "tc:1.5", "tc:1", "rq:1", "binary"]
    half, two_thirds = dim // 2, 2 * dim // 3
    if dim >= 64:
        specs += [f"pca:{two_thirds}+rq:4", f"pca:{two_thirds}+rq:3", f"pca:{half}+rq:4", f"pca:{half}+rq:3",
                  f"pca:{half}+rq:2", f"pca:{dim // 4}+rq:4", f"pca:{half}+int8"]
    for m in (8, 12, 16, 24, 32, 48, 64, 96):
        if dim % m == 0 and dim // m >= 2:
            specs.append(f"pq:{m}")
        if dim % (2 * m) == 0 and dim // (2 * m) >= 2:
            specs.append(f"pq:{2 * m}x4")
        if m in (16, 32, 48) and dim % m == 0 and dim // m >= 2:  # fits take 10-60 s each: three sizes
            specs.append(f"opq:{m}")
    specs += [f"rvq:{m}" for m in (16, 32) if m <= 2 * dim]  # M bytes: any d where that is half of float32 or less
    return list(dict.fromkeys(specs))


def parse_target(target: str) -> tuple[str, float]:
    """'recall@10=0.95' -> ('recall@10', 0.95); also ndcg@k and mean_cosine."""
    match = _TARGET.match(target.strip().lower()) if isinstance(target, str) else None
    if not match:
        raise VectroError(f"cannot parse target {target!r}; use recall@10=0.95, ndcg@10=0.9 or mean_cosine=0.97")
    value = float(match.group(2))
    if not 0 < value <= 1:
        raise VectroError(f"target {target!r}: the value must be in (0, 1]")
    return match.group(1), value


@dataclass
class TuneResult:
    """What `tune` measured: one row per candidate (sorted by bytes) and the codec it picked."""

    rows: list[dict]
    k: int
    quality_key: str
    chosen: str | None
    target: str | None = None
    max_bytes: float | None = None
    shortlist: int | None = None
    corpus: int = 0
    queries: int = 0
    n_total: int = 0
    notes: list[str] = field(default_factory=list)

    def row(self, spec: str) -> dict:
        for row in self.rows:
            if row["codec"] == spec:
                return row
        raise KeyError(spec)

    def to_dict(self) -> dict:
        return {"chosen": self.chosen, "target": self.target, "max_bytes": self.max_bytes, "shortlist": self.shortlist,
                "k": self.k, "quality_key": self.quality_key, "corpus": self.corpus, "queries": self.queries,
                "n_total": self.n_total, "rows": self.rows, "notes": self.notes}

    def plot(self, path) -> None:
        """Bytes per vector (log scale) against the quality measure: one point per codec, the frontier drawn."""
        from ..errors import require

        require("matplotlib", "plot").use("Agg")
        import matplotlib.pyplot as plt

        from ..format.container import atomic_file

        fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
        xs = [r["total_bytes_per_vector"] for r in self.rows]
        ys = [r[self.quality_key] for r in self.rows]
        ax.scatter(xs, ys, color="#7f8c8d", s=18, zorder=2)
        for r, x, y in zip(self.rows, xs, ys):
            ax.annotate(r["codec"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        front = [(r["total_bytes_per_vector"], r[self.quality_key]) for r in self.rows if r["pareto"]]
        if front:
            ax.step(*zip(*front), where="post", color="#2c7fb8", zorder=1, label="Pareto frontier")
        if self.chosen:
            chosen = self.row(self.chosen)
            ax.scatter([chosen["total_bytes_per_vector"]], [chosen[self.quality_key]], s=90, facecolors="none",
                       edgecolors="#d7301f", linewidths=2, zorder=3, label=f"chosen: {self.chosen}")
        if self.target:
            ax.axhline(parse_target(self.target)[1], color="#d7301f", linestyle=":", linewidth=1, label=self.target)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("bytes per vector (codes + scales + codec state)")
        ax.set_ylabel(self.quality_key + (f" (top {self.shortlist} re-scored)" if self.shortlist else ""))
        ax.set_title(f"vectro tune: {self.corpus:,} vectors, {self.queries:,} held-out queries")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        with atomic_file(path) as f:
            fig.savefig(f, format="png")
        plt.close(fig)


def tune(X, queries=None, *, target: str | None = None, max_bytes: float | None = None,
         shortlist: int | None = None, codecs: list[str] | None = None, k: int = 10, metric: str = "cosine",
         sample: int = 20_000, n_queries: int = 500, n_total: int | None = None, seed: int = 0,
         progress=None, runner: Runner | None = None) -> TuneResult:
    """Evaluate candidate codecs on a sample of X (n, d) and choose one.

    target: 'recall@10=0.95', 'ndcg@10=0.9' or 'mean_cosine=0.97': the smallest codec meeting it.
    max_bytes: the best codec (by recall@k) of at most this many bytes per vector.
    shortlist: measure after re-scoring this many top candidates with the float vectors.
    queries: float (nq, d) held-out queries; default: `n_queries` rows of X kept out of the corpus.
    n_total: how many vectors you will store (default len(X)): spreads codec state over them.
    progress(done, total) is called after each candidate. runner: where the candidates are measured,
    each as one task (default: one after another in this process; `vectro.distributed.DaskRunner`
    measures them on a cluster's workers, the corpus and queries sent once).
    """
    _check_metric(metric)
    if target is None and max_bytes is None:
        raise VectroError("give a quality target (e.g. recall@10=0.95) or a byte budget (max_bytes)")
    if target is not None and max_bytes is not None:
        raise VectroError("give either a target or max_bytes, not both")
    key, goal = parse_target(target) if target else (f"recall@{k}", None)
    if key.startswith(("recall@", "ndcg@")):
        k = int(key.split("@")[1])
    X = as_matrix(X, "X")
    n, dim = X.shape
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    if queries is None:
        held = min(n_queries, n // 5)
        if held < 1 or n - held < max(k, 2):
            raise VectroError(f"tune needs more vectors than {n} to hold queries out of the corpus")
        Q, corpus_rows = X[np.sort(order[:held])], order[held:]
    else:
        Q, corpus_rows = as_matrix(queries, "queries", dim), order
    corpus = X[np.sort(corpus_rows[:sample])]
    if shortlist is not None and shortlist < k:
        raise VectroError(f"shortlist must be at least k={k}")
    n_total = n_total or n
    truth = exact_search(corpus, Q, k, metric)
    quality_key = key + ("_rescored" if shortlist and key != "mean_cosine" else "")

    specs = list(dict.fromkeys(codecs or default_candidates(dim)))
    measured = (runner or Runner()).map(_measure_or_say_why, specs, progress=progress,
                                        shared=(corpus, Q, truth, k, metric, shortlist, n_total, seed))
    rows = [row for row in measured if isinstance(row, dict)]
    notes = [row for row in measured if isinstance(row, str)]
    if not rows:
        raise VectroError("no candidate codec could be evaluated: " + "; ".join(notes))
    rows.sort(key=lambda r: (r["total_bytes_per_vector"], -r[quality_key]))
    best = -np.inf
    for row in rows:
        row["pareto"] = row[quality_key] > best
        best = max(best, row[quality_key])
    if goal is not None:
        meeting = [r for r in rows if r[quality_key] >= goal]
        chosen = meeting[0]["codec"] if meeting else None  # rows are sorted by size
        if chosen is None:
            notes.append(f"no candidate reaches {target}; the best is {max(rows, key=lambda r: r[quality_key])['codec']}")
    else:
        within = [r for r in rows if r["total_bytes_per_vector"] <= max_bytes]
        chosen = max(within, key=lambda r: (r[quality_key], -r["total_bytes_per_vector"]))["codec"] if within else None
        if chosen is None:
            notes.append(f"no candidate fits in {max_bytes} bytes per vector")
    return TuneResult(rows=rows, k=k, quality_key=quality_key, chosen=chosen, target=target, max_bytes=max_bytes,
                      shortlist=shortlist, corpus=len(corpus), queries=len(Q), n_total=n_total, notes=notes)


def _measure_or_say_why(spec: str, shared: tuple) -> dict | str:
    """One candidate's row, or why it could not be measured (e.g. pq:M where M does not divide d)."""
    try:
        return _measure(spec, *shared)
    except VectroError as exc:
        return f"{spec}: {exc}"


def _measure(spec, corpus, Q, truth, k, metric, shortlist, n_total, seed) -> dict:
    codec = make_codec(spec)
    started = time.perf_counter()
    codec.fit(corpus if codec.trainable else corpus[:1], seed=seed)
    codec.encode(corpus[:64])  # loads compiled kernels: time the steady state
    fitted = time.perf_counter()
    codes = codec.encode(corpus)
    encoded = time.perf_counter()
    packed = Compressed(codec, codes, {"metric": metric})
    report = evaluate(corpus, packed, queries=Q, k=k, metric=metric, shortlist=shortlist, truth=truth, seed=seed)
    state_bytes = packed.nbytes - codes.nbytes
    row = {
        "codec": codec.spec,
        "bytes_per_vector": packed.bytes_per_vector,
        "state_bytes": int(state_bytes),
        "total_bytes_per_vector": packed.bytes_per_vector + state_bytes / n_total,
        f"recall@{k}": report[f"recall@{k}"],
        f"ndcg@{k}": report[f"ndcg@{k}"],
        "mean_cosine": report["mean_cosine"],
        "fit_seconds": fitted - started,
        "encode_vectors_per_s": len(corpus) / max(encoded - fitted, 1e-9),
    }
    if shortlist:
        row[f"recall@{k}_rescored"] = report[f"recall@{k}_rescored"]
        row[f"ndcg@{k}_rescored"] = report[f"ndcg@{k}_rescored"]
    return row
