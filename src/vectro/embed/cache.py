"""A cache of embeddings in SQLite, keyed by model and the SHA-256 of the text.

One row per (model key, text hash) holding the vector as little-endian float32 bytes. WAL mode,
numbered migrations (PRAGMA user_version), one transaction per stored batch, so an interrupted
run keeps every batch it finished and the next run embeds only what is missing.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import numpy as np

from ..errors import VectroError

MIGRATIONS = [
    """CREATE TABLE embeddings (
           model TEXT NOT NULL,
           text_sha256 TEXT NOT NULL,
           dimension INTEGER NOT NULL,
           vector BLOB NOT NULL,
           PRIMARY KEY (model, text_sha256)
       ) WITHOUT ROWID""",
]
_CHUNK = 500  # keys per SELECT, below SQLite's default limit on bound parameters


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Embeddings stored by (model key, sha256(text)); safe to share between threads."""

    def __init__(self, path):
        self.path = Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise VectroError(f"embedding cache {self.path}: {exc}") from exc
        self._lock = threading.Lock()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        for number, sql in enumerate(MIGRATIONS[version:], start=version + 1):
            with self._db:
                self._db.execute("BEGIN")
                self._db.execute(sql)
                self._db.execute(f"PRAGMA user_version = {number}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]

    def get(self, model: str, texts: list[str], dimension: int) -> dict[str, np.ndarray]:
        """The cached vectors of these texts for this model: {text: float32 (dimension,)}."""
        by_hash = {text_hash(t): t for t in texts}
        hashes = list(by_hash)
        found = {}
        with self._lock:
            for start in range(0, len(hashes), _CHUNK):
                chunk = hashes[start:start + _CHUNK]
                rows = self._db.execute(
                    f"SELECT text_sha256, dimension, vector FROM embeddings WHERE model = ? "
                    f"AND text_sha256 IN ({','.join('?' * len(chunk))})", [model, *chunk]).fetchall()
                for sha, dim, blob in rows:
                    if dim == dimension:
                        found[by_hash[sha]] = np.frombuffer(blob, dtype="<f4")
        return found

    def put(self, model: str, texts: list[str], vectors: np.ndarray) -> None:
        """Store float32 (len(texts), d) vectors for these texts, in one transaction."""
        vectors = np.asarray(vectors, dtype="<f4")
        rows = [(model, text_hash(t), vectors.shape[1], v.tobytes()) for t, v in zip(texts, vectors)]
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)
