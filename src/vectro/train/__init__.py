"""Training learned projections (`learned:D`): `train_projection`, `evaluate_model`, `sweep`.

    from vectro.train import TrainConfig, train_projection
    model = train_projection(X, TrainConfig(dim_out=64, k=50, epochs=20))   # needs vectro[train]
    model.save("model.npz")                                              # applying it needs numpy only
    packed = vectro.compress(X, model.then("int8"))

The rows are split 80/10/10 (train / validation / test) with a seed recorded in the model: the
teacher neighbours and PCA initialisation come from the training rows, early stopping watches
recall@k of the validation rows searched among the training rows, and the test rows give the
metrics stored with the model. Pass held-out `queries` to measure on those instead.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .._util import best, sample
from .._validation import as_matrix
from ..codecs.learned import LearnedProjection, load_model
from ..errors import VectroError

__all__ = ["TrainConfig", "train_projection", "fit_codec", "evaluate_model", "sweep", "load_model", "split_rows"]

SPLIT = (0.8, 0.1, 0.1)


@dataclass
class TrainConfig:
    """Hyperparameters of listwise distillation (defaults: the seed compressor's where it had them)."""

    dim_out: int = 64
    k: int = 50  # teacher top-k per anchor: candidates, and the @k of validation and test metrics
    epochs: int = 20
    tau: float = 0.05
    lambda_list: float = 1.0
    mse_weight: float = 0.0  # optional pairwise MSE on similarities
    hard_neg_l: int = 200  # hard negatives come from teacher ranks k+1..L
    hard_neg_per_anchor: int = 1
    queue_size: int = 0
    batch_size: int = 256
    lr: float = 2e-3
    mlp: bool = False
    mlp_hidden: int | None = None  # default 2 x dim_out
    max_items: int | None = None
    seed: int = 42
    patience: int = 3  # epochs without a better validation recall before stopping (0: never)
    val_queries: int = 1000
    threads: int | None = None

    def check(self, n: int, dim: int) -> None:
        if not 1 <= self.dim_out < dim:
            raise VectroError(f"dim_out must be between 1 and {dim - 1} (the input has {dim} dimensions), "
                              f"got {self.dim_out}")
        for name in ("k", "epochs", "batch_size", "hard_neg_l"):
            if getattr(self, name) < 1:
                raise VectroError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.tau <= 0 or self.lr <= 0:
            raise VectroError("tau and lr must be positive")
        if min(self.hard_neg_per_anchor, self.queue_size, self.mse_weight, self.lambda_list) < 0:
            raise VectroError("hard_neg_per_anchor, queue_size, mse_weight and lambda_list cannot be negative")
        train_rows = int(n * SPLIT[0])
        if n - train_rows < 2 or train_rows < self.k + 2:
            raise VectroError(f"too few rows for the 80/10/10 split: {n} rows give {train_rows} training rows, but "
                              f"k={self.k} needs at least {self.k + 2} (and validation and test rows need "
                              f"{max(20, int(np.ceil((self.k + 2) / SPLIT[0])))} rows in all)")


def split_rows(n: int, seed: int) -> dict[str, np.ndarray]:
    """The seeded 80/10/10 split of n rows: sorted row numbers of train, val and test."""
    order = np.random.default_rng(seed).permutation(n)
    a, b = int(n * SPLIT[0]), int(n * (SPLIT[0] + SPLIT[1]))
    return {"train": np.sort(order[:a]), "val": np.sort(order[a:b]), "test": np.sort(order[b:])}


def _fingerprint(X: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(X, dtype=np.float32).tobytes()).hexdigest()[:16]


def _subset(X: np.ndarray, max_items: int | None, seed: int) -> np.ndarray:
    return sample(X, max_items, seed) if max_items else X


def train_projection(X, config: TrainConfig | None = None, queries=None, progress=None) -> LearnedProjection:
    """Train a `learned:D` projection on X (n, d) float; returns the fitted codec with its metadata.

    progress(epoch, epochs, record) is called after each epoch with its loss and validation recall.
    """
    from ..codecs.base import make_codec
    from ..metrics.evaluate import exact_search, prepare_for_metric
    from ..metrics.ranking import recall_at_k, top_k
    from .listwise import distill, student_scores

    config = replace(config or TrainConfig())  # a copy: the defaults filled in below stay ours
    X = _subset(as_matrix(X, "X"), config.max_items, config.seed)
    n, dim = X.shape
    config.check(n, dim)
    if config.mlp and not config.mlp_hidden:
        config.mlp_hidden = 2 * config.dim_out
    rows = split_rows(n, config.seed)
    unit = prepare_for_metric(X, "cosine")
    train = unit[rows["train"]]
    pool = min(max(config.hard_neg_l, config.k), len(train) - 1)
    neighbours = exact_search(train, train, pool, metric="ip", exclude=np.arange(len(train)))
    pca = make_codec(f"pca:{config.dim_out}").fit(train)

    val = unit[rows["val"][: config.val_queries]]
    k_val = min(config.k, len(train))
    val_truth = exact_search(train, val, k_val, metric="ip")

    def validate(arrays: dict) -> float:
        return recall_at_k(top_k(student_scores(arrays, train, val), k_val)[0], val_truth, k_val)

    result = distill(config, train, neighbours, pca.components_, pca.mean_, validate, progress)
    meta = {
        "format_version": 1,
        "config": asdict(config),
        "split": {"seed": config.seed, "fractions": list(SPLIT), **{f"n_{k}": int(len(v)) for k, v in rows.items()},
                  "indices": "np.random.default_rng(seed).permutation(n), then 80/10/10"},
        "data": {"n": int(n), "dim": int(dim), "sha256_16": _fingerprint(X), "max_items": config.max_items},
        "teacher": {"metric": "cosine", "pool": int(pool)},
        "training": {k: result[k] for k in ("best_epoch", "best_val_recall", "history", "train_seconds")},
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    arrays = result["arrays"]
    model = LearnedProjection.from_arrays(arrays["weight"], arrays["mean"], meta, arrays.get("mlp_in"),
                                          arrays.get("mlp_out"))
    model.meta_["metrics"] = evaluate_model(model, X, queries=queries, k=config.k, seed=config.seed)
    return model


def fit_codec(codec, X, config: TrainConfig | None = None, queries=None, progress=None, seed: int = 0, **options):
    """A fitted codec for `codec` (a spec such as "learned:64+int8", or a Codec) on X (n, d).

    Each untrained `learned:D` stage is trained by `train_projection` (on what the stages before
    it output) with `config`, or TrainConfig(**options); every other stage is fitted as usual,
    with `seed`. The caller's codec object is never changed (an unfitted one is cloned).
    """
    from ..codecs.base import own_codec
    from ..codecs.composite import Composite

    X = as_matrix(X, "X")
    codec = own_codec(codec, X.shape[1])
    projections = codec.projections if isinstance(codec, Composite) else [codec]
    Z = X
    for stage in projections:
        if isinstance(stage, LearnedProjection):
            if not stage.is_fitted:
                base = config or TrainConfig(**options)
                stage.adopt(train_projection(Z, replace(base, dim_out=stage.out_dim, mlp=stage.mlp),
                                             queries=queries if Z is X else None, progress=progress))
        elif hasattr(stage, "transform"):
            stage.fit(Z, seed=seed)
        else:
            break
        Z = stage.transform(Z)
    return codec.fit(X, seed=seed)


def evaluate_model(model: LearnedProjection | str | Path, X, queries=None, k: int = 50, seed: int | None = None,
                   quantiser: str | None = None, max_items: int | None = None) -> dict:
    """recall@k, ndcg@k, mrr@k, overlap@k (queries projected too) and bytes of `model` on X.

    Without queries: the model's test split of X (by its recorded seed) searches the training
    rows. With queries: they search all of X. `quantiser` (e.g. "int8") follows the projection.
    """
    import vectro

    if not isinstance(model, LearnedProjection):
        model = load_model(model)
    config = model.meta_.get("config", {})
    seed = config.get("seed", 42) if seed is None else seed
    X = _subset(as_matrix(X, "X", model.dim_), max_items if max_items is not None else config.get("max_items"), seed)
    if queries is None:
        rows = split_rows(len(X), seed)
        corpus, Q = X[rows["train"]], X[rows["test"]]
    else:
        corpus, Q = X, as_matrix(queries, "queries", model.dim_)
    k = min(k, len(corpus))
    codec = model.then(quantiser) if quantiser else model
    report = vectro.evaluate(corpus, vectro.compress(corpus, codec), queries=Q, k=k)
    keep = (f"recall@{k}", f"ndcg@{k}", f"mrr@{k}", f"overlap@{k}", "mean_cosine", "bytes_per_vector", "queries", "k")
    return {**{key: report[key] for key in keep}, "codec": codec.spec,
            "queries_from": "given queries" if queries is not None else "test split"}


def sweep(X, dim_outs, config: TrainConfig | None = None, queries=None, model_dir=None, progress=None) -> list[dict]:
    """Train and evaluate one model per output dimension: a list of {"metrics", "meta"} records."""
    config = config or TrainConfig()
    records = []
    for dim_out in dim_outs:
        run = TrainConfig(**{**asdict(config), "dim_out": int(dim_out)})
        model = train_projection(X, run, queries=queries,
                                 progress=(lambda e, t, r, d=dim_out: progress(d, e, t, r)) if progress else None)
        meta = {key: value for key, value in model.meta_.items() if key != "metrics"}
        meta["dim_out"] = int(dim_out)
        if model_dir:
            path = Path(model_dir) / f"learned-{dim_out}.npz"
            path.parent.mkdir(parents=True, exist_ok=True)
            meta["model_path"] = str(model.save(path))
        records.append({"metrics": model.meta_["metrics"], "meta": json.loads(json.dumps(meta))})
    return records


def benchmark_model(model: LearnedProjection | str | Path, X, queries=None, k: int = 10,
                    max_items: int | None = None, repeats: int = 3) -> dict:
    """The model against PCA at the same width on the same split: quality, and projection speed.

    Speed is numpy inference (what applying a model costs), best of `repeats`, with PCA's
    projection timed in the same run as the reference.
    """
    from ..codecs.base import make_codec

    if not isinstance(model, LearnedProjection):
        model = load_model(model)
    config = model.meta_.get("config", {})
    seed = config.get("seed", 42)
    X = _subset(as_matrix(X, "X", model.dim_), max_items if max_items is not None else config.get("max_items"), seed)
    rows = split_rows(len(X), seed)
    pca = make_codec(f"pca:{model.out_dim}").fit(X[rows["train"]])
    learned_s, _ = best(lambda: model.transform(X), repeats)
    pca_s, _ = best(lambda: pca.transform(X), repeats)
    import vectro

    def quality(codec):
        corpus = X[rows["train"]] if queries is None else X
        Q = X[rows["test"]] if queries is None else as_matrix(queries, "queries", model.dim_)
        report = vectro.evaluate(corpus, vectro.compress(corpus, codec), queries=Q, k=k)
        return {key: report[key] for key in (f"recall@{k}", f"ndcg@{k}", f"overlap@{k}")}

    return {"model": model.spec, "n": len(X), "k": k, "learned": quality(model), "pca": quality(pca),
            "learned_vectors_per_s": len(X) / learned_s, "pca_vectors_per_s": len(X) / pca_s,
            "speed_ratio_to_pca": pca_s / learned_s}
