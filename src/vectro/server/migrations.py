"""Numbered schema migrations, applied in order at open; `PRAGMA user_version` records the last one.

Append new migrations as m002_..., never edit an applied one.
"""

from __future__ import annotations

import sqlite3


def m001_create_tables(conn: sqlite3.Connection) -> None:
    statements = """
        CREATE TABLE collections (
            cid INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            config TEXT NOT NULL,          -- JSON: dimension, metric, codec, keep_originals, ...
            codec_state BLOB,              -- .npz of the fitted codec's arrays (trainable codecs)
            created_at TEXT NOT NULL
        );
        CREATE TABLE records (
            cid INTEGER NOT NULL REFERENCES collections(cid) ON DELETE CASCADE,
            id TEXT NOT NULL,
            vector BLOB NOT NULL,          -- little-endian float32/float16 original, or the codes
            payload TEXT,                  -- JSON object or NULL
            UNIQUE (cid, id)
        );
        CREATE TABLE api_keys (
            key_id TEXT PRIMARY KEY,
            hash TEXT NOT NULL UNIQUE,     -- sha256 of the whole key: the key itself is never stored
            scope TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
            name TEXT,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
    """
    for statement in statements.split(";"):  # one by one: executescript would commit the transaction
        if statement.strip():
            conn.execute(statement)


def m002_payload_paths(conn: sqlite3.Connection) -> None:
    """The payload paths a collection indexes in RAM (those its filters have named), kept across restarts."""
    conn.execute("ALTER TABLE collections ADD COLUMN payload_paths TEXT NOT NULL DEFAULT '[]'")  # a JSON list


def m003_checkpoints(conn: sqlite3.Connection) -> None:
    """Where a collection's Index was saved at a clean stop (server/checkpoint.py). Any change to its records
    or its fitted codec deletes the row in the same transaction (triggers), so a row left names a file
    saved with no record changed since."""
    conn.execute("""
        CREATE TABLE checkpoints (
            cid INTEGER PRIMARY KEY REFERENCES collections(cid) ON DELETE CASCADE,
            file TEXT NOT NULL,            -- in DIR/checkpoints/
            tombstones INTEGER NOT NULL,   -- rows of the saved Index held for replaced or deleted records
            disk_bytes INTEGER NOT NULL    -- the collection's vectors and payloads in SQLite then
        )""")
    for event, cids in (("INSERT", "NEW.cid"), ("UPDATE", "OLD.cid, NEW.cid"), ("DELETE", "OLD.cid")):
        conn.execute(f"CREATE TRIGGER checkpoint_stale_on_{event.lower()} AFTER {event} ON records "
                     f"BEGIN DELETE FROM checkpoints WHERE cid IN ({cids}); END")
    conn.execute("CREATE TRIGGER checkpoint_stale_on_refit AFTER UPDATE OF codec_state, config ON collections "
                 "BEGIN DELETE FROM checkpoints WHERE cid = NEW.cid; END")


MIGRATIONS = [m001_create_tables, m002_payload_paths, m003_checkpoints]


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations this database has not seen, each in its own transaction; returns the version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        from ..errors import VectroError

        raise VectroError(f"the data folder was written by a newer vectro (schema {version}, "
                          f"this one knows {len(MIGRATIONS)})")
    for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            step(conn)
            conn.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return len(MIGRATIONS)
