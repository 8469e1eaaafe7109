"""API keys: stored as SHA-256 hashes (never in clear), each with a scope: read < write < admin.

A key looks like `vk_<key_id>_<secret>`; `key_id` is public (for `keys list` and `keys revoke`).
Requests send it as `Authorization: Bearer <key>`, `api-key: <key>` or `X-API-Key: <key>`.
With no key configured at all the server is open, and binds to loopback only.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from pathlib import Path

from ..errors import VectroError
from .errors import ApiError
from .tokens import TokenSigner, is_token

SCOPES = ("read", "write", "admin")
#: seconds the "are any keys configured?" answer is cached
ACTIVE_CACHE_S = 1.0


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(conn: sqlite3.Connection, scope: str, name: str | None = None) -> tuple[str, str]:
    """Store a new key's hash; returns (key_id, the key). The key is shown once and never stored."""
    if scope not in SCOPES:
        raise VectroError(f"unknown scope {scope!r}; use read, write or admin")
    key_id = secrets.token_hex(4)
    key = f"vk_{key_id}_{secrets.token_urlsafe(24)}"
    conn.execute("INSERT INTO api_keys (key_id, hash, scope, name, created_at) VALUES (?, ?, ?, ?, ?)",
                 (key_id, hash_key(key), scope, name, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
    return key_id, key


def list_keys(conn: sqlite3.Connection) -> list[dict]:
    rows = conn.execute("SELECT key_id, scope, name, created_at, revoked_at FROM api_keys ORDER BY created_at, key_id")
    return [dict(zip(("key_id", "scope", "name", "created_at", "revoked_at"), row)) for row in rows]


def revoke_key(conn: sqlite3.Connection, key_id: str) -> None:
    cur = conn.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                       (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), key_id))
    if cur.rowcount == 0:
        raise VectroError(f"no active key with id {key_id!r} (see `vectro keys list`)")


def read_key_file(path: Path) -> dict[str, str]:
    """Keys from an --api-key-file: one per line, optionally `scope:key`; bare keys are admin.

    Returns hash -> scope (the keys themselves are not kept)."""
    path = Path(path)
    if not path.is_file():
        raise VectroError(f"API key file {path} does not exist")
    keys = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        scope, _, key = line.partition(":") if line.split(":", 1)[0] in SCOPES else ("admin", "", line)
        if len(key) < 16:
            raise VectroError(f"{path} line {number}: a key must be at least 16 characters")
        keys[hash_key(key)] = scope
    return keys


class Authenticator:
    """Turns a request's headers into a scope, or raises 401/403."""

    def __init__(self, db, file_keys: dict[str, str] | None = None):
        self.db = db
        self.file_keys = file_keys or {}
        self._active: tuple[float, bool] = (0.0, False)
        self.tokens = TokenSigner()  # POST /auth/token: short-lived tokens accepted like keys

    def enabled(self) -> bool:
        """Whether any key is configured (in the key file or the store); cached briefly."""
        if self.file_keys:
            return True
        checked, active = self._active
        if time.monotonic() - checked > ACTIVE_CACHE_S:
            row = self.db.read().execute("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1").fetchone()
            active = row is not None
            self._active = (time.monotonic(), active)
        return active

    def scope_of(self, key: str) -> str | None:
        if is_token(key):
            return self.tokens.scope_of(key)
        digest = hash_key(key)
        if digest in self.file_keys:
            return self.file_keys[digest]
        row = self.db.read().execute("SELECT scope FROM api_keys WHERE hash = ? AND revoked_at IS NULL",
                                     (digest,)).fetchone()
        return row[0] if row else None

    def check(self, headers, needed: str) -> None:
        """Raise ApiError 401 (no or unknown key) or 403 (scope below `needed`)."""
        if not self.enabled():
            return
        key = _key_from(headers)
        if key is None:
            raise ApiError(401, "an API key is required: send 'Authorization: Bearer <key>', 'api-key' or 'X-API-Key'")
        scope = self.scope_of(key)
        if scope is None:
            raise ApiError(401, "invalid or revoked API key")
        if SCOPES.index(scope) < SCOPES.index(needed):
            raise ApiError(403, f"this key has scope {scope!r}; this request needs {needed!r}")


def _key_from(headers) -> str | None:
    auth = headers.get("authorization")
    if auth:
        kind, _, value = auth.partition(" ")
        if kind.lower() == "bearer" and value.strip():
            return value.strip()
    return headers.get("api-key") or headers.get("x-api-key") or None
