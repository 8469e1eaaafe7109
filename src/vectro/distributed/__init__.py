"""Compress, evaluate and tune past one machine on a Dask cluster: `pip install 'vectro[dask]'`.

Dask only schedules: every task runs the core's per-shard functions (`vectro.shards`), opens its
own shard by path and row range (vectors are never pickled into the task graph), and returns
small results (manifest entries, partial top-k lists).

    from vectro import distributed
    with distributed.cluster(workers=4) as client:             # or scheduler="tcp://host:8786"
        packed = distributed.compress("shards/", "out/", "pq:48", client=client, seed=7)
        report = distributed.evaluate("out/", queries=Q, client=client)

Sources and outputs must be paths every worker and the client can open (a shared filesystem).
"""

from .compress import compress
from .evaluate import evaluate
from .runner import DaskRunner, cluster

__all__ = ["DaskRunner", "cluster", "compress", "evaluate"]
