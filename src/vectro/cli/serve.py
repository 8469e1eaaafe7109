"""The server's commands: `vectro serve`, `vectro keys create|list|revoke`, `vectro backup`, `vectro restore`."""

from __future__ import annotations

import ipaddress
import signal
import threading
from pathlib import Path
from typing import Optional

import typer

from vectro.errors import VectroError, require

from ._common import JsonOpt, _print_json, app, err, out

DataOpt = typer.Option(Path("vectro-data"), "--data", help="The data folder (created if missing).")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Terminated(Exception):
    """SIGTERM: uvicorn handles it while serving, then raises it again once it has shut down."""


def _terminated(signum, frame):
    raise _Terminated  # not the default action, which would end the process before service.close()


def _warm_up() -> None:
    """Load the compiled kernels in the background, so the first search does not pay for it."""
    import numpy as np

    import vectro

    index = vectro.Index(8, "int8")
    index.add(np.eye(8, dtype=np.float32))
    index.search(np.ones(8, dtype=np.float32), k=2)


@app.command()
def serve(
    data: Path = DataOpt,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (non-loopback needs API keys)."),
    port: int = typer.Option(6390, "--port", min=0, max=65535, help="TCP port to listen on."),
    api_key_file: Optional[Path] = typer.Option(None, "--api-key-file",
                                                help="Extra keys, one per line (`scope:key`; bare keys are admin)."),
    embeddings_only: bool = typer.Option(False, "--embeddings-only",
                                         help="Answer only the model routes (/embed, /batch-embed, /models, "
                                              "/models/benchmark, /auth/token), as a separate embedding service."),
):
    """Serve the vector database in --data over HTTP (needs the server extra); Ctrl-C stops it."""
    require("fastapi", "server")
    uvicorn = require("uvicorn", "server")
    from vectro.server import Service, create_app
    from vectro.server.auth import Authenticator, read_key_file

    from threadpoolctl import threadpool_limits

    import vectro

    # Requests are the unit of parallelism: each runs its small products and kernels on one thread.
    # A BLAS or numba thread team per request fights over the cores (10x slower search measured here).
    threadpool_limits(1, user_api="blas")
    vectro.set_threads(1)
    file_keys = read_key_file(api_key_file) if api_key_file else {}
    service = Service(data)
    try:
        auth = Authenticator(service.db, file_keys)
        if not auth.enabled() and not is_loopback(host):
            raise VectroError(f"refusing to serve on {host} without API keys; create one with "
                              f"`vectro keys create --data {data} --scope admin` or use --api-key-file")
        app_ = create_app(service, auth, embeddings_only=embeddings_only)
        config = uvicorn.Config(app_, host=host, port=port, log_level="warning",
                                lifespan="off")
        server = uvicorn.Server(config)
        threading.Thread(target=_warm_up, daemon=True).start()
        shown = f"[{host}]" if ":" in host else host
        what = "the embedding service" if embeddings_only else f"vectro serving {data}"
        saved = f", {service.from_checkpoints} from checkpoints" if service.from_checkpoints else ""
        out.print(f"{what} at http://{shown}:{port} "
                  f"({len(service.collections)} collections, loaded in {service.load_seconds:.2f} s{saved})")
        if not auth.enabled():
            out.print("no API keys configured: open access, loopback only")
        if not embeddings_only:
            out.print(f"dashboard: http://{shown}:{port}/dashboard")
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _terminated)
        try:
            server.run()  # returns on Ctrl-C / SIGTERM after finishing the requests in flight
        except (KeyboardInterrupt, _Terminated):  # uvicorn re-raises the signal it caught once it has shut down
            pass
    finally:
        service.close()  # saves the checkpoints: a SIGTERM (systemd, docker stop) is a clean stop too
    out.print("stopped")


keys_app = typer.Typer(no_args_is_help=True, help="API keys of a server's data folder (stored hashed).")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    scope: str = typer.Option(..., "--scope", help="read, write or admin."),
    data: Path = DataOpt,
    name: Optional[str] = typer.Option(None, "--name", help="A note saying whose key it is."),
    as_json: bool = JsonOpt,
):
    """Create a key; it is printed once and only its hash is stored."""
    from vectro.server.auth import create_key
    from vectro.server.storage import open_store

    conn = open_store(data)
    try:
        key_id, key = create_key(conn, scope, name)
    finally:
        conn.close()
    if as_json:
        _print_json({"key_id": key_id, "scope": scope, "key": key})
    else:
        out.print(key)
        err.print(f"key {key_id} ({scope}) created; it is not shown again")


@keys_app.command("list")
def keys_list(data: Path = DataOpt, as_json: bool = JsonOpt):
    """List keys (ids, scopes, dates; never the keys)."""
    from vectro.server.auth import list_keys
    from vectro.server.storage import open_store

    conn = open_store(data)
    try:
        keys = list_keys(conn)
    finally:
        conn.close()
    if as_json:
        _print_json({"keys": keys})
        return
    for k in keys:
        state = f"revoked {k['revoked_at']}" if k["revoked_at"] else "active"
        out.print(f"{k['key_id']}  {k['scope']:<5}  {state:<30}  created {k['created_at']}  {k['name'] or ''}")


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="The key id from `vectro keys list`."), data: Path = DataOpt):
    """Revoke a key (a running server refuses it from the next request)."""
    from vectro.server.auth import revoke_key
    from vectro.server.storage import open_store

    conn = open_store(data)
    try:
        revoke_key(conn, key_id)
    finally:
        conn.close()
    out.print(f"revoked {key_id}")


@app.command()
def backup(
    data: Path = typer.Argument(..., help="The server's data folder."),
    output: Path = typer.Argument(..., help="The backup file to write."),
    as_json: bool = JsonOpt,
):
    """Copy a store to one file, consistently, even while its server runs."""
    from vectro.server.storage import backup as run_backup

    info = run_backup(data, output)
    if as_json:
        _print_json(info)
    else:
        out.print(f"backed up {data} -> {output} ({_summary(info)})")


@app.command()
def restore(
    backup_file: Path = typer.Argument(..., help="A file from `vectro backup` or a collection snapshot."),
    data: Path = typer.Argument(..., help="The data folder to restore into (no server may be running on it)."),
    force: bool = typer.Option(False, "--force", help="Replace a store already in the folder."),
    as_json: bool = JsonOpt,
):
    """Restore a backup (or a snapshot) into a data folder."""
    from vectro.server.storage import restore as run_restore

    info = run_restore(backup_file, data, force)
    if as_json:
        _print_json(info)
    else:
        out.print(f"restored {backup_file} -> {data} ({_summary(info)})")


def _summary(info: dict) -> str:
    parts = [f"{name}: {n:,} records" for name, n in info["collections"].items()]
    return ", ".join(parts) or "no collections"
