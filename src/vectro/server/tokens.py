"""Short-lived bearer tokens: an API key is exchanged (POST /auth/token) for a signed token.

A token is `vt1.<payload>.<signature>`: the payload (base64url JSON) holds the scope and the
expiry time; the signature is HMAC-SHA256 of the payload under a secret made when the
server starts, so a token cannot be forged or have its scope or expiry changed, and none outlives
its expiry or the process that signed it. Revoking a key does not recall the tokens already
issued for it: they end at their expiry (default 15 minutes, at most one hour).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

PREFIX = "vt1."
DEFAULT_TTL_S = 900
MAX_TTL_S = 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def is_token(value: str) -> bool:
    return value.startswith(PREFIX)


class TokenSigner:
    """Issues and checks tokens under one secret (random per process unless given)."""

    def __init__(self, secret: bytes | None = None):
        self.secret = secret or secrets.token_bytes(32)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self.secret, payload.encode(), hashlib.sha256).digest())

    def issue(self, scope: str, ttl_s: int = DEFAULT_TTL_S, now: float | None = None) -> tuple[str, int]:
        """(token, expiry as Unix seconds) for a key of `scope`."""
        expires = int((time.time() if now is None else now) + ttl_s)
        payload = _b64(json.dumps({"scope": scope, "exp": expires}, separators=(",", ":")).encode())
        return f"{PREFIX}{payload}.{self._sign(payload)}", expires

    def scope_of(self, token: str, now: float | None = None) -> str | None:
        """The scope a token carries, or None when it is malformed, forged or expired."""
        try:
            payload, signature = token[len(PREFIX):].split(".")
            if not hmac.compare_digest(signature, self._sign(payload)):
                return None
            claims = json.loads(_unb64(payload))
        except (ValueError, TypeError):
            return None
        if claims.get("exp", 0) <= (time.time() if now is None else now):
            return None
        return claims.get("scope")
