"""Hugging Face Datasets: compress an embedding column in batches, codes back as columns; offline.

    from datasets import load_from_disk
    from vectro.integrations.frameworks import hf
    ds = load_from_disk("my_dataset")                      # a local dataset: no network
    ds, codec = hf.compress_column(ds, "embedding", codec="int8", batch_size=1024)
    ds.column_names                                        # [..., "codes", "scales"]
    packed = hf.codes_from_dataset(ds, codec)              # a vectro Compressed of those columns

The columns follow the Parquet layout of `arrow`: int8 / int16 code values, packed bytes for
other codecs, float32 scales for scaled codecs. Needs `vectro[hf]` (datasets).
"""

from __future__ import annotations

import numpy as np

from ...codecs.base import Codec, make_codec
from ...compressed import FIT_ROWS, Compressed
from ...errors import VectroError, require
from .arrow import _join, _layout, _split


def _batches(dataset, column: str, batch_size: int):
    for batch in dataset.select_columns([column]).with_format("numpy").iter(batch_size=batch_size):
        yield np.ascontiguousarray(np.stack(batch[column]) if batch[column].dtype == object else batch[column],
                                   dtype=np.float32)


def compress_column(dataset, column: str, codec: str | Codec = "int8", batch_size: int = 1024,
                    fit_rows: int = FIT_ROWS, seed: int = 0, prefix: str = ""):
    """(dataset with `codes` (and `scales`) columns added, the fitted codec). The embedding column
    is read `batch_size` rows at a time; trainable codecs learn from a seeded sample of fit_rows."""
    require("datasets", "hf")
    if column not in dataset.column_names:
        raise VectroError(f"the dataset has no column {column!r}; its columns: {', '.join(dataset.column_names)}")
    codec = make_codec(codec)
    if codec.trainable:
        rows = np.sort(np.random.default_rng(seed).choice(len(dataset), min(fit_rows, len(dataset)), replace=False))
        codec.fit(np.concatenate(list(_batches(dataset.select(rows), column, batch_size))))
    else:
        codec.fit(next(_batches(dataset.select([0]), column, 1)))
    layout = _layout(codec)

    def encode(batch):
        X = np.asarray(batch[column], dtype=np.float32)
        values, scales = _split(codec, codec.encode(X), layout)
        out = {prefix + "codes": values}
        if scales is not None:
            out[prefix + "scales"] = scales
        return out

    return dataset.map(encode, batched=True, batch_size=batch_size, desc="vectro: compressing"), codec


def codes_from_dataset(dataset, codec: Codec, prefix: str = "", metric: str = "cosine") -> Compressed:
    """The codes columns `compress_column` wrote, as a Compressed of the fitted codec."""
    require("datasets", "hf")
    table = dataset.with_format("numpy")
    # the numpy format may widen small ints: back to the layout's own dtype
    dtype = {"int8": np.int8, "int16": np.int16, "float32": np.float32}.get(_layout(codec), np.uint8)
    values = np.asarray(table[prefix + "codes"]).astype(dtype)
    scales = np.asarray(table[prefix + "scales"]) if prefix + "scales" in dataset.column_names else None
    return Compressed(codec, _join(values, scales), {"metric": metric, "format": "hf-datasets"})
