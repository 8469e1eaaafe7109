"""`vectro.Client`: the Python client of `vectro serve`, standard library only.

    client = vectro.Client("http://127.0.0.1:6390", api_key=None)
    client.create_collection("docs", dimension=384, codec="int8", get_or_create=True)
    client.upsert("docs", X, ids=ids, payloads=[{"lang": "en"}, ...])  # numpy (n, d), sent in batches
    result = client.search("docs", Q, k=10, filter={"lang": "en"})      # Q (d,) or (nq, d)
    result.ids, result.scores                                           # numpy, (k,) or (nq, k)

Every failure (an error answer, or no answer) raises `ClientError`, with the server's code,
message and path. A Client may be shared by threads: each thread gets its own keep-alive connection.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import weakref
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import numpy as np

from .errors import VectroError


class ClientError(VectroError):
    "The server refused a request (status, code, path say why) or could not be reached (status None)."

    def __init__(self, message: str, status: int | None = None, code: str | None = None, path: str | None = None):
        super().__init__(f"{status} {code}: {message}" + (f" (at {path})" if path else "") if status else message)
        self.status, self.code, self.message, self.path = status, code, message, path


@dataclass
class SearchResult:
    """ids: object (k,) or (nq, k), None where fewer hits; scores: float32, -inf there; payloads alike."""

    ids: np.ndarray
    scores: np.ndarray
    payloads: list
    hits: list  # the raw answer: a list of {id, score, payload} (a list of lists for a batch)

    def __iter__(self):
        return iter((self.ids, self.scores))


class Client:
    """A client of one vectro server; mirrors the REST API (see the module docstring)."""

    def __init__(self, url: str = "http://127.0.0.1:6390", api_key: str | None = None, timeout: float = 60.0):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise VectroError(f"url must look like http://host:port, got {url!r}")
        self.url, self.timeout = url.rstrip("/"), timeout
        self._conn_args = (parts.scheme, parts.hostname, parts.port)
        self._prefix = parts.path.rstrip("/")
        self._headers = {"content-type": "application/json"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._no_connections()

    def _no_connections(self) -> None:
        self._local = threading.local()  # this thread's connection: http.client's is not thread-safe
        # every live thread's, for close(); weak, so a finished thread's connection is freed with it
        self._open: weakref.WeakSet = weakref.WeakSet()
        self._open_lock = threading.Lock()

    def __getstate__(self) -> dict:  # pickled (e.g. sent to a worker process) without its connections
        return {k: v for k, v in self.__dict__.items() if k not in ("_local", "_open", "_open_lock")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._no_connections()

    # ----- transport ---------------------------------------------------------------------------
    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            scheme, host, port = self._conn_args
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            conn = self._local.conn = cls(host, port, timeout=self.timeout)
            with self._open_lock:
                self._open.add(conn)
        return conn

    def _drop(self, conn) -> None:
        """Close this thread's connection (the next request opens a new one)."""
        conn.close()
        self._local.conn = None
        with self._open_lock:
            self._open.discard(conn)

    def request(self, method: str, path: str, body=None):
        """One request; the parsed JSON answer (or text), or ClientError."""
        data = None if body is None else json.dumps(body).encode()
        for attempt in (0, 1):  # a kept-alive connection the server closed: reconnect once
            conn = self._connection()
            try:
                conn.request(method, self._prefix + path, body=data, headers=self._headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, BrokenPipeError, ConnectionResetError) as exc:
                self._drop(conn)
                if attempt:
                    raise ClientError(f"no answer from {self.url}: {exc}") from None
            except OSError as exc:  # refused, unreachable, timed out
                self._drop(conn)
                raise ClientError(f"cannot reach {self.url}: {exc}") from None
        is_json = resp.getheader("content-type", "").startswith("application/json")
        answer = json.loads(raw) if is_json and raw else raw.decode()
        if resp.status >= 400:
            err = answer.get("error", {}) if isinstance(answer, dict) else {}
            raise ClientError(err.get("message", str(answer)), resp.status, err.get("code"), err.get("path"))
        return answer

    def close(self) -> None:
        """Close every thread's connection; the Client stays usable (requests reconnect)."""
        with self._open_lock:
            conns = list(self._open)
            self._open.clear()
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ----- server and collections ---------------------------------------------------------------
    def health(self) -> dict:
        return self.request("GET", "/health")

    def metrics(self) -> str:
        return self.request("GET", "/metrics")

    def create_collection(self, name: str, dimension: int, metric: str = "cosine", codec: str = "int8",
                          get_or_create: bool = False, **options) -> dict:
        """Options: rescore, ann, keep_originals (True, False, 'float32', 'float16'), fit_rows, oversampling, model."""
        body = {"name": name, "dimension": int(dimension), "metric": metric, "codec": codec,
                "get_or_create": get_or_create, **options}
        return self.request("POST", "/collections", body)

    def list_collections(self) -> list[dict]:
        return self.request("GET", "/collections")["collections"]

    def get_collection(self, name: str) -> dict:
        return self.request("GET", f"/collections/{_q(name)}")

    def delete_collection(self, name: str) -> None:
        self.request("DELETE", f"/collections/{_q(name)}")

    def optimize(self, name: str) -> dict:
        return self.request("POST", f"/collections/{_q(name)}/optimize")

    def snapshot(self, name: str) -> dict:
        return self.request("POST", f"/collections/{_q(name)}/snapshots")

    # ----- records ---------------------------------------------------------------------------
    def upsert(self, name: str, vectors, ids=None, payloads=None, batch_size: int = 500,
               progress: bool | None = None) -> int:
        """Send vectors float (n, d) with ids (n,) (default "0".."n-1") and payloads in batches; returns n.

        Each batch is one transaction on the server; a failure raises after the batches before it landed.
        progress: a Rich progress bar (default: when stderr is a terminal)."""
        X = np.asarray(vectors, dtype=np.float32)
        if X.ndim != 2:
            raise VectroError(f"vectors must be a 2-D (n, d) array, got shape {X.shape}")
        n = len(X)
        ids = [str(i) for i in (range(n) if ids is None else ids)]
        if len(ids) != n or (payloads is not None and len(payloads) != n):
            raise VectroError(f"{n} vectors need {n} ids and payloads, got {len(ids)} ids"
                              + ("" if payloads is None else f" and {len(payloads)} payloads"))
        done = 0
        with _progress(progress, f"upserting into {name}", n) as advance:
            for start in range(0, n, batch_size):
                stop = min(start + batch_size, n)
                records = [{"id": ids[i], "vector": X[i].tolist()} for i in range(start, stop)]
                if payloads is not None:
                    for record, payload in zip(records, payloads[start:stop]):
                        record["payload"] = payload
                done += self.request("PUT", f"/collections/{_q(name)}/records", {"records": records})["upserted"]
                advance(stop - start)
        return done

    def get(self, name: str, ids, with_vector: bool = False, with_payload: bool = True) -> list[dict]:
        """Records for ids (unknown ids left out); vectors as float32 arrays."""
        body = {"ids": [str(i) for i in ids], "with_vector": with_vector, "with_payload": with_payload}
        return [_vector_array(r) for r in self.request("POST", f"/collections/{_q(name)}/records/get", body)["records"]]

    def get_record(self, name: str, id) -> dict:
        return _vector_array(self.request("GET", f"/collections/{_q(name)}/records/{_q(str(id))}"))

    def delete(self, name: str, ids=None, filter: dict | None = None) -> int:
        body = {"filter": filter} if ids is None else {"ids": [str(i) for i in ids]}
        return self.request("POST", f"/collections/{_q(name)}/records/delete", body)["deleted"]

    def count(self, name: str, filter: dict | None = None) -> int:
        return self.request("POST", f"/collections/{_q(name)}/records/count", {"filter": filter})["count"]

    def scroll(self, name: str, filter: dict | None = None, limit: int = 500, with_vector: bool = False):
        """Every matching record in id order, page by page."""
        cursor = None
        while True:
            body = {"filter": filter, "limit": limit, "with_vector": with_vector, "cursor": cursor}
            page = self.request("POST", f"/collections/{_q(name)}/records/scroll", body)
            yield from (_vector_array(r) for r in page["records"])
            cursor = page["next_cursor"]
            if cursor is None:
                return

    # ----- search ----------------------------------------------------------------------------
    def search(self, name: str, queries, k: int = 10, filter: dict | None = None, **options) -> SearchResult:
        """Top-k for one query (d,) or a batch (nq, d). Options: with_payload, with_vector, score_threshold,
        offset, oversampling, rescore, exact."""
        Q = np.asarray(queries, dtype=np.float32)
        single = Q.ndim == 1
        body = {"k": int(k), "filter": filter, **options}
        body["vector" if single else "vectors"] = Q.tolist()
        hits = self.request("POST", f"/collections/{_q(name)}/search", body)["results"]
        rows = [hits] if single else hits
        ids = np.full((len(rows), k), None, dtype=object)
        scores = np.full((len(rows), k), -np.inf, dtype=np.float32)
        payloads = []
        for r, row in enumerate(rows):
            ids[r, : len(row)] = [h["id"] for h in row]
            scores[r, : len(row)] = [h["score"] for h in row]
            payloads.append([h.get("payload") for h in row])
        if single:
            return SearchResult(ids[0], scores[0], payloads[0], hits)
        return SearchResult(ids, scores, payloads, hits)


def _q(part: str) -> str:
    return quote(part, safe="")


def _vector_array(record: dict) -> dict:
    if "vector" in record:
        record["vector"] = np.asarray(record["vector"], dtype=np.float32)
    return record


class _progress:
    """A Rich progress bar on a terminal (or when asked); a no-op callback otherwise."""

    def __init__(self, wanted: bool | None, description: str, total: int):
        self.show = sys.stderr.isatty() if wanted is None else wanted
        self.description, self.total = description, total

    def __enter__(self):
        if not self.show:
            return lambda n: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.bar = Progress(self.description, BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True)
        self.bar.start()
        task = self.bar.add_task(self.description, total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc):
        if self.show:
            self.bar.stop()
