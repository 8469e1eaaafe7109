"""`evaluate`: a sharded dataset's quality, with the ground truth and shortlists computed on the workers."""

from __future__ import annotations

from ..compressed import Progress
from ..metrics.evaluate import DEFAULT_QUERIES
from ..metrics.sharded import evaluate_sharded
from .runner import DaskRunner


def evaluate(dataset, queries=None, *, client, original=None, k: int = 10, metric: str | None = None,
             n_queries: int = DEFAULT_QUERIES, seed: int = 0, shortlist: int | None = None, block_rows: int = 65536,
             progress: Progress | None = None) -> dict:
    """`vectro.metrics.sharded.evaluate_sharded` with one task per shard on `client`'s workers.

    The queries (and the codec) are broadcast once; each worker returns its shard's partial top-k
    lists and cosines, merged on the client. The report equals `vectro.evaluate` on the whole matrix.
    """
    return evaluate_sharded(dataset, queries, original=original, k=k, metric=metric, n_queries=n_queries, seed=seed,
                            shortlist=shortlist, block_rows=block_rows, runner=DaskRunner(client), progress=progress)
