"""The server's errors: one exception type carrying an HTTP status, and the one JSON envelope.

    {"error": {"code": "not_found", "message": "collection 'docs' does not exist", "path": null}}

`path` points into the request where the problem is, e.g. `records[3].vector`.
"""

from __future__ import annotations

from ..errors import VectroError

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid", 500: "internal"}


class ApiError(VectroError):
    "A request the server refuses; `status` is its HTTP status and `path` the offending place."

    def __init__(self, status: int, message: str, path: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.path = status, message, path
        self.code = code or CODES.get(status, "error")

    def envelope(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "path": self.path}}


def not_found(message: str, path: str | None = None) -> ApiError:
    return ApiError(404, message, path)


def invalid(message: str, path: str | None = None) -> ApiError:
    return ApiError(422, message, path)


def conflict(message: str, path: str | None = None) -> ApiError:
    return ApiError(409, message, path)


def too_large(message: str, path: str | None = None) -> ApiError:
    return ApiError(413, message, path)


def location(parts) -> str | None:
    """Pydantic's error location ('body', 'records', 3, 'vector') -> 'records[3].vector'."""
    out = ""
    for part in parts:
        if part in ("body", "query", "path") and not out:
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or None
