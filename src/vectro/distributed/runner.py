"""Running the core's per-shard functions on Dask: a client for a cluster, and a `Runner` over it."""

from __future__ import annotations

import logging
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Sequence

from ..compressed import Progress
from ..errors import VectroError, require
from ..shards import Runner


def _distributed():
    return require("distributed", "dask")


def _dask():
    return require("dask", "dask")


@contextmanager
def cluster(scheduler: str | None = None, workers: int | None = None, threads_per_worker: int = 1,
            processes: bool = True, dashboard: bool = True):
    """A Dask client: connected to `scheduler` (tcp://host:port), or to a new LocalCluster of `workers`.

    A LocalCluster's workers run `threads_per_worker` task threads and as many kernel threads
    (VECTRO_THREADS), so N workers use N x threads_per_worker cores. It is closed on exit.
    """
    distributed, dask = _distributed(), _dask()
    if (scheduler is None) == (workers is None):
        raise VectroError("give exactly one of a scheduler address (tcp://host:port) and a number of local workers")
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise VectroError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
        try:
            yield client
        finally:
            client.close()
        return
    if workers < 1:
        raise VectroError(f"workers must be at least 1, got {workers}")
    # worker processes listen on 127.0.0.1 only; threads (processes=False) talk in-process
    options = {"env": {"VECTRO_THREADS": str(threads_per_worker)}, "host": "127.0.0.1"} if processes else {}
    # Dask starts workers with MALLOC_TRIM_THRESHOLD_ set, which turns off glibc's adaptive mmap threshold:
    # every NumPy temporary over 128 KiB is then a fresh mmap, page-faulted in and unmapped (pq's encode,
    # with its per-sub-space distance tables, ran at 0.42x of one process). vectro's workers keep glibc's default.
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}), \
            distributed.LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker, processes=processes,
                                     dashboard_address=":0" if dashboard else None, silence_logs=logging.CRITICAL,
                                     **options) as local, distributed.Client(local) as client:
        yield client


def _identity(value):
    return value


class DaskRunner(Runner):
    """`Runner.map` as Dask tasks: `shared` travels once (one task all depend on); the first error cancels the rest."""

    def __init__(self, client):
        self.client = client

    def map(self, fn: Callable, items: Sequence, shared: Any = None, progress: Progress | None = None) -> list:
        distributed = _distributed()
        if not items:
            return []
        run = uuid.uuid4().hex[:8]
        # a task, not scattered data: a worker that dies takes scattered data with it for good, while a
        # task's result is recomputed, so the tasks that need it can be retried elsewhere
        shared_future = self.client.submit(_identity, shared, key=f"vectro-shared-{run}", pure=False)
        futures = [self.client.submit(fn, item, shared_future, key=f"vectro-{fn.__name__.strip('_')}-{i}-{run}",
                                      pure=False) for i, item in enumerate(items)]
        position = {future.key: i for i, future in enumerate(futures)}
        results = [None] * len(items)
        try:
            for done, future in enumerate(distributed.as_completed(futures), 1):
                try:
                    results[position[future.key]] = future.result()
                except distributed.scheduler.KilledWorker as exc:
                    raise VectroError(f"{items[position[future.key]]}: Dask gave up after workers died running it "
                                      f"({exc})") from exc
                if progress:
                    progress(done, len(items))
        except BaseException:
            self.client.cancel(futures)
            raise
        finally:
            self.client.cancel(shared_future)
        return results
