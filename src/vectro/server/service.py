"""The service behind the routes: collections, records and search over SQLite and `vectro.Index`.

HTTP-free (the routes translate JSON to these calls), so it is usable and testable on its own.
Writes run on the database's single writer thread: SQLite first (committed), then the in-RAM
Collection (published). Reads use per-thread SQLite connections and the Collection's read lock.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..codecs.base import make_codec
from ..errors import VectroError
from ..index.ann import needs_faiss
from ..metrics.evaluate import prepare_for_metric
from . import checkpoint
from .collection import Collection, CollectionConfig, codec_state_blob
from .errors import ApiError, conflict, invalid, not_found
from .filters import FilterError, validate
from .migrations import migrate
from .storage import DB_NAME, Database, FolderLock, release_free_memory

log = logging.getLogger("vectro.server")

#: ids per SQL `IN (...)` (well under SQLite's variable limit)
SQL_CHUNK = 900
#: rows read at a time when rebuilding a collection at start
LOAD_ROWS = 20_000
#: what a write reads of the records it replaces or deletes: their stored bytes and the payload the
#: collection's payload index holds for them
STORED = "id, length(vector) + ifnull(length(payload), 0), payload"
#: searches run again when a hit's record was deleted between the Index answer and the read of the records
SEARCH_ATTEMPTS = 8


@dataclass(frozen=True)
class Limits:
    """Request limits, published in GET /health."""

    max_batch_records: int = 5000
    max_request_bytes: int = 64 << 20
    max_k: int = 10_000
    max_scroll: int = 10_000
    max_payload_paths: int = 64  # payload paths a collection indexes in RAM (those its filters name)


def _chunks(items: list, size: int = SQL_CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _qmarks(n: int) -> str:
    return ",".join("?" * n)


class Service:
    """Everything the server does, over one data folder (locked while open)."""

    def __init__(self, data_dir, limits: Limits | None = None):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.limits = limits or Limits()
        self.folder_lock = FolderLock(self.data_dir)
        try:
            self.db = Database(self.data_dir / DB_NAME, on_quiet=self._checkpoint_when_quiet)
            self.collections: dict[str, Collection] = {}
            started = time.perf_counter()
            self._load()
            release_free_memory()  # the rows read by _load (gone with its frame): glibc would keep them resident
            self.load_seconds = time.perf_counter() - started
        except BaseException:
            self.folder_lock.release()
            raise

    def close(self) -> None:
        """Save each changed collection's Index for the next start (the last writes), then close the store."""
        try:
            for coll in list(self.collections.values()):
                try:
                    self.db.write(lambda conn: None, lambda _, coll=coll: self._checkpoint(coll))
                except Exception:  # noqa: BLE001  (the next start rebuilds this one; a file written is swept then)
                    log.exception("collection %r: its checkpoint was not saved; the next start rebuilds it",
                                  coll.config.name)
        finally:
            self.db.close()
            self.folder_lock.release()

    def _checkpoint(self, coll: Collection) -> None:
        """Writer thread only, outside a transaction: save coll's checkpoint if it changed since the last
        (`checkpoint.save`: the file written with no SQLite lock held, then recorded in one statement)."""
        if self.collections.get(coll.config.name) is not coll:  # deleted (or made again) since it was queued
            return
        folder = self.data_dir / checkpoint.FOLDER
        replaced = checkpoint.save(self.db._writer_conn, folder, coll)
        if replaced is not None:
            (folder / replaced).unlink(missing_ok=True)

    def _checkpoint_when_quiet(self) -> bool:
        """Writer thread, once writes have paused (storage.QUIET_AFTER_S): save the checkpoint of one
        collection changed since its last, so that a kill -9 later finds it saved. True when it saved
        one: the writer calls again once the writes queued meanwhile have gone first."""
        conn = self.db._writer_conn
        coll = next((coll for coll in self.collections.values() if checkpoint.stale(conn, coll)), None)
        if coll is not None:
            self._checkpoint(coll)
        return coll is not None  # the next call looks again: once none is stale, it says so

    # ----- start: load RAM from the checkpoints, or rebuild it from SQLite ------------------
    def _load(self) -> None:
        conn = self.db.read()
        folder = self.data_dir / checkpoint.FOLDER
        self.from_checkpoints = 0  # collections whose Index was loaded rather than rebuilt
        for cid, name, config, state, paths in conn.execute(
                "SELECT cid, name, config, codec_state, payload_paths FROM collections"):
            coll = Collection(cid, CollectionConfig.from_json(config), state, json.loads(paths))
            if checkpoint.load(conn, folder, coll):
                self.from_checkpoints += 1
                if coll.payloads.paths:  # the paths its filters have named: indexed from the payloads alone
                    for id_, payload in _stored_payloads(conn, cid):
                        coll.payloads.add(id_, payload)
            else:
                self._rebuild(conn, coll)
            _ = "" in coll.index  # build the id lookup now, before readers arrive
            self.collections[name] = coll
        checkpoint.remove_unrecorded(conn, folder)

    def _rebuild(self, conn: sqlite3.Connection, coll: Collection) -> None:
        """coll's Index (and payload paths) from every record, in the order they were stored."""
        cursor = conn.execute("SELECT id, vector, payload FROM records WHERE cid = ? ORDER BY rowid", (coll.cid,))
        while rows := cursor.fetchmany(LOAD_ROWS):
            ids, blobs, payloads = zip(*rows)
            X = coll.from_blobs(list(blobs))
            if coll.index.ann is not None and not len(coll.index):  # the graph's quantiser, from the first rows
                coll.index.train(X)  # the fitted codec stays as it is
            coll.index.add(X, ids=np.array(ids, dtype=object))
            if coll.payloads.paths:  # the paths its filters have named
                for id_, payload in zip(ids, payloads):
                    coll.payloads.add(id_, None if payload is None else json.loads(payload))
            coll.disk_bytes += sum(map(len, blobs)) + sum(len(p) for p in payloads if p is not None)

    # ----- collections ---------------------------------------------------------------------
    def collection(self, name: str) -> Collection:
        coll = self.collections.get(name)
        if coll is None:
            raise not_found(f"collection {name!r} does not exist")
        return coll

    def create_collection(self, config: CollectionConfig, get_or_create: bool = False) -> tuple[dict, bool]:
        """Create a collection; returns (its description, whether it was created)."""
        try:
            codec = make_codec(config.codec)
        except VectroError as exc:
            raise invalid(str(exc), "codec") from None
        if codec.trainable and not config.keep_originals:
            raise invalid(f"codec {config.codec!r} is trained on the originals: it needs keep_originals", "keep_originals")
        if config.rescore and not config.keep_originals:
            raise invalid("rescore needs the originals: set keep_originals or rescore=false", "rescore")
        if codec.trainable and config.fit_rows < codec.min_fit_rows:
            raise invalid(f"codec {config.codec!r} needs fit_rows >= {codec.min_fit_rows}", "fit_rows")
        if config.ann is not None and needs_faiss(codec, config.dimension):  # vectro's own graph needs no FAISS
            from ..errors import require

            try:
                require("faiss", "ann")
            except VectroError as exc:
                raise invalid(str(exc), "ann") from None

        def txn(conn):
            existing = self.collections.get(config.name)
            if existing is not None:
                if get_or_create or existing.config == config:
                    return existing, False
                raise conflict(f"collection {config.name!r} exists with another configuration", "name")
            cur = conn.execute("INSERT INTO collections (name, config, created_at) VALUES (?, ?, ?)",
                               (config.name, config.to_json(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
            return Collection(cur.lastrowid, config), True

        def publish(result):
            coll, created = result
            self.collections[config.name] = coll
            return coll, created

        coll, created = self.db.write(txn, publish)
        return self.describe(coll), created

    def describe(self, coll: Collection) -> dict:
        cfg = coll.config
        codec = coll.codec_in_effect
        bpv = codec.bytes_per_vector(cfg.dimension)
        return {
            "name": cfg.name, "dimension": cfg.dimension, "metric": cfg.metric,
            "codec": {"spec": cfg.codec, "in_effect": codec.spec, "fitted": not coll.awaiting_fit,
                      "bytes_per_vector": bpv, "trainable": cfg.trainable},
            "keep_originals": cfg.keep_originals, "rescore": cfg.rescore, "ann": cfg.ann,
            "fit_rows": cfg.fit_rows, "oversampling": cfg.oversampling, "model": cfg.model,
            "count": coll.count(), **coll.memory(),
            "compression_ratio": round(4 * cfg.dimension / bpv, 4),
            "payload_index": sorted(coll.payloads.paths),  # the payload paths held in RAM for filters
        }

    def list_collections(self) -> list[dict]:
        return [self.describe(c) for _, c in sorted(self.collections.items())]

    def delete_collection(self, name: str) -> None:
        def txn(conn):
            coll = self.collection(name)
            conn.execute("DELETE FROM records WHERE cid = ?", (coll.cid,))
            conn.execute("DELETE FROM collections WHERE cid = ?", (coll.cid,))

        self.db.write(txn, lambda _: self.collections.pop(name, None))

    # ----- records: writes -----------------------------------------------------------------
    def upsert(self, name: str, ids: list[str], X: np.ndarray, payloads: list) -> int:
        """Insert or replace records (one transaction). X: float32 (n, d), already validated."""
        coll = self.collection(name)
        blobs, stored = coll.to_blobs(X)  # CPU work here, in the request's thread
        texts = [None if p is None else json.dumps(p, separators=(",", ":")) for p in payloads]
        new_bytes = sum(map(len, blobs)) + sum(len(t) for t in texts if t is not None)

        def txn(conn):
            if self.collections.get(name) is not coll:  # deleted (or recreated) meanwhile
                raise not_found(f"collection {name!r} does not exist")
            old = self._fetch(coll, ids, STORED, conn)
            conn.executemany(
                "INSERT INTO records (cid, id, vector, payload) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (cid, id) DO UPDATE SET vector = excluded.vector, payload = excluded.payload",
                [(coll.cid, i, b, t) for i, b, t in zip(ids, blobs, texts)])
            return old, new_bytes - sum(size for _, size, _ in old.values())

        def publish(result):
            old, delta = result
            with coll.changing():
                coll.publish_upsert(ids, stored, payloads, _payloads(old), delta)
                if coll.awaiting_fit and coll.count() >= coll.config.fit_rows:
                    self._fit(coll)
            return len(ids)

        return self.db.write(txn, publish)

    def delete_records(self, name: str, ids: list[str] | None = None, flt: dict | None = None) -> int:
        """Delete by ids or by filter (evaluated on the writer thread, so it is consistent); returns how many."""
        coll = self.collection(name)

        def txn(conn):
            if self.collections.get(name) is not coll:
                raise not_found(f"collection {name!r} does not exist")
            if flt is not None:
                self._ensure_indexed_in(coll, flt, conn)
            wanted = list(self._match(coll, flt)) if flt is not None else list(dict.fromkeys(ids or []))
            old = self._fetch(coll, wanted, STORED, conn)
            for part in _chunks(list(old)):
                conn.execute(f"DELETE FROM records WHERE cid = ? AND id IN ({_qmarks(len(part))})", (coll.cid, *part))
            return old, -sum(size for _, size, _ in old.values())

        def publish(result):
            old, delta = result
            with coll.changing():
                coll.publish_delete(_payloads(old), delta)
            return len(old)

        return self.db.write(txn, publish)

    def optimize(self, name: str) -> dict:
        """Fit the collection's trainable codec on everything it holds now, and drop tombstones."""
        coll = self.collection(name)

        def publish(_):
            with coll.changing():
                if coll.config.learns and coll.count():
                    self._fit(coll)
                else:
                    coll.compact()
            return self.describe(coll)

        return self.db.write(lambda conn: None, publish)

    def _fit(self, coll: Collection) -> None:
        """Writer thread only: fit the codec on the stored originals, rebuild the Index, store the state."""
        conn = self.db._writer_conn
        rows = conn.execute("SELECT id, vector FROM records WHERE cid = ? ORDER BY rowid", (coll.cid,)).fetchall()
        ids, blobs = zip(*rows)
        X = coll.from_blobs(list(blobs))
        index = coll.new_index(make_codec(coll.config.codec))
        index.train(coll.fit_sample(X))
        index.add(X, ids=np.array(ids, dtype=object))
        _ = "" in index
        conn.execute("UPDATE collections SET codec_state = ? WHERE cid = ?", (codec_state_blob(index.codec), coll.cid))
        coll.publish_index(index, index.codec)

    # ----- records: reads ------------------------------------------------------------------
    def _fetch(self, coll: Collection, ids: list[str], columns: str = "id, vector, payload",
               conn: sqlite3.Connection | None = None) -> dict:
        """id -> row for those of `ids` that exist (one read per chunk of ids), through `conn` (a write
        transaction's) or this thread's read connection."""
        if conn is None:
            conn = self.db.read()
        out = {}
        for part in _chunks(ids):
            for row in conn.execute(f"SELECT {columns} FROM records WHERE cid = ? AND id IN ({_qmarks(len(part))})",
                                    (coll.cid, *part)):
                out[row[0]] = row
        return out

    def _record(self, coll: Collection, row, with_vector: bool, with_payload: bool) -> dict:
        record = {"id": row[0]}
        if with_payload:
            record["payload"] = None if row[2] is None else json.loads(row[2])
        if with_vector:  # float32 values as the shortest decimals that read back to the same float32
            record["vector"] = [float(str(v)) for v in coll.from_blobs([row[1]])[0]]
        return record

    def get_record(self, name: str, id_: str) -> dict:
        coll = self.collection(name)
        row = self._fetch(coll, [id_]).get(id_)
        if row is None:
            raise not_found(f"record {id_!r} does not exist in collection {name!r}", "id")
        return self._record(coll, row, True, True)

    def get_records(self, name: str, ids: list[str], with_vector: bool = False, with_payload: bool = True) -> list[dict]:
        coll = self.collection(name)
        rows = self._fetch(coll, list(dict.fromkeys(ids)))
        return [self._record(coll, rows[i], with_vector, with_payload) for i in dict.fromkeys(ids) if i in rows]

    def _match(self, coll: Collection, flt: dict) -> set:
        """The ids `flt` matches (its paths indexed first: `_ensure_indexed`)."""
        with _filter_errors():
            return coll.payloads.match(flt)

    def _ensure_indexed(self, coll: Collection, flt: dict | None) -> None:
        """Index the payload paths `flt` names that `coll` does not index yet (a write of its own, once per
        path: they stay indexed, across restarts)."""
        if flt is not None and coll.payloads.unindexed(flt):
            self.db.write(lambda conn: self._ensure_indexed_in(coll, flt, conn))

    def _ensure_indexed_in(self, coll: Collection, flt: dict, conn: sqlite3.Connection) -> None:
        """Writer thread: `_ensure_indexed` from the payloads as committed, which are what RAM holds now. It
        changes no record, so it publishes inside the transaction (a delete by filter then matches on it).
        A malformed filter is a 400 before anything is indexed (`_match` checks those it does not index)."""
        if self.collections.get(coll.config.name) is not coll:  # deleted (or recreated, maybe with its cid)
            raise not_found(f"collection {coll.config.name!r} does not exist")
        paths = coll.payloads.unindexed(flt)  # again: an earlier write may have indexed them
        if not paths:
            return
        with _filter_errors():
            validate(flt)
        limit = self.limits.max_payload_paths
        if len(coll.payloads.paths) + len(paths) > limit:
            raise ApiError(400, f"the filter names {len(paths)} payload path(s) not indexed yet "
                                f"({', '.join(sorted(paths))}); collection {coll.config.name!r} indexes "
                                f"{len(coll.payloads.paths)} and max_payload_paths={limit}", "filter")
        built = coll.payloads.build(paths, _stored_payloads(conn, coll.cid))
        conn.execute("UPDATE collections SET payload_paths = ? WHERE cid = ?",
                     (json.dumps(sorted(coll.payloads.paths | paths)), coll.cid))
        coll.publish_paths(built)

    def count(self, name: str, flt: dict | None = None) -> int:
        coll = self.collection(name)
        self._ensure_indexed(coll, flt)
        with coll.lock.read():
            return coll.count() if flt is None else len(self._match(coll, flt))

    def scroll(self, name: str, limit: int, cursor: str | None = None, flt: dict | None = None,
               with_vector: bool = False, with_payload: bool = True) -> tuple[list[dict], str | None]:
        """Records in id order after `cursor` (the last id of the previous page); next cursor or None."""
        coll = self.collection(name)
        if flt is None:
            rows = self.db.read().execute(
                "SELECT id, vector, payload FROM records WHERE cid = ? AND id > ? ORDER BY id LIMIT ?",
                (coll.cid, cursor or "", limit + 1)).fetchall()
        else:
            self._ensure_indexed(coll, flt)
            with coll.lock.read():
                matched = self._match(coll, flt)
            page = heapq.nsmallest(limit + 1, (i for i in matched if cursor is None or i > cursor))
            found = self._fetch(coll, page)
            rows = [found[i] for i in page if i in found]
        more = len(rows) > limit
        rows = rows[:limit]
        records = [self._record(coll, row, with_vector, with_payload) for row in rows]
        return records, (rows[-1][0] if more and rows else None)

    # ----- search --------------------------------------------------------------------------
    def search(self, name: str, Q: np.ndarray, k: int = 10, flt: dict | None = None, with_payload: bool = True,
               with_vector: bool = False, score_threshold: float | None = None, offset: int = 0,
               oversampling: float | None = None, rescore: bool | None = None, exact: bool = False) -> list[list[dict]]:
        """Top-k hits per query. Q: float32 (nq, d). Scores are higher-is-better (cosine, dot, -l2 distance).

        The Index answers from what was published when the search began, and the records are read
        from SQLite after it: a record deleted in between is left out of the hits. Then the search
        runs again (the delete is published by then), so k hits come back whenever k records exist.
        """
        for _ in range(SEARCH_ATTEMPTS):
            results, dropped = self._search_once(name, Q, k, flt, with_payload, with_vector, score_threshold, offset,
                                                 oversampling, rescore, exact)
            if not dropped:
                break
        return results

    def _search_once(self, name, Q, k, flt, with_payload, with_vector, score_threshold, offset, oversampling, rescore,
                     exact) -> tuple[list[list[dict]], int]:
        """(hits per query, how many hits were left out because their record was deleted meanwhile)."""
        coll = self.collection(name)
        cfg = coll.config
        rescore = cfg.rescore if rescore is None else rescore
        if (rescore or exact) and not cfg.keep_originals:
            raise ApiError(400, f"collection {name!r} keeps no originals, so it cannot {'search exactly' if exact else 'rescore'}",
                           "exact" if exact else "rescore")
        depth = k + offset
        self._ensure_indexed(coll, flt)
        with coll.lock.read():
            if exact:  # every record the filter matches is read and scored
                everything = sorted(coll.payloads.all_ids() if flt is None else self._match(coll, flt))
                candidates = [everything] * len(Q)
            else:
                allowed, matched = (None, coll.count()) if flt is None else coll.filter_mask(flt, lambda: self._match(coll, flt))
                if matched == 0:
                    candidates = [[] for _ in Q]
                else:
                    exact_in_ram = coll.awaiting_fit  # the Index holds float32 originals already
                    want = depth if exact_in_ram or not rescore else max(depth, math.ceil(depth * (oversampling or cfg.oversampling)))
                    ids, scores = coll.index.search(Q, k=want, filter=allowed)
                    if exact_in_ram or not rescore:
                        hits = [_ranked(row_ids, _api_scores(row_scores, cfg.metric), depth)
                                for row_ids, row_scores in zip(ids, scores)]
                        candidates = None
                    else:
                        candidates = [[i for i in row if isinstance(i, str)] for row in ids]
        dropped, records = 0, None
        if candidates is not None:  # re-score the shortlists exactly on the originals read from disk
            # a shortlist's whole rows, so the hits' payloads come from this read (an exact search's
            # candidates are every record: their payloads are read for the hits only)
            originals = self._fetch(coll, list({i for row in candidates for i in row}),
                                    "id, vector" if exact else "id, vector, payload")
            records = None if exact else originals
            hits = []
            for q, row in zip(Q, candidates):
                dropped += sum(i not in originals for i in row)
                row = [i for i in row if i in originals]
                X = coll.from_blobs([originals[i][1] for i in row]) if row else np.zeros((0, cfg.dimension), np.float32)
                hits.append(_ranked(np.array(row, dtype=object), exact_scores(q, X, cfg.metric), depth))
        hits = [[h for h in row[offset:] if score_threshold is None or h[1] >= score_threshold] for row in hits]
        results, missing = self._with_records(coll, hits, with_payload, with_vector, records)
        return results, dropped + missing

    def _with_records(self, coll, hits, with_payload, with_vector, rows: dict | None = None) -> tuple[list[list[dict]], int]:
        """The hits with their records (from `rows`, whole rows by id, when the caller has read them),
        and how many were left out because their record is gone."""
        if not (with_payload or with_vector):
            return [[{"id": i, "score": s} for i, s in row] for row in hits], 0
        if rows is None:
            rows = self._fetch(coll, list({i for row in hits for i, _ in row}))
        out, missing = [], 0
        for row in hits:
            results = []
            for id_, score in row:
                if id_ in rows:  # deleted since the search: left out
                    record = self._record(coll, rows[id_], with_vector, with_payload)
                    results.append({"id": record.pop("id"), "score": score, **record})
                else:
                    missing += 1
            out.append(results)
        return out, missing

    # ----- snapshots -------------------------------------------------------------------------
    def snapshot(self, name: str) -> dict:
        """Copy one collection, as of one moment, into DIR/snapshots/NAME-TIME.sqlite (a store of its own)."""
        coll = self.collection(name)
        folder = self.data_dir / "snapshots"
        folder.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = folder / f"{name}-{stamp}-{time.time_ns() % 10**9:09d}.sqlite"
        tmp = path.with_suffix(".tmp")
        target = sqlite3.connect(str(tmp), isolation_level=None)
        source = self.db.read()
        try:
            migrate(target)
            target.execute("BEGIN")
            source.execute("BEGIN")  # one read transaction: every row as of the same moment
            try:
                columns = "cid, name, config, codec_state, created_at, payload_paths"
                row = source.execute(f"SELECT {columns} FROM collections WHERE cid = ?", (coll.cid,)).fetchone()
                if row is None:
                    raise not_found(f"collection {name!r} does not exist")
                target.execute(f"INSERT INTO collections ({columns}) VALUES (?, ?, ?, ?, ?, ?)", row)
                count = 0
                cursor = source.execute("SELECT cid, id, vector, payload FROM records WHERE cid = ? ORDER BY rowid",
                                        (coll.cid,))
                while rows := cursor.fetchmany(LOAD_ROWS):
                    target.executemany("INSERT INTO records VALUES (?, ?, ?, ?)", rows)
                    count += len(rows)
            finally:
                source.execute("COMMIT")
            target.execute("COMMIT")
        finally:
            target.close()
        tmp.replace(path)
        return {"collection": name, "path": str(path), "records": count, "bytes": path.stat().st_size}


@contextmanager
def _filter_errors():
    """A malformed filter is a 400 naming its place in the filter."""
    try:
        yield
    except FilterError as exc:
        raise ApiError(400, str(exc), exc.path) from None


def _stored_payloads(conn: sqlite3.Connection, cid: int):
    """(id, payload) of each of a collection's records that holds one, as stored."""
    for id_, text in conn.execute("SELECT id, payload FROM records WHERE cid = ? AND payload IS NOT NULL", (cid,)):
        yield id_, json.loads(text)


def _payloads(stored: dict) -> dict:
    """id -> payload (or None) from rows of STORED columns."""
    return {id_: None if text is None else json.loads(text) for id_, (_, _, text) in stored.items()}


def _api_scores(scores: np.ndarray, metric: str) -> np.ndarray:
    """Index scores -> the API's: cosine and dot as they are, l2 as minus the distance (not squared)."""
    return -np.sqrt(np.maximum(-scores, 0)) if metric == "l2" else scores


def exact_scores(q: np.ndarray, X: np.ndarray, metric: str) -> np.ndarray:
    """The API's score of query q float32 (d,) against float32 originals X (m, d)."""
    if metric == "l2":
        diff = X - q[None, :]
        return -np.sqrt(np.einsum("ij,ij->i", diff, diff))
    if metric == "cosine":
        return prepare_for_metric(X, "cosine") @ prepare_for_metric(q[None, :], "cosine")[0]
    return X @ q


def _ranked(ids: np.ndarray, scores: np.ndarray, depth: int) -> list[tuple[str, float]]:
    """The best `depth` (id, score) pairs, best first, ties by id; empty places dropped."""
    pairs = [(i, float(s)) for i, s in zip(ids.tolist(), np.asarray(scores).tolist())
             if isinstance(i, str) and math.isfinite(s)]
    pairs.sort(key=lambda p: (-p[1], p[0]))
    return pairs[:depth]
