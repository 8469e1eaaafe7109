"""The storage layer alone: one writer thread, all-or-nothing transactions, migrations, the folder lock."""

import sqlite3
import threading
import time

import pytest

from vectro.errors import VectroError
from vectro.server.migrations import MIGRATIONS, migrate
from vectro.server.storage import Database, FolderLock, StoreInUse


def test_a_failing_write_stores_nothing_and_the_writer_goes_on(tmp_path):
    db = Database(tmp_path / "v.db")
    try:
        db.write(lambda c: c.execute("INSERT INTO collections (name, config, created_at) VALUES ('a', '{}', 'x')"))

        def half_then_fail(conn):
            conn.execute("INSERT INTO collections (name, config, created_at) VALUES ('b', '{}', 'x')")
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            db.write(half_then_fail)
        published = []
        assert db.write(lambda c: 7, publish=lambda r: published.append(r) or r * 2) == 14 and published == [7]
        names = [r[0] for r in db.read().execute("SELECT name FROM collections ORDER BY name")]
        assert names == ["a"]
    finally:
        db.close()


def test_writes_run_on_one_thread_in_order(tmp_path):
    db = Database(tmp_path / "v.db")
    seen = []
    try:
        futures = [db.submit(lambda c, i=i: seen.append((i, threading.current_thread().name))) for i in range(50)]
        for f in futures:
            f.result()
        assert [i for i, _ in seen] == list(range(50)) and {name for _, name in seen} == {"vectro-writer"}
    finally:
        db.close()
    with pytest.raises(VectroError, match="closed"):
        db.submit(lambda c: None)


def test_free_memory_is_released_once_writes_pause(tmp_path, monkeypatch):
    from vectro.server import storage

    released = []
    monkeypatch.setattr(storage, "release_free_memory", lambda: released.append(time.monotonic()))
    monkeypatch.setattr(storage, "TRIM_AFTER_IDLE_S", 0.2)
    db = Database(tmp_path / "v.db")
    try:
        futures = [db.submit(lambda c: None) for _ in range(30)]  # queued at once: a burst
        done = max(f.result() or time.monotonic() for f in futures)
        time.sleep(0.6)
        assert len(released) == 1 and released[0] - done >= 0.15, "once, after the pause"
        time.sleep(0.4)
        assert len(released) == 1, "not again while nothing is written"
        db.write(lambda c: None)
        time.sleep(0.6)
        assert len(released) == 2
    finally:
        db.close()


def test_on_quiet_runs_once_writes_pause_one_piece_at_a_time(tmp_path, monkeypatch):
    """The hook runs on the writer thread after QUIET_AFTER_S without a write, piece after piece while
    it returns True; a write waiting goes before the next piece (and a full pause comes again)."""
    from vectro.server import storage

    monkeypatch.setattr(storage, "QUIET_AFTER_S", 0.3)
    events = []

    def on_quiet():
        events.append(("piece", threading.current_thread().name))
        pieces = sum(kind == "piece" for kind, _ in events)
        if pieces == 1:
            db.submit(lambda c: events.append(("write", threading.current_thread().name)))  # arrives meanwhile
        if pieces == 4:
            raise RuntimeError("a failing hook does not stop the writer")
        return pieces < 3  # three pieces of work after the first pause

    db = Database(tmp_path / "v.db", on_quiet=on_quiet)
    try:
        time.sleep(0.6)
        assert events == [], "nothing written yet"
        for future in [db.submit(lambda c: None) for _ in range(30)]:  # a burst: one pause after it
            future.result()
        done = time.monotonic()
        deadline = done + 10
        while len(events) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [kind for kind, _ in events] == ["piece", "write", "piece", "piece"]
        assert {name for _, name in events} == {"vectro-writer"}
        time.sleep(1.0)
        assert len(events) == 4, "nothing more once the hook has said it is done"
        db.write(lambda c: None)
        deadline = time.monotonic() + 10
        while len(events) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(events) == 5 and db.write(lambda c: 5) == 5  # the hook raised; the writer went on
    finally:
        db.close()


def test_migrations_are_numbered_and_a_newer_store_is_refused(tmp_path):
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    assert migrate(conn) == len(MIGRATIONS) and conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert migrate(conn) == len(MIGRATIONS)  # idempotent
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(VectroError, match="newer vectro"):
        migrate(conn)


def test_a_store_of_the_first_schema_is_migrated_and_served(tmp_path):
    """A data folder written before payload paths were kept opens, with no path indexed until a filter names one."""
    np = pytest.importorskip("numpy")
    from vectro.server import Service
    from vectro.server.collection import CollectionConfig
    from vectro.server.storage import DB_NAME

    conn = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO collections (name, config, created_at) VALUES ('c', ?, 'x')",
                 (CollectionConfig("c", 4).to_json(),))
    X = np.random.default_rng(0).standard_normal((6, 4)).astype("<f4")
    conn.executemany("INSERT INTO records VALUES (1, ?, ?, ?)",
                     [(str(i), X[i].tobytes(), f'{{"g": {i % 2}}}') for i in range(6)])
    conn.close()
    service = Service(tmp_path)
    try:
        assert service.describe(service.collection("c"))["payload_index"] == []
        assert service.count("c", {"g": 1}) == 3
        assert service.describe(service.collection("c"))["payload_index"] == ["g"]
    finally:
        service.close()


def test_folder_lock_refuses_a_second_holder(tmp_path):
    lock = FolderLock(tmp_path)
    with pytest.raises(StoreInUse, match="already in use"):
        FolderLock(tmp_path)
    lock.release()
    FolderLock(tmp_path).release()
