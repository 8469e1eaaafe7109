"""`vectro serve`: a vector database whose collections live compressed (needs `vectro[server]`).

HTTP (routes, schemas, auth: `app.py`, `routes/`, `schemas.py`, `auth.py`) stands apart from
storage (SQLite in WAL mode, one writer thread: `storage.py`, `migrations.py`) and from search
(`vectro.Index`, reused: `collection.py`); `service.py` ties them together without HTTP.

    from vectro.server import Service, create_app
    app = create_app(Service("vectro-data"))
"""

from .service import Limits, Service


def create_app(service, auth=None, routers=(), embeddings_only=False):
    """The ASGI app over a Service (imports FastAPI, from the `server` extra)."""
    from ..errors import require

    require("fastapi", "server")
    from .app import create_app as build

    return build(service, auth, routers, embeddings_only)


__all__ = ["Service", "Limits", "create_app"]
