"""The server's storage: one SQLite file in WAL mode, written by ONE thread, read by many.

Every write is a function put on a queue; the writer thread runs it inside a transaction,
commits, then runs its `publish` step (which updates the in-RAM search state) and only then hands
the result back, so an acknowledged write is on disk and visible to searches. Readers use their
own connections (one per thread): in WAL mode they never wait on the writer.

    db = Database(path)
    n = db.write(lambda conn: conn.execute(...).rowcount)        # committed when it returns
    rows = db.read().execute("SELECT ...").fetchall()

A lock file beside the database refuses a second server on the same folder.
"""

from __future__ import annotations

import ctypes
import logging
import os
import queue
import sqlite3
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Callable

from ..errors import VectroError
from .migrations import migrate

log = logging.getLogger("vectro.server")

DB_NAME = "vectro.db"
LOCK_NAME = "vectro.lock"
#: SQLite page cache per reader connection (one per request thread), KiB; SQLite's default is 2 MiB
READER_CACHE_KIB = 256


class StoreInUse(VectroError):
    "The data folder is already served by another process."


class FolderLock:
    """An exclusive `flock` on DIR/vectro.lock, held for the life of the server process.

    The kernel drops the lock when the process dies (even by kill -9), so a crash never leaves the
    folder locked; the file holds the owner's pid for the error message.
    """

    def __init__(self, folder: Path):
        import fcntl

        self.path = Path(folder) / LOCK_NAME
        self._file = open(self.path, "a+")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            owner = self._file.read().strip() or "another process"
            self._file.close()
            raise StoreInUse(f"data folder {folder} is already in use by a running server (pid {owner}); "
                             "stop it or choose another --data") from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(str(os.getpid()))
        self._file.flush()

    def release(self) -> None:
        if not self._file.closed:
            self._file.close()  # closing drops the flock


def connect(path: Path) -> sqlite3.Connection:
    """A connection with the server's settings: WAL, full sync on commit, a busy timeout."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # the commit is on disk before the 200 goes out
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _malloc_trim() -> Callable[[], object]:
    """glibc's malloc_trim(0), or a no-op where the C library has none (musl, macOS, Windows)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError, TypeError):
        return lambda: None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


#: hands the C heap's free pages back to the OS, once writes pause. A write's request body
#: and arrays are freed once it is stored, but glibc keeps freed blocks in its heaps, resident (its
#: mmap threshold rises to the largest block freed, up to 32 MiB, so from the second batch on a
#: batch's buffers come from the heap): a server's RSS after loading counted them
release_free_memory = _malloc_trim()
#: seconds without a write after which the writer releases free memory (once per pause: a stream of
#: small writes is not slowed, and a search thread does not wait on malloc's locks after every one)
TRIM_AFTER_IDLE_S = 0.5
#: seconds without a write after which the writer calls `on_quiet` (piece by piece, until it is done)
QUIET_AFTER_S = 30.0


class Database:
    """The SQLite store: migrations at open, one writer thread, per-thread read connections."""

    def __init__(self, path: Path, on_quiet: Callable[[], bool] | None = None):
        """on_quiet: called on the writer thread, outside a transaction, once writes have paused for
        QUIET_AFTER_S; it does one piece of work and returns whether more remain (then it is called
        again as soon as no write is waiting)."""
        self.path = Path(path)
        self._on_quiet = on_quiet
        self._writer_conn = connect(self.path)
        migrate(self._writer_conn)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="vectro-writer", daemon=True)
        self._thread.start()

    # ----- writing ------------------------------------------------------------------------
    def write(self, txn: Callable[[sqlite3.Connection], object], publish: Callable[[object], object] | None = None):
        """Run txn(conn) in a transaction on the writer thread, commit, then publish(result); return it.

        An exception in txn rolls the transaction back (nothing partial is stored) and is raised here.
        """
        return self.submit(txn, publish).result()

    def submit(self, txn, publish=None) -> Future:
        if not self._thread.is_alive():
            raise VectroError("the database is closed")
        future: Future = Future()
        self._queue.put((txn, publish, future))
        return future

    def _run(self) -> None:
        conn = self._writer_conn
        trim_at = quiet_at = None  # when free memory is released and on_quiet called, once writes pause
        while True:
            due = [at for at in (trim_at, quiet_at) if at is not None]
            try:
                job = self._queue.get(timeout=max(0.0, min(due) - time.monotonic()) if due else None)
            except queue.Empty:
                now = time.monotonic()
                if trim_at is not None and now >= trim_at:
                    release_free_memory()
                    trim_at = None
                if quiet_at is not None and now >= quiet_at:
                    try:
                        more = self._on_quiet()
                    except Exception:  # noqa: BLE001  (the writer goes on)
                        log.exception("on_quiet failed")
                        more = False
                    quiet_at = time.monotonic() if more else None  # the next piece, unless a write comes first
                    trim_at = time.monotonic() + TRIM_AFTER_IDLE_S  # what that piece allocated
                continue
            if job is None:
                break
            txn, publish, future = job
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = txn(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                if publish is not None:
                    result = publish(result)
            except BaseException as exc:  # handed to the caller, the writer goes on
                future.set_exception(exc)
            else:
                future.set_result(result)
            job = txn = publish = future = result = None  # what the write held is freed before the release
            trim_at = time.monotonic() + TRIM_AFTER_IDLE_S
            if self._on_quiet is not None:
                quiet_at = time.monotonic() + QUIET_AFTER_S

    # ----- reading ------------------------------------------------------------------------
    def read(self) -> sqlite3.Connection:
        """This thread's read connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            conn.execute("PRAGMA query_only=ON")
            conn.execute(f"PRAGMA cache_size=-{READER_CACHE_KIB}")  # point reads: the OS page cache serves them
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def close(self) -> None:
        """Finish queued writes, stop the writer, checkpoint the WAL and close every connection."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self._writer_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._writer_conn.close()


def open_store(folder: Path) -> sqlite3.Connection:
    """A connection to DIR's database (created and migrated if new), for commands beside a running server."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    conn = connect(folder / DB_NAME)
    migrate(conn)
    return conn


def _copy_database(source: Path, target: Path) -> None:
    """SQLite's online backup of `source` into a temp file beside `target`, renamed into place.

    The backup reads one consistent state even while a server writes to `source`."""
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dest = sqlite3.connect(str(tmp))
        try:
            src.backup(dest)
            dest.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dest.close()
    finally:
        src.close()
    os.replace(tmp, target)


def backup(folder: Path, out: Path) -> dict:
    """Copy the store in `folder` to the single file `out` (safe while the server runs)."""
    source = Path(folder) / DB_NAME
    if not source.is_file():
        raise VectroError(f"{folder} holds no vectro store ({DB_NAME} not found)")
    out = Path(out)
    if not out.parent.is_dir():
        raise VectroError(f"cannot write {out}: directory {out.parent} does not exist")
    _copy_database(source, out)
    return describe_store(out)


def restore(backup_file: Path, folder: Path, force: bool = False) -> dict:
    """Make `folder` serve the store saved in `backup_file` (a backup or a collection snapshot)."""
    backup_file, folder = Path(backup_file), Path(folder)
    info = describe_store(backup_file)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FolderLock(folder)  # refuses while a server uses the folder
    try:
        target = folder / DB_NAME
        if target.exists() and not force:
            raise VectroError(f"{folder} already holds a store; pass --force to replace it")
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        _copy_database(backup_file, target)
    finally:
        lock.release()
    return info


def describe_store(path: Path) -> dict:
    """Collections and record counts of a store file; raises VectroError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise VectroError(f"{path} does not exist")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT c.name, (SELECT count(*) FROM records r WHERE r.cid = c.cid) "
                                "FROM collections c ORDER BY c.name").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise VectroError(f"{path} is not a vectro store: {exc}") from None
    return {"path": str(path), "collections": dict(rows)}
