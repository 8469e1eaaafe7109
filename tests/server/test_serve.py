"""`vectro serve` as a real process: start, the lock, Ctrl-C, auth over HTTP, keys, backup and restore."""

import json
import shutil

import numpy as np
import pytest

from .process import Server, cpu_seconds, vectro_cli


def test_serve_starts_locks_its_folder_and_stops_on_ctrl_c(tmp_path):
    server = Server(tmp_path / "d")
    try:
        assert server.request("GET", "/health")[1]["status"] == "ok"
        # under 2 s to serve an empty store, counted in CPU time: the shared test machine's load
        # stretches wall time, not the work done
        cpu = cpu_seconds(server.proc.pid)
        print(f"empty store: answering after {server.ready_seconds:.2f} s wall, {cpu:.2f} s CPU")
        assert cpu < 2
        second = vectro_cli("serve", "--data", tmp_path / "d", "--port", "0", check=False)
        assert second.returncode == 2 and "already in use by a running server" in second.stderr
    finally:
        printed = server.stop()
    assert server.proc.returncode == 0
    assert f"http://127.0.0.1:{server.port}" in printed and "loopback only" in printed and "stopped" in printed
    # the lock went with the process: the folder can be served again
    Server(tmp_path / "d").stop()


def test_non_loopback_without_keys_is_refused(tmp_path):
    proc = vectro_cli("serve", "--data", tmp_path / "d", "--host", "0.0.0.0", "--port", "0", check=False)
    assert proc.returncode == 2 and "without API keys" in proc.stderr


def test_keys_and_scopes_over_http(tmp_path):
    data = tmp_path / "d"
    keys = {scope: json.loads(vectro_cli("keys", "create", "--scope", scope, "--data", data, "--json").stdout)
            for scope in ("read", "write", "admin")}
    listed = json.loads(vectro_cli("keys", "list", "--data", data, "--json").stdout)["keys"]
    assert sorted(k["scope"] for k in listed) == ["admin", "read", "write"]
    raw = (data / "vectro.db").read_bytes() + (data / "vectro.db-wal").read_bytes() if (data / "vectro.db-wal").exists() \
        else (data / "vectro.db").read_bytes()
    assert not any(k["key"].encode() in raw for k in keys.values())  # only hashes on disk
    file_key = "file-key-0123456789abcdef"
    (tmp_path / "keys.txt").write_text(f"# comment\nread:{file_key}\n")
    server = Server(data, "--api-key-file", tmp_path / "keys.txt")
    try:
        body = {"name": "c", "dimension": 2}
        assert server.request("GET", "/health")[0] == 200  # open
        status, err = server.request("GET", "/collections")
        assert status == 401 and err["error"]["code"] == "unauthorized"
        assert server.request("GET", "/collections", headers={"X-API-Key": "wrong"})[0] == 401
        assert server.request("POST", "/collections", body, {"api-key": keys["write"]["key"]})[0] == 403
        assert server.request("POST", "/collections", body, {"Authorization": f"Bearer {keys['admin']['key']}"})[0] == 201
        rec = {"records": [{"id": "a", "vector": [1.0, 0.0]}]}
        assert server.request("PUT", "/collections/c/records", rec, {"X-API-Key": keys["read"]["key"]})[0] == 403
        assert server.request("PUT", "/collections/c/records", rec, {"X-API-Key": keys["write"]["key"]})[0] == 200
        for key in (keys["read"]["key"], file_key):
            status, res = server.request("POST", "/collections/c/search", {"vector": [1.0, 0.0]}, {"api-key": key})
            assert status == 200 and res["results"][0]["id"] == "a"
        assert server.request("GET", "/metrics", headers={"api-key": file_key})[0] == 200
        vectro_cli("keys", "revoke", keys["read"]["key_id"], "--data", data)
        assert server.request("GET", "/collections", headers={"api-key": keys["read"]["key"]})[0] == 401
    finally:
        server.stop()
    assert vectro_cli("keys", "revoke", "nope", "--data", data, check=False).returncode == 2


def test_backup_and_restore_give_the_same_searches(tmp_path, sample):
    base, queries = sample
    data = tmp_path / "d"
    server = Server(data)
    try:
        server.request("POST", "/collections", {"name": "c", "dimension": 384, "codec": "int4"})
        server.request("PUT", "/collections/c/records",
                       {"records": [{"id": str(i), "vector": base[i].tolist(), "payload": {"g": i % 3}} for i in range(300)]})
        server.request("POST", "/collections/c/records/delete", {"ids": ["5", "6"]})
        asks = [{"vector": q.tolist(), "k": 10, "filter": {"g": 1}, "rescore": r} for q in queries[:5] for r in (True, False)]
        before = [server.request("POST", "/collections/c/search", a)[1]["results"] for a in asks]
        vectro_cli("backup", data, tmp_path / "b.db")  # while the server runs
        snap = server.request("POST", "/collections/c/snapshots")[1]
    finally:
        server.stop()
    for source, folder in ((tmp_path / "b.db", tmp_path / "r1"), (snap["path"], tmp_path / "r2")):
        vectro_cli("restore", source, folder)
        again = Server(folder)
        try:
            assert [again.request("POST", "/collections/c/search", a)[1]["results"] for a in asks] == before
            assert again.request("POST", "/collections/c/records/count", {})[1] == {"count": 298}
        finally:
            again.stop()
    refused = vectro_cli("restore", tmp_path / "b.db", tmp_path / "r1", check=False)
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert vectro_cli("restore", tmp_path / "b.db", tmp_path / "r1", "--force").returncode == 0
    (tmp_path / "junk.db").write_text("not a database at all" * 100)
    assert vectro_cli("restore", tmp_path / "junk.db", tmp_path / "r3", check=False).returncode == 2


def test_restart_gives_the_same_searches(tmp_path, sample):
    base, queries = sample
    data = tmp_path / "d"
    server = Server(data)
    asks = [{"vector": q.tolist(), "k": 10, **extra} for q in queries[:4]
            for extra in ({}, {"rescore": False}, {"filter": {"g": 2}})]
    try:
        for name, codec in (("i8", "int8"), ("pq", "pq:24")):
            server.request("POST", "/collections", {"name": name, "dimension": 384, "codec": codec, "fit_rows": 400})
            for s in range(0, 600, 200):
                server.request("PUT", f"/collections/{name}/records", {"records": [
                    {"id": str(i), "vector": base[i].tolist(), "payload": {"g": i % 4}} for i in range(s, s + 200)]})
        before = {n: [server.request("POST", f"/collections/{n}/search", a)[1]["results"] for a in asks] for n in ("i8", "pq")}
        info = server.request("GET", "/collections/pq")[1]
        assert info["codec"]["fitted"] and info["codec"]["in_effect"] == "pq:24"
    finally:
        printed = server.terminate()  # a clean stop, as Ctrl-C: the Indexes are saved as checkpoints
    assert server.proc.returncode == 0 and "stopped" in printed
    assert len(list((data / "checkpoints").iterdir())) == 2
    for how in ("from checkpoints", "rebuilt"):
        if how == "rebuilt":
            shutil.rmtree(data / "checkpoints")  # from SQLite alone, as after kill -9 during a write
        again = Server(data)
        try:
            after = {n: [again.request("POST", f"/collections/{n}/search", a)[1]["results"] for a in asks] for n in ("i8", "pq")}
            assert after == before
        finally:
            again.kill()
            printed = again.proc.communicate()[0]
        assert ("2 from checkpoints" in printed) == (how == "from checkpoints")
