"""A small JSON-over-HTTP client (stdlib only) for the databases spoken to through their REST APIs."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from ...errors import VectroError


class Http:
    """JSON requests against one base URL; an HTTP error becomes a VectroError naming status and body."""

    def __init__(self, base: str, headers: dict | None = None, timeout: float = 60.0):
        self.base, self.headers, self.timeout = base.rstrip("/"), dict(headers or {}), timeout

    def __call__(self, method: str, path: str, body=None, missing_ok: bool = False):
        """The decoded JSON answer (None for an empty one, or for 404 when missing_ok)."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json", **self.headers})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and missing_ok:
                return None
            detail = exc.read().decode("utf-8", "replace")[:300]
            raise VectroError(f"{method} {self.base + path} failed: HTTP {exc.code} {detail}") from exc
        except urllib.error.URLError as exc:
            raise VectroError(f"cannot reach {self.base}: {exc.reason}") from exc
        return json.loads(raw) if raw.strip() else None
