"""A collection's Index saved to disk and loaded at the next start instead of rebuilt.

A rebuild reads every record's vector back from SQLite, encodes it again and, for a collection with
an HNSW graph, inserts it into the graph again (the graph is most of a restart's time). Once writes
pause (storage.QUIET_AFTER_S) and at a clean stop (`Service.close`), each collection changed since
its last checkpoint has its Index written to DIR/checkpoints/ by `Index.save` (atomically, every
section checksummed) and recorded in the `checkpoints` table. The triggers of migration m003 delete
that row in the transaction of any later change to the collection's records or codec, so a row at
start names a file holding what the server held when it was saved, with no record changed since. A
missing, corrupt or mismatched file, or one written by another vectro version, is passed over: the
Index is rebuilt from the records, as it always can be (a rebuilt HNSW graph is another graph over
the same codes). After kill -9, what changed since the last pause in writes is rebuilt.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from pathlib import Path

from .. import __version__
from ..format import container
from ..index.core import Index
from .collection import Collection

log = logging.getLogger("vectro.server")

#: the folder of checkpoint files, inside the data folder
FOLDER = "checkpoints"


def stale(conn: sqlite3.Connection, coll: Collection) -> bool:
    """Whether coll's Index should be saved: it holds records, it holds what they do (no failed change),
    and it is not the recorded file's (loaded from it or saved to it, nothing changed since)."""
    return _stale(coll, _recorded(conn, coll))


def save(conn: sqlite3.Connection, folder: Path, coll: Collection) -> str | None:
    """Write coll's Index to a new file in `folder` and record it, when `stale`; returns the file the row
    named before (to be removed), or None. Writer thread only, outside a transaction: the file is
    written with no SQLite lock held, then recorded in one statement (its own transaction), and nothing
    changes the Index in between."""
    recorded = _recorded(conn, coll)
    if not _stale(coll, recorded):
        return None
    folder.mkdir(exist_ok=True)
    name = f"{coll.cid}-{secrets.token_hex(8)}.vectro"  # never a name an older store's file could have
    coll.index.save(folder / name)
    conn.execute("INSERT OR REPLACE INTO checkpoints (cid, file, tombstones, disk_bytes) VALUES (?, ?, ?, ?)",
                 (coll.cid, name, coll.tombstones, coll.disk_bytes))
    coll.checkpoint = name
    return recorded


def _recorded(conn: sqlite3.Connection, coll: Collection) -> str | None:
    """The file coll's row names, or None."""
    row = conn.execute("SELECT file FROM checkpoints WHERE cid = ?", (coll.cid,)).fetchone()
    return None if row is None else row[0]


def _stale(coll: Collection, recorded: str | None) -> bool:
    return bool(len(coll.index)) and coll.consistent and (recorded is None or recorded != coll.checkpoint)


def load(conn: sqlite3.Connection, folder: Path, coll: Collection) -> bool:
    """Give coll the Index its recorded checkpoint holds; False where there is none to trust (then the
    caller rebuilds it from the records)."""
    row = conn.execute("SELECT file, tombstones, disk_bytes FROM checkpoints WHERE cid = ?", (coll.cid,)).fetchone()
    if row is None:
        return False
    file, tombstones, disk_bytes = row
    path = folder / file
    if not path.is_file():  # a store restored from a backup holds the rows, not the files
        log.info("collection %r: checkpoint %s is missing; rebuilding from the records", coll.config.name, path)
        return False
    try:  # read into RAM (where the codes are searched) and every section checked: a bad file is found here
        header, arrays = container.read_container(path, mmap=False, verify=True)
        if header.get("vectro_version") != __version__:  # codes or graph may be made otherwise now
            log.info("collection %r: checkpoint %s was written by vectro %s; rebuilding from the records",
                     coll.config.name, path, header.get("vectro_version"))
            return False
        index = Index.from_container(header, arrays)
    except Exception as exc:  # noqa: BLE001  (whatever is wrong with the file, the records are still there)
        log.warning("collection %r: checkpoint %s is unreadable (%s: %s); rebuilding from the records",
                    coll.config.name, path, type(exc).__name__, exc)
        return False
    made = coll.index  # the empty Index the collection's configuration makes
    count = conn.execute("SELECT count(*) FROM records WHERE cid = ?", (coll.cid,)).fetchone()[0]
    if ((index.dim, index.metric, index.codec.spec, index.ann is None) != (made.dim, made.metric, made.codec.spec, made.ann is None)
            or len(index) != count):
        log.warning("collection %r: checkpoint %s does not match the collection; rebuilding from the records",
                    coll.config.name, path)
        return False
    coll.index, coll.tombstones, coll.disk_bytes, coll.checkpoint = index, tombstones, disk_bytes, file
    return True


def remove_unrecorded(conn: sqlite3.Connection, folder: Path) -> None:
    """Delete the files in `folder` that no row names: replaced, made stale, or left by a stop that
    failed half way."""
    if not folder.is_dir():
        return
    recorded = {file for (file,) in conn.execute("SELECT file FROM checkpoints")}
    for path in folder.iterdir():
        if path.is_file() and path.name not in recorded:
            path.unlink(missing_ok=True)
