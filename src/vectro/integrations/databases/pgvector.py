"""PostgreSQL + pgvector: a table per collection, bulk-loaded with binary COPY, searched with HNSW.

    from vectro.integrations.databases import pgvector
    pgvector.export(packed, "postgresql://user@host/db", "docs")      # table docs
    ids, scores = pgvector.search("postgresql://user@host/db", "docs", queries, k=10)

The table is `(id bigint|text primary key, embedding <type>, payload jsonb)`, with the vectro codec
choosing the type (`column_for`): float32 -> `vector(d)`; binary -> `bit(d)` searched by Hamming
distance (`<~>`) through an HNSW `bit_hamming_ops` index, the candidates then rescored here with
the float query against their signs (vectro's asymmetric binary score); float16, bf16, int8 and
every other codec -> `halfvec(d)` holding the decoded vectors (pgvector's most compact float type:
2 bytes a dimension; for int8 the int8 error dominates float16's). Each batch is one transaction:
binary COPY into a staging table, then `INSERT ... ON CONFLICT (id) DO UPDATE`. The table comment
records the codec and metric, so an import re-encodes with the same codec.
"""

from __future__ import annotations

import json
import re
import struct

import numpy as np

from ...codecs.base import Codec, make_codec
from ...errors import VectroError, require
from . import _common
from ._common import Adapter, Records, sign_bits, sign_vectors

EXTRA = "pgvector"
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# metric -> (operator suffix of the HNSW opclass, distance operator)
OPERATORS = {"cosine": ("cosine_ops", "<=>"), "ip": ("ip_ops", "<#>"), "l2": ("l2_ops", "<->")}
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)


def column_for(codec: Codec | str | None) -> str:
    """The pgvector column type a vectro codec maps to: "vector", "halfvec" or "bit"."""
    if codec is None:
        return "vector"
    codec = make_codec(codec) if isinstance(codec, str) else codec
    name = getattr(codec, "quantiser", codec).name
    return {"float32": "vector", "binary": "bit"}.get(name, "halfvec")


def _encode_vector(kind: str, row: np.ndarray) -> bytes:
    if kind == "vector":
        return struct.pack(">HH", len(row), 0) + row.astype(">f4").tobytes()
    if kind == "halfvec":
        return struct.pack(">HH", len(row), 0) + row.astype(">f2").tobytes()
    return struct.pack(">i", len(row)) + sign_bits(row[None]).tobytes()


def _decode_vector(kind: str, raw: bytes, dim: int) -> np.ndarray:
    if kind == "vector":
        return np.frombuffer(raw, ">f4", dim, 4).astype(np.float32)
    if kind == "halfvec":
        return np.frombuffer(raw, ">f2", dim, 4).astype(np.float32)
    return sign_vectors(np.frombuffer(raw, np.uint8, offset=4)[None], dim)[0]


def _field(value: bytes) -> bytes:
    return struct.pack(">i", len(value)) + value


def copy_rows(kind: str, ids: np.ndarray, vectors: np.ndarray, payloads: list) -> bytes:
    """One binary COPY stream of (id, embedding, payload) rows."""
    parts = [COPY_HEADER]
    strings = ids.dtype == object
    for record_id, row, payload in zip(ids.tolist(), vectors, payloads):
        key = record_id.encode("utf-8") if strings else struct.pack(">q", record_id)
        parts.append(struct.pack(">h", 3) + _field(key) + _field(_encode_vector(kind, row)))
        parts.append(struct.pack(">i", -1) if payload is None else _field(b"\x01" + json.dumps(payload).encode("utf-8")))
    parts.append(struct.pack(">h", -1))
    return b"".join(parts)


class PgvectorAdapter(Adapter):
    """One table in a PostgreSQL database with the pgvector extension."""

    extra = EXTRA

    def __init__(self, target, collection: str, hnsw_m: int = 16, ef_construction: int = 64):
        self.psycopg = require("psycopg", EXTRA)
        if not NAME.match(collection or ""):
            raise VectroError(f"collection {collection!r} is not a plain SQL name (letters, digits, _; at most 63)")
        self.collection, self.hnsw = collection, (int(hnsw_m), int(ef_construction))
        self.owned = isinstance(target, str)
        self.conn = self.psycopg.connect(target) if self.owned else target
        self.sql = self.psycopg.sql
        self.table = self.sql.Identifier(collection)

    def _meta(self) -> dict:
        (comment,), = self.conn.execute("SELECT obj_description(%s::regclass, 'pg_class')", (self.collection,)).fetchall()
        try:
            return json.loads(comment)["vectro"]
        except (TypeError, ValueError, KeyError) as exc:
            raise VectroError(f"table {self.collection!r} was not written by vectro (no vectro comment)") from exc

    def exists(self) -> bool:
        return self.conn.execute("SELECT to_regclass(%s) IS NOT NULL", (self.collection,)).fetchone()[0]

    def create(self, records: Records) -> None:
        kind = column_for(records.codec)
        meta = {"vectro": {"codec": records.codec.spec if records.codec else "float32", "metric": records.metric,
                           "column": kind, "dim": records.dim, "id_kind": records.id_kind}}
        id_type = "text" if records.id_kind == "str" else "bigint"
        with self.conn.transaction():
            self.conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            self.conn.execute(self.sql.SQL("CREATE TABLE {} (id {} PRIMARY KEY, embedding {}({}) NOT NULL, payload jsonb)")
                              .format(self.table, self.sql.SQL(id_type), self.sql.SQL(kind), self.sql.Literal(records.dim)))
            self.conn.execute(self.sql.SQL("COMMENT ON TABLE {} IS {}").format(self.table, self.sql.Literal(json.dumps(meta))))

    def drop(self) -> None:
        with self.conn.transaction():
            self.conn.execute(self.sql.SQL("DROP TABLE {}").format(self.table))

    def count(self) -> int:
        return int(self.conn.execute(self.sql.SQL("SELECT count(*) FROM {}").format(self.table)).fetchone()[0])

    def missing(self, ids: np.ndarray) -> list:
        wanted = ids.tolist()
        rows = self.conn.execute(self.sql.SQL("SELECT id FROM {} WHERE id = ANY(%s)").format(self.table), (wanted,))
        found = {r[0] for r in rows.fetchall()}
        return [i for i in wanted if i not in found]

    def write(self, ids, vectors, payloads) -> None:
        kind = self._meta()["column"]
        stage = self.sql.Identifier(f"{self.collection}_stage")
        with self.conn.transaction():  # one batch = one transaction: committed whole or not at all
            self.conn.execute(self.sql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP").format(stage, self.table))
            with self.conn.cursor().copy(self.sql.SQL("COPY {} FROM STDIN WITH (FORMAT BINARY)").format(stage)) as copy:
                copy.write(copy_rows(kind, ids, vectors, payloads))
            self.conn.execute(self.sql.SQL(
                "INSERT INTO {} SELECT * FROM {} ON CONFLICT (id) DO UPDATE "
                "SET embedding = EXCLUDED.embedding, payload = EXCLUDED.payload").format(self.table, stage))

    def finish(self) -> None:
        meta = self._meta()
        ops = "bit_hamming_ops" if meta["column"] == "bit" else f"{meta['column']}_{OPERATORS[meta['metric']][0]}"
        with self.conn.transaction():
            self.conn.execute(self.sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (embedding {}) "
                                           "WITH (m = {}, ef_construction = {})").format(
                self.sql.Identifier(f"{self.collection}_hnsw"), self.table, self.sql.SQL(ops),
                self.sql.Literal(self.hnsw[0]), self.sql.Literal(self.hnsw[1])))

    def read(self, batch_size: int):
        meta = self._meta()
        last = None
        query = self.sql.SQL("SELECT id, embedding, payload FROM {} {} ORDER BY id LIMIT %s")
        while True:  # keyset pages: each is its own short query, nothing held open between batches
            where = self.sql.SQL("") if last is None else self.sql.SQL("WHERE id > %s")
            params = (batch_size,) if last is None else (last, batch_size)
            with self.conn.cursor(binary=True) as cur:
                rows = cur.execute(query.format(self.table, where), params).fetchall()
            if not rows:
                return
            ids = np.array([r[0] for r in rows], dtype=object if meta["id_kind"] == "str" else np.int64)
            vectors = np.stack([_decode_vector(meta["column"], bytes(r[1]), meta["dim"]) for r in rows])
            yield ids, vectors, [r[2] for r in rows]
            last = rows[-1][0]


    def search(self, queries: np.ndarray, k: int, oversampling: float = 4.0, ef: int | None = None) -> list:
        meta = self._meta()
        kind, dim, metric = meta["column"], meta["dim"], meta["metric"]
        depth = max(k, int(np.ceil(k * oversampling))) if kind == "bit" else k
        operator = "<~>" if kind == "bit" else OPERATORS[metric][1]
        query = self.sql.SQL("SELECT id, embedding, embedding {} %s::{} AS distance FROM {} ORDER BY distance LIMIT %s") \
            .format(self.sql.SQL(operator), self.sql.SQL(f"{kind}({dim})"), self.table)
        hits = []
        with self.conn.transaction():
            self.conn.execute(self.sql.SQL("SET LOCAL hnsw.ef_search = {}").format(self.sql.Literal(max(ef or 40, depth))))
            for q in queries:
                literal = "".join("1" if v > 0 else "0" for v in q) if kind == "bit" else "[" + ",".join(map(repr, q.tolist())) + "]"
                with self.conn.cursor(binary=True) as cur:
                    rows = cur.execute(query, (literal, depth)).fetchall()
                if kind == "bit":  # rescoring: the float query against each candidate's signs
                    bits = np.array([np.frombuffer(bytes(r[1]), np.uint8, offset=4) for r in rows], dtype=np.uint8)
                    hits.append(_common.rescore_signs(q, [r[0] for r in rows], bits, metric, k))
                else:
                    hits.append([(r[0], _score(metric, float(r[2]))) for r in rows])
        return hits

    def close(self) -> None:
        if self.owned:
            self.conn.close()


def _score(metric: str, distance: float) -> float:
    """pgvector distance -> vectro's higher-is-better score."""
    if metric == "cosine":
        return 1.0 - distance
    if metric == "ip":
        return -distance  # <#> is the negative inner product
    return -distance * distance


def connect(target, collection: str) -> PgvectorAdapter:
    """A `postgresql://...` URL (a libpq connection string) or an open psycopg Connection."""
    if isinstance(target, str) and not target.startswith(("postgresql://", "postgres://")):
        raise VectroError(f"not a PostgreSQL target: {target!r}; use postgresql://USER@HOST:PORT/DB")
    adapter = PgvectorAdapter(target, collection)
    adapter.conn.autocommit = True  # explicit transactions only: one per batch
    return adapter


def export(data, target, collection: str, *, ids=None, payloads=None, metric: str | None = None,
           batch_size: int = 5000, if_exists: str = "resume", progress=None) -> dict:
    """Bulk-load vectro data into a pgvector table (binary COPY, one transaction per batch), then build HNSW."""
    records = _common.as_records(data, ids, payloads, metric)
    return _common.run_export(connect(target, collection), records, batch_size, if_exists, progress)


def import_(source, collection: str, *, out: str = "index", codec=None, batch_size: int = 5000, progress=None):
    """Read a pgvector table back: a vectro.Index (ids and payloads kept) or a Compressed ordered by id."""
    return _common.run_import(connect(source, collection), out, codec, batch_size, progress)


def search(target, collection: str, queries, k: int = 10, *, oversampling: float = 4.0, ef: int | None = None):
    """Search through PostgreSQL (HNSW on the embedding column; bit columns rescored here).

    Returns (ids, scores), each (nq, k), higher score better."""
    return _common.run_search(connect(target, collection), queries, k, oversampling=oversampling, ef=ef)