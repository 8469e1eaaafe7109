"""Durability and concurrency for real: kill -9 a server mid-stream, restart, check every acknowledged write;
hammer search while several threads upsert and delete, checking each answer against the records that exist."""

import random
import threading
import time

import numpy as np
import pytest

from .process import Server

DIM = 32


def vector(id_: int, version: int = 0) -> list[float]:
    return np.random.default_rng(id_ * 1000 + version).standard_normal(DIM).astype(np.float32).tolist()


def same_vector(got: list[float], want: list[float]) -> bool:
    """Equal as float32 (the server writes float32 values as their shortest decimals)."""
    return np.array_equal(np.array(got, np.float32), np.array(want, np.float32))


@pytest.mark.parametrize("seed", [1, 2])
def test_acknowledged_writes_survive_kill_9(tmp_path, seed):
    rnd = random.Random(seed)
    data = tmp_path / "d"
    server = Server(data)
    server.request("POST", "/collections", {"name": "c", "dimension": DIM})
    state: dict[int, int | None] = {}  # id -> acknowledged version (None: acknowledged delete)
    in_flight: dict = {}
    stop = threading.Event()

    def stream():
        version = 0
        while not stop.is_set():
            version += 1
            ids = rnd.sample(range(2000), 100)
            if rnd.random() < 0.75:
                body = {"records": [{"id": str(i), "vector": vector(i, version), "payload": {"v": version, "i": i}}
                                    for i in ids]}
                in_flight.update({i: version for i in ids})
                try:
                    status, _ = server.request("PUT", "/collections/c/records", body)
                except OSError:
                    return  # the server died mid-request: this batch was never acknowledged
                assert status == 200
                state.update({i: version for i in ids})
            else:
                in_flight.update({i: None for i in ids})
                try:
                    status, res = server.request("POST", "/collections/c/records/delete", {"ids": [str(i) for i in ids]})
                except OSError:
                    return
                assert status == 200
                state.update({i: None for i in ids})
            in_flight.clear()

    writer = threading.Thread(target=stream)
    writer.start()
    wanted, deadline = rnd.randint(400, 1500), time.monotonic() + 120
    while len(state) < wanted and time.monotonic() < deadline and writer.is_alive():
        time.sleep(0.01)
    time.sleep(rnd.uniform(0, 0.2))
    server.kill()  # SIGKILL, at whatever moment the stream is in
    stop.set()
    writer.join()
    assert sum(v is not None for v in state.values()) > 100  # the stream did get going

    again = Server(data)
    try:
        ids = sorted(set(state) | set(in_flight))
        status, res = again.request("POST", "/collections/c/records/get",
                                    {"ids": [str(i) for i in ids], "with_vector": True})
        found = {int(r["id"]): r for r in res["records"]}
        for i in ids:
            allowed = {state.get(i, "never")} | ({in_flight[i]} if i in in_flight else set())
            if i in found:
                v = found[i]["payload"]["v"]
                assert v in allowed, (i, v, allowed)
                assert same_vector(found[i]["vector"], vector(i, v)) and found[i]["payload"] == {"v": v, "i": i}
            else:
                assert None in allowed or "never" in allowed, (i, allowed)  # only a deleted id may be missing
        count = again.request("POST", "/collections/c/records/count", {})[1]["count"]
        assert count == len(found)
        # and search agrees with the records that came back
        q = vector(99999)
        hits = again.request("POST", "/collections/c/search", {"vector": q, "k": 5, "exact": True})[1]["results"]
        assert all(int(h["id"]) in found for h in hits) and len(hits) == min(5, len(found))
    finally:
        again.stop()


def test_concurrent_readers_and_writers(tmp_path):
    data = tmp_path / "d"
    server = Server(data)
    try:
        server.request("POST", "/collections", {"name": "c", "dimension": DIM})
        stable = list(range(300))  # never changed
        server.request("PUT", "/collections/c/records", {"records": [
            {"id": str(i), "vector": vector(i), "payload": {"kind": "stable"}} for i in stable]})
        S = np.array([vector(i) for i in stable], np.float32)
        Sn = S / np.linalg.norm(S, axis=1, keepdims=True)
        failures: list = []
        done = {"writes": 0, "searches": 0}
        stop = threading.Event()

        def exact(q, ids):
            X = np.array([vector(int(i)) for i in ids], np.float64)
            return (X / np.linalg.norm(X, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))

        def writer(offset):
            rnd = random.Random(offset)
            while not stop.is_set():
                ids = rnd.sample(range(offset, offset + 500), 40)
                status, _ = server.request("PUT", "/collections/c/records", {"records": [
                    {"id": str(i), "vector": vector(i), "payload": {"kind": "churn"}} for i in ids]})
                gone = ids[:20]
                status2, res = server.request("POST", "/collections/c/records/delete", {"ids": [str(i) for i in gone]})
                # read your writes: acknowledged deletes are gone, acknowledged upserts are there
                s_del, _ = server.request("GET", f"/collections/c/records/{gone[0]}")
                s_up, rec = server.request("GET", f"/collections/c/records/{ids[-1]}")
                if (status, status2, s_del, s_up) != (200, 200, 404, 200) or not same_vector(rec["vector"], vector(ids[-1])):
                    failures.append(("writer", status, status2, s_del, s_up))
                done["writes"] += 1

        def reader(seed):
            rnd = np.random.default_rng(seed)
            while not stop.is_set():
                q = rnd.standard_normal(DIM).astype(np.float32)
                status, res = server.request("POST", "/collections/c/search", {"vector": q.tolist(), "k": 10})
                hits = res["results"]
                scores = [h["score"] for h in hits]
                ok = status == 200 and len(hits) == 10 and scores == sorted(scores, reverse=True)
                ok = ok and np.allclose(scores, exact(q, [h["id"] for h in hits]), atol=1e-5)
                ok = ok and all(h["payload"]["kind"] in ("stable", "churn") for h in hits)
                # every stable record always exists, so the 10th score is at least the stable set's 10th
                ok = ok and scores[-1] >= np.sort(Sn @ (q / np.linalg.norm(q)))[-10] - 1e-5
                status, res = server.request("POST", "/collections/c/search",
                                             {"vector": q.tolist(), "k": 10, "filter": {"kind": "stable"}, "exact": True})
                want = [str(i) for i in np.argsort(-(Sn @ q), kind="stable")[:10]]
                ok = ok and [h["id"] for h in res["results"]] == want
                if not ok:
                    failures.append(("reader", status, scores, list(exact(q, [h["id"] for h in hits])), [h["id"] for h in res["results"]], want, scores[-1], np.sort(Sn @ (q / np.linalg.norm(q)))[-10]))
                done["searches"] += 2

        threads = [threading.Thread(target=writer, args=(1000 * (w + 1),)) for w in range(3)]
        threads += [threading.Thread(target=reader, args=(r,)) for r in range(4)]
        for t in threads:
            t.start()
        time.sleep(8)
        stop.set()
        for t in threads:
            t.join()
        assert not failures, failures[:3]
        assert done["writes"] >= 6 and done["searches"] >= 20, done  # it did hammer
        count = server.request("POST", "/collections/c/records/count", {})[1]["count"]
        stable_count = server.request("POST", "/collections/c/records/count", {"filter": {"kind": "stable"}})[1]["count"]
        assert stable_count == 300 and count >= 300
    finally:
        server.stop()
