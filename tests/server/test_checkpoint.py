"""Checkpoints: a clean stop saves each collection's Index, the next start loads it instead of rebuilding,
and any change to a collection since makes its checkpoint stale (server/checkpoint.py)."""

import sqlite3

import numpy as np
import pytest

from vectro.server import Service
from vectro.server.collection import CollectionConfig

from .conftest import payload_of

COLLECTIONS = {  # name -> config: brute force, a graph, codes only, a trainable codec fitted, one empty
    "flat": dict(codec="int8"),
    "graph": dict(codec="int8", ann="hnsw"),
    "codes": dict(codec="int4", keep_originals=None, rescore=False),
    "fitted": dict(codec="pq:8", fit_rows=300),
    "empty": dict(codec="int8"),
}


def _fill(data, vectors) -> Service:
    base, _ = vectors
    svc = Service(data)
    for name, options in COLLECTIONS.items():
        svc.create_collection(CollectionConfig(name=name, dimension=base.shape[1], **options))
        if name != "empty":
            svc.upsert(name, [str(i) for i in range(400)], base[:400], [payload_of(i) for i in range(400)])
            svc.upsert(name, [str(i) for i in range(350, 600)], base[350:600], [payload_of(i) for i in range(350, 600)])
            svc.delete_records(name, ids=["3", "4", "5"])  # tombstones, and replaced rows
    return svc


def _answers(svc: Service, vectors) -> dict:
    _, queries = vectors
    out = {}
    for name in COLLECTIONS:
        out[name] = (svc.search(name, queries[:4], k=7),
                     svc.search(name, queries[:4], k=7, flt={"group": {"$in": [1, 2]}}),
                     {k: v for k, v in svc.describe(svc.collection(name)).items() if k != "ram_bytes"})
    return out


def _recorded(data) -> dict:
    with sqlite3.connect(data / "vectro.db") as conn:
        return dict(conn.execute("SELECT c.name, k.file FROM checkpoints k JOIN collections c USING (cid)"))


def _stop_without_saving(svc: Service) -> None:
    """What kill -9 leaves: everything committed, no checkpoint written."""
    svc.db.close()
    svc.folder_lock.release()


def test_a_clean_stop_saves_each_index_and_the_next_start_loads_it(tmp_path, vectors):
    data = tmp_path / "d"
    svc = _fill(data, vectors)
    before = _answers(svc, vectors)
    svc.close()
    recorded = _recorded(data)
    assert set(recorded) == set(COLLECTIONS) - {"empty"}  # an empty collection has nothing worth saving
    assert sorted(p.name for p in (data / "checkpoints").iterdir()) == sorted(recorded.values())

    svc = Service(data)
    try:
        assert {name: coll.checkpoint for name, coll in svc.collections.items()} == {**recorded, "empty": None}
        assert _answers(svc, vectors) == before  # the same hits, scores, payloads, counts and disk bytes
        # the loaded Index takes writes (its arrays were read-only maps of the file) and answers as a rebuilt one
        base, queries = vectors
        for name in COLLECTIONS:
            svc.upsert(name, ["new-0", "new-1"], base[:2] * 0.5 + base[2:4] * 0.5, [{"group": 1}, None])
            svc.delete_records(name, ids=["10", "11"])
        after_writes = _answers(svc, vectors)
    finally:
        _stop_without_saving(svc)
    assert _recorded(data) == {}  # each write made its collection's checkpoint stale
    svc = Service(data)  # rebuilt from SQLite
    try:
        assert all(coll.checkpoint is None for coll in svc.collections.values())
        rebuilt = _answers(svc, vectors)
    finally:
        svc.close()
    assert rebuilt == after_writes


@pytest.mark.parametrize("change", ["upsert", "delete", "delete by filter", "optimize", "drop the collection"])
def test_any_change_to_a_collection_makes_its_checkpoint_stale(tmp_path, vectors, change):
    base, queries = vectors
    data = tmp_path / "d"
    svc = Service(data)
    svc.create_collection(CollectionConfig(name="a", dimension=base.shape[1], codec="pq:8", fit_rows=1000))
    svc.create_collection(CollectionConfig(name="b", dimension=base.shape[1]))
    for name in "ab":
        svc.upsert(name, [str(i) for i in range(500)], base[:500], [payload_of(i) for i in range(500)])
    svc.close()
    svc = Service(data)
    {
        "upsert": lambda: svc.upsert("a", ["x"], base[:1], [None]),
        "delete": lambda: svc.delete_records("a", ids=["7"]),
        "delete by filter": lambda: svc.delete_records("a", flt={"group": 2}),
        "optimize": lambda: svc.optimize("a"),  # fits pq:8 on what the collection holds: a new codec state
        "drop the collection": lambda: svc.delete_collection("a"),
    }[change]()
    expected = svc.search("b", queries[:2], k=5), (svc.search("a", queries[:2], k=5) if "a" in svc.collections else None)
    assert set(_recorded(data)) == {"b"}  # in the transaction of the change: no window where it is valid
    _stop_without_saving(svc)
    svc = Service(data)
    try:
        assert svc.collections["b"].checkpoint is not None
        assert "a" not in svc.collections or svc.collections["a"].checkpoint is None
        got = svc.search("b", queries[:2], k=5), (svc.search("a", queries[:2], k=5) if "a" in svc.collections else None)
        assert got == expected
    finally:
        svc.close()
    files = {p.name for p in (data / "checkpoints").iterdir()}
    assert files == set(_recorded(data).values())  # the stale file was removed at start


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "remove", "another collection's file"])
def test_a_damaged_checkpoint_is_passed_over_and_the_index_rebuilt(tmp_path, vectors, damage, caplog):
    base, queries = vectors
    data = tmp_path / "d"
    svc = Service(data)
    for name in ("a", "b"):
        svc.create_collection(CollectionConfig(name=name, dimension=base.shape[1], ann="hnsw" if name == "a" else None))
    svc.upsert("a", [str(i) for i in range(300)], base[:300], [payload_of(i) for i in range(300)])
    svc.upsert("b", [str(i) for i in range(200)], base[300:500], [payload_of(i) for i in range(200)])
    expected = svc.search("a", queries[:3], k=6)
    svc.close()
    files = _recorded(data)
    path = data / "checkpoints" / files["a"]
    if damage == "flip a byte":
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0xFF  # inside the codes or the graph: caught by their checksum
        path.write_bytes(bytes(raw))
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:-100])
    elif damage == "remove":
        path.unlink()
    else:  # a valid index, of the wrong collection
        path.write_bytes((data / "checkpoints" / files["b"]).read_bytes())
    svc = Service(data)
    try:
        assert svc.collections["a"].checkpoint is None and svc.collections["b"].checkpoint == files["b"]
        assert svc.search("a", queries[:3], k=6) == expected
        if damage != "remove":
            assert "rebuilding from the records" in caplog.text
    finally:
        svc.close()
    assert _recorded(data)["a"] != files["a"]  # a fresh checkpoint replaced the damaged one
    assert not path.exists()


def test_an_index_a_failed_change_left_behind_is_never_saved(tmp_path, vectors, monkeypatch):
    """A write commits, then making it searchable fails: that Index no longer holds what the records do
    (here a replaced vector: the count still matches), so no checkpoint of it is saved and the next start
    rebuilds it, committed write included."""
    from vectro.index.core import Index

    base, queries = vectors
    data = tmp_path / "d"
    svc = Service(data)
    for name in ("a", "b"):
        svc.create_collection(CollectionConfig(name=name, dimension=base.shape[1]))
        svc.upsert(name, [str(i) for i in range(200)], base[:200], [None] * 200)
    real_add = Index.add

    def failing_add(self, *args, **kwargs):
        if self is svc.collection("a").index:
            raise MemoryError("no room for the batch")
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(Index, "add", failing_add)
    with pytest.raises(MemoryError):
        svc.upsert("a", ["5"], base[300:301], [None])  # committed (a new vector for id 5); publishing it failed
    monkeypatch.setattr(Index, "add", real_add)
    assert svc.search("a", base[300:301], k=1)[0][0]["id"] != "5"  # what RAM holds is behind the records
    svc.close()
    assert set(_recorded(data)) == {"b"}
    svc = Service(data)
    try:
        assert svc.collections["a"].checkpoint is None and svc.collection("a").count() == 200
        assert svc.search("a", base[300:301], k=1)[0][0]["id"] == "5"
    finally:
        svc.close()


def test_a_compaction_is_saved_at_the_next_stop(tmp_path, vectors):
    """optimize on a codec that learns nothing drops the tombstones without a record changing: the next
    stop saves the compacted Index over the checkpoint it was loaded from."""
    base, _ = vectors
    data = tmp_path / "d"
    svc = Service(data)
    svc.create_collection(CollectionConfig(name="a", dimension=base.shape[1]))
    svc.upsert("a", [str(i) for i in range(300)], base[:300], [None] * 300)
    svc.delete_records("a", ids=[str(i) for i in range(100)])
    svc.close()
    svc = Service(data)
    assert svc.collection("a").tombstones == 100
    first, held = svc.collection("a").checkpoint, svc.collection("a").index.memory_usage()["ram_bytes"]
    svc.optimize("a")
    svc.close()
    svc = Service(data)
    try:
        coll = svc.collection("a")
        assert coll.checkpoint not in (None, first) and coll.tombstones == 0 and coll.count() == 200
        assert coll.index.memory_usage()["ram_bytes"] < 0.8 * held  # the 100 dead rows of 300 are gone
    finally:
        svc.close()


def test_checkpoints_are_saved_once_writes_pause(tmp_path, vectors, monkeypatch):
    """A server that then dies (kill -9) still starts from its checkpoints: they were saved once writes
    paused (storage.QUIET_AFTER_S), not only at a clean stop; a write after that made them stale again."""
    import time

    from vectro.server import storage

    monkeypatch.setattr(storage, "QUIET_AFTER_S", 0.3)
    base, queries = vectors
    data = tmp_path / "d"
    svc = Service(data)
    for name in ("a", "b"):
        svc.create_collection(CollectionConfig(name=name, dimension=base.shape[1], ann="hnsw" if name == "a" else None))
        svc.upsert(name, [str(i) for i in range(300)], base[:300], [None] * 300)
    deadline = time.monotonic() + 10
    while set(_recorded(data)) != {"a", "b"} and time.monotonic() < deadline:
        time.sleep(0.1)
    assert set(_recorded(data)) == {"a", "b"}
    expected = svc.search("a", queries[:3], k=5)
    monkeypatch.setattr(storage, "QUIET_AFTER_S", 60.0)  # no pause reached before the stop below
    svc.upsert("b", ["late"], base[400:401], [None])  # b's checkpoint is stale from here on
    assert set(_recorded(data)) == {"a"}
    _stop_without_saving(svc)  # before the next pause: b is rebuilt
    svc = Service(data)
    try:
        assert svc.from_checkpoints == 1 and svc.collections["b"].checkpoint is None
        assert svc.search("a", queries[:3], k=5) == expected and svc.collection("b").count() == 301
    finally:
        svc.close()
