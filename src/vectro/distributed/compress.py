"""`compress`: a sharded source into one .vectro per shard and a manifest, on a Dask cluster."""

from __future__ import annotations

from pathlib import Path

from ..codecs.base import Codec
from ..compressed import FIT_ROWS, Progress
from ..shards import SHARD_ROWS, ShardedCompressed, compress_shards
from .runner import DaskRunner


def compress(source, out, codec: str | Codec = "int8", *, client, column: str | None = None,
             metric: str = "cosine", shard_rows: int = SHARD_ROWS, block_rows: int = 65536,
             fit_rows: int = FIT_ROWS, seed: int = 0, resume: bool = True,
             progress: Progress | None = None) -> ShardedCompressed:
    """`vectro.shards.compress_shards` with the sample reads and the shards run as tasks on `client`'s workers.

    The codec is fitted once on the client from the seeded sample the workers read, and its state
    is broadcast; the codes equal a single-process `compress_file` with the same seed, byte for byte.
    """
    return compress_shards(source, Path(out), codec, column=column, metric=metric, shard_rows=shard_rows,
                           block_rows=block_rows, fit_rows=fit_rows, seed=seed, resume=resume,
                           runner=DaskRunner(client), progress=progress)
