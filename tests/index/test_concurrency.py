"""Index under concurrent use: searches from several threads while one thread adds, removes and
compacts. Before the snapshots, 5 of 12 int8 searches failed with IndexError (issue #14, defect 3)."""

import threading
import time

import numpy as np
import pytest

import vectro
from vectro.metrics.evaluate import prepare_for_metric

K = 10


def _unit(X):
    X = X.astype(np.float64)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.mark.parametrize("codec, rerank", [("int8", None), ("int8", "float32"), ("binary", "int8")])
def test_searches_stay_valid_while_another_thread_writes(sample, codec, rerank):
    base, queries = sample
    n = 3000
    # independent reference: what each stored row decodes to, in float64 (the finest representation kept)
    finest = vectro.make_codec(rerank or codec).fit(base[:1])
    stored = prepare_for_metric(base[:n], "cosine")  # the float32 unit rows the index encodes
    decoded = finest.decode(finest.encode(stored)).astype(np.float64)
    decoded_norms = np.linalg.norm(decoded, axis=1)
    unit_queries = _unit(queries)
    index = vectro.Index(384, codec, rerank=rerank)
    index.add(base[:200])
    added = [200]  # rows added so far (ids 0..added-1); grows only after add() returns
    removed = set()
    errors, checked = [], [0]
    done = threading.Event()

    def writer():
        try:
            for start in range(200, n, 100):
                index.add(base[start : start + 100], ids=np.arange(start, start + 100))
                added[0] = start + 100
                if start % 700 == 0:  # remove some rows, then compact: both publish new snapshots
                    gone = np.arange(start - 150, start - 100)
                    index.remove(gone)
                    removed.update(gone.tolist())
                    index.compact()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))
        finally:
            done.set()

    def reader(seed):
        rng = np.random.default_rng(seed)
        try:
            while not done.is_set() or checked[0] < 30:
                live_before, removed_before = added[0], set(removed)
                pick = rng.choice(len(queries), int(rng.integers(1, 6)), replace=False)
                ids, scores = index.search(queries[pick], K, oversampling=4)
                for row_ids, row_scores, q in zip(ids, scores, unit_queries[pick]):
                    assert (row_ids >= 0).all(), row_ids  # at least 150 live vectors exist at every moment
                    assert (row_ids < added[0] + 100).all() and not (set(row_ids.tolist()) & removed_before)
                    assert len(set(row_ids.tolist())) == K
                    expected = decoded[row_ids] @ q / decoded_norms[row_ids]
                    np.testing.assert_allclose(row_scores, expected, atol=2e-4)
                    assert (np.diff(row_scores) <= 1e-6).all()
                checked[0] += 1
                assert live_before <= added[0]
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader, args=(s,)) for s in range(3)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    assert not errors, errors[:3]
    assert checked[0] >= 30 and time.monotonic() - started < 120
    assert len(index) == n - len(removed)
