"""Compare embedding models on your texts: speed, dimension, contrast, and retrieval with codecs.

For each model (embedded without the cache, so the time is the model's):
- seconds_per_text: embedding time of passages and queries over their count, after one warm-up
  call (load_seconds: that first call, which loads a local model);
- contrast: mean cosine of related passage pairs (same group) minus that of unrelated pairs
  (different groups), the seed Vectron's score; None without groups;
- with queries and qrels: recall@k and nDCG@k of exact float32 search against the judgements,
  and the same after compressing the passages with each codec (a `vectro.Index` per codec).

With no files it runs on the bundled labelled sample (`vectro/data/bench_*`: 300 man-page
passages from the public set, 40 queries, 211 judgements).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib.resources import files

import numpy as np

from ..errors import VectroError
from ..metrics.ranking import judged_ndcg_at_k, judged_recall_at_k
from .registry import Registry, load_registry, provider_for
from .texts import Texts, read_qrels, read_texts

DEFAULT_CODECS = ("int8", "nf4", "binary")


@dataclass
class Labelled:
    """Passages, and optionally queries with the passage rows relevant to each."""

    passages: Texts
    queries: Texts | None = None
    relevant: list[set[int]] | None = None  # per query: rows of passages


def load_labelled(passages, queries=None, qrels=None) -> Labelled:
    """Passages (and queries + qrels, both or neither) from files; queries without judgements are dropped."""
    if (queries is None) != (qrels is None):
        raise VectroError("give queries and qrels together (or neither)")
    docs = read_texts(passages)
    if queries is None:
        return Labelled(docs)
    asked = read_texts(queries)
    row_of = {pid: row for row, pid in enumerate(docs.ids)}
    judged: dict[str, set[int]] = {}
    for qid, pid in read_qrels(qrels):
        if pid not in row_of:
            raise VectroError(f"{qrels}: passage id {pid!r} is not in {passages}")
        judged.setdefault(qid, set()).add(row_of[pid])
    keep = [i for i, qid in enumerate(asked.ids) if qid in judged]
    if not keep:
        raise VectroError(f"{qrels}: no judgement names a query id of {queries}")
    kept = Texts([asked.texts[i] for i in keep], [asked.ids[i] for i in keep], [asked.groups[i] for i in keep])
    return Labelled(docs, kept, [judged[qid] for qid in kept.ids])


def bundled_sample() -> Labelled:
    """The labelled sample that ships with vectro (see the module docstring)."""
    folder = files("vectro") / "data"
    return load_labelled(folder / "bench_passages.jsonl.gz", folder / "bench_queries.jsonl", folder / "bench_qrels.tsv")


def contrast_score(vectors: np.ndarray, groups: list) -> float | None:
    """Mean cosine of pairs in the same group minus pairs in different groups (None if either is absent)."""
    rows = [i for i, g in enumerate(groups) if g is not None]
    if len(rows) < 2:
        return None
    X = vectors[rows].astype(np.float64)
    X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    sims = X @ X.T
    labels = np.array([groups[i] for i in rows])
    same = labels[:, None] == labels[None, :]
    upper = np.triu(np.ones_like(same), k=1)
    related, unrelated = sims[same & upper], sims[~same & upper]
    if not len(related) or not len(unrelated):
        return None
    return float(related.mean() - unrelated.mean())


def retrieval(passages: np.ndarray, queries: np.ndarray, relevant: list[set[int]], codec: str, k: int) -> dict:
    """recall@k and nDCG@k of cosine search through a vectro.Index with `codec` on the passages."""
    from ..index.core import Index

    index = Index(passages.shape[1], codec=codec, metric="cosine")
    if not index.is_trained:  # codecs that learn from data (rq, pq, ...) learn from these passages
        index.train(passages)
    index.add(passages)
    found, _ = index.search(queries, k=k)
    return {"codec": codec, "bytes_per_vector": index.codec.bytes_per_vector(passages.shape[1]),
            f"recall@{k}": judged_recall_at_k(found, relevant, k), f"ndcg@{k}": judged_ndcg_at_k(found, relevant, k)}


def benchmark_model(name: str, data: Labelled, registry: Registry, codecs=DEFAULT_CODECS, k: int = 10) -> dict:
    """One model's row: provider, dimension, timings, contrast, and retrieval per codec."""
    spec = registry.get(name)
    provider = provider_for(spec)
    started = time.perf_counter()
    provider.embed(data.passages.texts[:1])  # loads a local model; not part of the per-text time
    load_seconds = time.perf_counter() - started
    texts = data.passages.texts + (data.queries.texts if data.queries else [])
    started = time.perf_counter()
    vectors = provider.embed(texts)
    seconds = time.perf_counter() - started
    passages = vectors[:len(data.passages.texts)]
    row = {"model": name, "provider": spec.provider, "dimension": spec.dimension,
           "seconds_per_text": seconds / len(texts), "load_seconds": load_seconds,
           "contrast": contrast_score(passages, data.passages.groups)}
    if data.queries is not None:
        queries = vectors[len(data.passages.texts):]
        exact = retrieval(passages, queries, data.relevant, "float32", k)
        row[f"recall@{k}"], row[f"ndcg@{k}"] = exact[f"recall@{k}"], exact[f"ndcg@{k}"]
        row["codecs"] = [retrieval(passages, queries, data.relevant, codec, k) for codec in codecs]
    return row


def benchmark_models(models=None, *, passages=None, queries=None, qrels=None, codecs=DEFAULT_CODECS,
                     k: int = 10, registry: Registry | str | None = None, progress=None) -> dict:
    """Compare registry models (default: the registry's default model) on texts; see the module docstring.

    passages/queries: .txt or .jsonl files; qrels: TSV of query id, passage id[, relevance].
    With no files, the bundled labelled sample. A model that cannot run (not installed, no key)
    gets a row with its "error" instead of failing the others. progress(done, total) per model.
    Returns {"k", "passages", "queries", "models": [row, ...]}.
    """
    if not isinstance(registry, Registry):
        registry = load_registry(registry)
    if not isinstance(k, int) or k < 1:
        raise VectroError(f"k must be a positive integer, got {k!r}")
    names = [registry.default] if not models else list(models)
    for name in names:
        registry.get(name)  # unknown names fail before any work
    codecs = list(codecs)
    if passages is None:
        if queries is not None or qrels is not None:
            raise VectroError("queries and qrels need passages")
        data = bundled_sample()
    else:
        data = load_labelled(passages, queries, qrels)
    rows = []
    for done, name in enumerate(names, start=1):
        try:
            rows.append(benchmark_model(name, data, registry, codecs, k))
        except VectroError as exc:
            rows.append({"model": name, "provider": registry.get(name).provider,
                         "dimension": registry.get(name).dimension, "error": str(exc)})
        if progress is not None:
            progress(done, len(names))
    return {"k": k, "passages": len(data.passages.texts), "queries": len(data.queries.texts) if data.queries else 0,
            "models": rows}
