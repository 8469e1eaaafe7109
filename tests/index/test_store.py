"""RowStore: the growable row buffer behind an Index's codes, norms and ids."""

import gc

import numpy as np

from vectro.index.store import MAPPED_BYTES, RowStore


def test_growth_past_a_mapped_buffer_keeps_rows_and_earlier_views():
    rng = np.random.default_rng(0)
    width = 384
    rows = np.empty((0, width), dtype=np.uint8)
    store, views = RowStore(width=width), []
    while store.rows * width < 4 * MAPPED_BYTES:  # grows from a heap buffer through three mapped ones
        block = rng.integers(0, 256, (1500, width), dtype=np.uint8)
        store.append(block)
        rows = np.concatenate([rows, block])
        views.append((store.view(), rows.copy()))
    gc.collect()  # buffers the store dropped are gone unless a view still holds them
    for view, expected in views:  # a reader's view never changes, whatever the store did since
        np.testing.assert_array_equal(view, expected)
    np.testing.assert_array_equal(store.view(), rows)
    assert store.view().flags.writeable and store.ram_bytes >= rows.nbytes


def test_object_rows_stay_python_objects():
    store = RowStore(width=1, dtype=object)
    ids = np.array([f"id-{i}" for i in range(MAPPED_BYTES // 8 + 10)], dtype=object).reshape(-1, 1)
    store.append(ids)
    assert store.view()[-1, 0] == ids[-1, 0] and store.view().dtype == object
