"""Learned ranking-preserving projections against PCA, whitened PCA and a random orthogonal projection.

    python benchmarks/learned.py [--dims 16,32,64,128] [--epochs 20] [--threads N] [--data DIR] [--write-docs]

The learned projection trains on the public base (its own 80/10/10 split, seed 42); every method
is then measured the same way: the 1,000 held-out queries search all 50,000 base vectors through
vectro's codec path (float query against the projected codes, cosine), recall@10 / nDCG@10 against
the shipped exact top-10, overlap@10 with the queries projected too. Each method also runs followed
by int8. Training time is wall time on this machine; the methods without training take under a second.
"""

from __future__ import annotations

import time

import numpy as np

import vectro
from vectro.codecs.learned import LearnedProjection
from vectro.train import TrainConfig, train_projection

from _common import DOC, README, arguments, machine_line, pin_threads, public_data_or_exit, readme_source, status, use_data, write_section


def baselines(base: np.ndarray, dim_out: int) -> dict:
    """PCA-whitened and random orthogonal projections as fitted `learned` codecs (no training)."""
    mean = base.mean(axis=0, dtype=np.float64)
    centred = base - mean
    eigvals, eigvecs = np.linalg.eigh(centred.T.astype(np.float64) @ centred / len(base))
    top = np.argsort(eigvals)[::-1][:dim_out]
    whitened = eigvecs[:, top].T / np.sqrt(eigvals[top])[:, None]
    gaussian = np.random.default_rng(0).standard_normal((base.shape[1], dim_out))
    orthogonal = np.linalg.qr(gaussian)[0].T
    return {"PCA + whitening": LearnedProjection.from_arrays(whitened, mean),
            "random orthogonal": LearnedProjection.from_arrays(orthogonal, np.zeros(base.shape[1]))}


def measure(base, queries, gt, codec) -> dict:
    report = vectro.evaluate(base, vectro.compress(base, codec), queries=queries, k=10, truth=gt)
    return {"bytes": report["bytes_per_vector"], "recall": report["recall@10"], "ndcg": report["ndcg@10"],
            "overlap": report["overlap@10"]}


def plot(rows, dims, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for method, colour in [("learned", "#d7301f"), ("PCA", "#2c7fb8"), ("PCA + whitening", "#41ab5d"),
                           ("random orthogonal", "#7f8c8d")]:
        for quantised, style in [(False, "-"), (True, "--")]:
            ys = [next(r["recall"] for r in rows if r["method"] == method and r["dim"] == d and r["int8"] == quantised)
                  for d in dims]
            ax.plot(dims, ys, style, marker="o", color=colour, label=method + (" + int8" if quantised else ""))
    ax.set_xscale("log", base=2)
    ax.set_xticks(dims, [str(d) for d in dims])
    ax.set_xlabel("output dimensions d'")
    ax.set_ylabel("recall@10 (held-out queries)")
    ax.set_title("Projections of 384-d all-MiniLM-L6-v2 embeddings")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main():
    parser = arguments(__doc__)
    parser.add_argument("--dims", default="16,32,64,128")
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    use_data(args.data)
    threads = pin_threads(args.threads)
    base, queries, gt = public_data_or_exit()
    dims = [int(d) for d in args.dims.split(",")]
    rows = []
    for dim in dims:
        started = time.perf_counter()
        model = train_projection(base, TrainConfig(dim_out=dim, epochs=args.epochs),
                                 progress=lambda e, t, r: print(f"d'={dim} epoch {e}: {r}", flush=True))
        seconds = time.perf_counter() - started
        methods = {"learned": model, "PCA": vectro.make_codec(f"pca:{dim}"), **baselines(base, dim)}
        for name, codec in methods.items():
            for quantised in (False, True):
                spec = (codec.then("int8") if isinstance(codec, LearnedProjection) else vectro.make_codec(f"pca:{dim}+int8")) \
                    if quantised else codec
                result = measure(base, queries, gt, spec)
                rows.append({"method": name, "dim": dim, "int8": quantised, **result,
                             "train_s": seconds if name == "learned" else None,
                             "epochs": model.meta_["training"]["best_epoch"] if name == "learned" else None})
                print(rows[-1], flush=True)

    command = (f"Command: `python benchmarks/learned.py --dims {args.dims} --epochs {args.epochs} --write-docs` on "
               f"{machine_line(threads)}.")
    body = [command, "",
            "Training: the public base (50,000 x 384), split 80/10/10 with seed 42; k=50, tau=0.05, lambda=1, one hard "
            "negative per anchor from teacher ranks 51-200, in-batch negatives, batch 256, Adam 2e-3 with cosine decay, "
            "early stopping on validation recall@50 (patience 3), PCA initialisation. Measured: the 1,000 held-out "
            "queries against all 50,000 base vectors (recall@10 / nDCG@10 against the shipped exact top-10).", "",
            "| d' | method | bytes/vector | recall@10 | nDCG@10 | overlap@10 | + int8: bytes | + int8: recall@10 | training |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for dim in dims:
        for name in ("learned", "PCA", "PCA + whitening", "random orthogonal"):
            plain = next(r for r in rows if r["method"] == name and r["dim"] == dim and not r["int8"])
            q8 = next(r for r in rows if r["method"] == name and r["dim"] == dim and r["int8"])
            training = f"{plain['train_s']:.0f} s (best epoch {plain['epochs']})" if plain["train_s"] else "–"
            body.append(f"| {dim} | {name} | {plain['bytes']} | {plain['recall']:.4f} | {plain['ndcg']:.4f} | "
                        f"{plain['overlap']:.4f} | {q8['bytes']} | {q8['recall']:.4f} | {training} |")
    body += ["", "Learned minus PCA (recall@10): " + ", ".join(
        f"d'={d}: {next(r['recall'] for r in rows if r['method'] == 'learned' and r['dim'] == d and not r['int8']) - next(r['recall'] for r in rows if r['method'] == 'PCA' and r['dim'] == d and not r['int8']):+.4f}"
        for d in dims) + ".", "", "![recall vs d'](learned-recall.png)"]
    text = "\n".join(body)
    pick = lambda name, d, q8=False: next(r for r in rows if r["method"] == name and r["dim"] == d and r["int8"] == q8)  # noqa: E731
    readme = ["| d' | learned | PCA | PCA + whitening | random orthogonal | training |", "|---:|---:|---:|---:|---:|---:|"]
    readme += [f"| {d} | " + " | ".join(f"{pick(name, d)['recall']:.3f}" for name in
                                        ("learned", "PCA", "PCA + whitening", "random orthogonal"))
               + f" | {pick('learned', d)['train_s']:.0f} s |" for d in dims]
    targets = [command, "", "| target | measured | status |", "|---|---|---|"]
    gains = {d: pick("learned", d)["recall"] - pick("PCA", d)["recall"] for d in dims}
    small = [d for d in dims if d <= 64]
    if small:
        targets.append(f"| learned beats PCA at every d' <= 64 | " + ", ".join(f"{gains[d]:+.4f} (d'={d})" for d in small)
                       + f" | {status(all(gains[d] > 0 for d in small))} |")
    if 32 in gains:
        targets.append(f"| by at least 0.03 at d'=32 | {gains[32]:+.4f} | {status(gains[32] >= 0.03)} |")
    if 64 in gains:
        r = pick("learned", 64, True)
        targets.append(f"| `learned:64+int8` ({r['bytes']} B/vector) recall@10 >= 0.80 | {r['recall']:.4f} | "
                       f"{status(r['recall'] >= 0.80)} |")
    print(text)
    if args.write_docs:
        plot(rows, dims, DOC.parent / "learned-recall.png")
        write_section("learned", text)
        write_section("targets-learned", "\n".join(targets))
        write_section("learned", readme_source(command, len(base), len(queries)) + "\n\n" + "\n".join(readme), README)


if __name__ == "__main__":
    main()
