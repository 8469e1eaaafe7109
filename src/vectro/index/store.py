"""Growable row storage and the id <-> row mapping behind `vectro.Index`."""

from __future__ import annotations

import itertools
import json
import mmap
import os
import tempfile

import numpy as np

from ..errors import FormatError, VectroError


# RAM buffers from this size up are anonymous mappings of their own (see ram_array)
MAPPED_BYTES = 1 << 20


def ram_array(rows: int, width: int, dtype) -> np.ndarray:
    """An uninitialised (rows, width) array; from MAPPED_BYTES up, in a private anonymous mapping of its own.

    A store that grows drops its old buffer: a mapping goes back to the OS once the last view of it goes,
    where malloc keeps a freed block of up to 32 MiB in its heap, resident (a server's RSS after loading,
    benchmarks/service.py, counted those blocks)."""
    dtype = np.dtype(dtype)
    nbytes = rows * width * dtype.itemsize
    if nbytes < MAPPED_BYTES or dtype.hasobject or not hasattr(mmap, "MAP_PRIVATE"):  # Windows has no MAP_PRIVATE
        return np.empty((rows, width), dtype=dtype)
    buffer = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(buffer, dtype=dtype).reshape(rows, width)


class RowStore:
    """A 2-D array that grows by appending rows (capacity doubles, so appends are amortised O(rows)).

    It may start as a read-only memory map (a loaded index): the first write copies it. With
    `spill`, storage is a memory-mapped temporary file rather than RAM (float32 re-rank vectors).

    Readers may hold a `view()` while a writer appends: an append only writes rows beyond every
    earlier view (or into a new, larger buffer), and `set_rows`/`keep` build new buffers, so a
    view taken once never changes (what `Index` snapshots rely on).
    """

    def __init__(self, spill: bool = False, width: int = 0, dtype=np.uint8):
        self._data: np.ndarray | None = None
        self.rows = 0
        self.spill = spill
        self._empty = np.zeros((0, width), dtype=dtype)  # the view of an empty store keeps its row shape

    @classmethod
    def wrap(cls, array, spill: bool = False) -> "RowStore":
        """A store over an array, or over rows fetched on demand (`format.remote.LazyRows`)."""
        store = cls(spill, *array.shape[1:2], array.dtype)
        rows = len(array)
        if hasattr(array, "fetch"):
            store._lazy, array = array, array.cache
        store._data, store.rows = array, rows
        return store

    _lazy = None  # remote rows not all fetched yet: `prefetch` before reading them

    def prefetch(self, rows: np.ndarray) -> None:
        """Make sure `rows` are present (a no-op unless the rows come from a remote file)."""
        if self._lazy is not None:
            self._lazy.fetch(rows)

    def _fetch_all(self) -> None:
        if self._lazy is not None:
            self._lazy.fetch(np.arange(self.rows))
            self._lazy = None

    def view(self) -> np.ndarray:
        return self._data[: self.rows] if self._data is not None else self._empty

    def set_rows(self, rows, value) -> None:
        """Set `rows` to `value` in a new copy of the buffer (copy-on-write: earlier views keep their values)."""
        self._fetch_all()
        data = np.array(self._data)
        data[rows] = value
        self._data = data

    def _allocate(self, rows: int, width: int, dtype) -> np.ndarray:
        if not self.spill:
            return ram_array(rows, width, dtype)
        fd, name = tempfile.mkstemp(prefix="vectro-rows-", suffix=".bin")
        os.close(fd)
        try:
            return np.memmap(name, dtype=dtype, mode="w+", shape=(max(rows, 1), width))
        finally:
            os.unlink(name)  # the mapping keeps the data; the file vanishes with the process

    def append(self, block: np.ndarray) -> None:
        self._fetch_all()
        block = np.asarray(block)
        if self._data is None:
            self._data = self._allocate(max(len(block), 1024), block.shape[1], block.dtype)
        if block.shape[1:] != self._data.shape[1:]:
            raise VectroError(f"row width {block.shape[1:]} does not match the store's {self._data.shape[1:]}")
        if not len(block):
            return
        writable = not (isinstance(self._data, np.memmap) and self._data.mode == "r")
        if self.rows + len(block) > len(self._data) or not writable:
            grown = self._allocate(max(2 * len(self._data), self.rows + len(block)), block.shape[1], block.dtype)
            grown[: self.rows] = self._data[: self.rows]
            self._data = grown
        self._data[self.rows : self.rows + len(block)] = block
        self.rows += len(block)

    def keep(self, rows: np.ndarray) -> None:
        """Keep only `rows`, in that order (compaction)."""
        self._fetch_all()
        kept = np.asarray(self.view()[rows])
        data = None
        if len(kept):
            data = self._allocate(len(kept), kept.shape[1], kept.dtype)  # exact size: space reclaimed
            data[: len(kept)] = kept
        self._data, self.rows = data, len(kept)

    @property
    def ram_bytes(self) -> int:
        return 0 if self._data is None or isinstance(self._data, np.memmap) else int(self._data.nbytes)

    @property
    def mapped_bytes(self) -> int:
        return int(self._data.nbytes) if isinstance(self._data, np.memmap) else 0


class IdMap:
    """User ids (all ints or all strings) <-> internal rows, with tombstones for removed rows.

    The id -> row dictionary is built only when a lookup needs it: an index filled with default
    consecutive ids and searched never pays for it.
    """

    def __init__(self):
        self.kind: str | None = None  # "int" or "str"
        self._row_ids = RowStore(width=1, dtype=np.int64)
        self._alive = RowStore(width=1)
        self._lookup: dict | None = None
        self._next_int = 0
        self.dead = 0  # tombstoned rows

    # ----- size ----------------------------------------------------------------------------
    @property
    def rows(self) -> int:
        return self._alive.rows

    @property
    def live_count(self) -> int:
        return self.rows - self.dead

    @property
    def alive(self) -> np.ndarray:
        """Boolean view (no copy) of which rows are live."""
        return self._alive.view()[:, 0].view(bool) if self.rows else np.zeros(0, dtype=bool)

    @property
    def nbytes(self) -> int:
        lookup = 0 if self._lookup is None else 100 * len(self._lookup)  # CPython dict entry + keys, roughly
        return self._row_ids.ram_bytes + self._alive.ram_bytes + lookup

    # ----- ids in ---------------------------------------------------------------------------
    def normalise(self, ids, n: int) -> np.ndarray:
        """Validate user ids for n new vectors; None -> consecutive ints after the largest int id."""
        if ids is None:
            if self.kind == "str":
                raise VectroError("this index uses string ids: pass ids= to add()")
            return np.arange(self._next_int, self._next_int + n, dtype=np.int64)
        ids = np.asarray(ids)
        if ids.ndim != 1 or len(ids) != n:
            raise VectroError(f"ids must be a 1-D sequence of {n} ids (one per vector), got shape {ids.shape}")
        if np.issubdtype(ids.dtype, np.integer):
            kind, ids = "int", ids.astype(np.int64)
            if (ids < 0).any():
                raise VectroError(f"ids must be non-negative integers; got {int(ids.min())}")
        elif ids.dtype.kind == "U" or (ids.dtype == object and all(isinstance(i, str) for i in ids)):
            kind, ids = "str", ids.astype(object)
        else:
            raise VectroError(f"ids must be all integers or all strings, got {ids.dtype}")
        if self.kind not in (None, kind):
            raise VectroError(f"this index uses {self.kind} ids; got {kind} ids")
        unique, counts = np.unique(ids.astype(str) if kind == "str" else ids, return_counts=True)
        if (counts > 1).any():
            raise VectroError(f"id {unique[counts > 1][0]!r} appears more than once in one add()")
        return ids

    def assign(self, ids: np.ndarray, rows: np.ndarray) -> None:
        """Map new rows to ids; an id already present is replaced (its old row becomes a tombstone)."""
        kind = "str" if ids.dtype == object else "int"
        fresh = kind == "int" and self._lookup is None and len(ids) and ids.min() >= self._next_int
        if not fresh:
            lookup = self._ensure_lookup()
            replaced = [lookup[i] for i in ids.tolist() if i in lookup]
            if replaced:
                self._alive.set_rows(replaced, 0)
                self.dead += len(replaced)
        if self.kind is None:
            self.kind = kind
            self._row_ids = RowStore(width=1, dtype=object if kind == "str" else np.int64)
        self._row_ids.append(ids.reshape(-1, 1))
        self._alive.append(np.ones((len(ids), 1), dtype=np.uint8))
        if self._lookup is not None:
            self._lookup.update(zip(ids.tolist(), rows.tolist()))
        if kind == "int" and len(ids):
            self._next_int = max(self._next_int, int(ids.max()) + 1)

    def _ensure_lookup(self) -> dict:
        if self._lookup is None:
            live = self.live_rows()
            ids = self._row_ids.view()[live, 0].tolist() if self.rows else []
            self._lookup = dict(zip(ids, live.tolist()))
        return self._lookup

    def contains(self, item) -> bool:
        return _key(item) in self._ensure_lookup()

    def rows_of(self, ids) -> np.ndarray:
        return self.view(lookup=True).rows_of(ids)

    def remove(self, ids) -> int:
        rows = self.rows_of(ids)  # raises before changing anything if any id is unknown
        lookup = self._ensure_lookup()
        for key in _keys(ids):
            lookup.pop(key, None)
        rows = np.unique(rows)
        self._alive.set_rows(rows, 0)
        self.dead += len(rows)
        return len(rows)

    def live_rows(self) -> np.ndarray:
        return np.flatnonzero(self.alive)

    def view(self, lookup: bool = False) -> "IdView":
        """The ids as they are now, for one reader: later writes never change it (see RowStore)."""
        return IdView(self.kind, self._row_ids.view()[:, 0], None if self.dead == 0 else self.alive,
                      self.live_count, self._ensure_lookup() if lookup else self._lookup)

    def renumber(self, live: np.ndarray) -> None:
        """After compaction: row i is the i-th live row."""
        self._row_ids.keep(live)
        self._alive = RowStore(width=1)
        if len(live):
            self._alive.append(np.ones((len(live), 1), dtype=np.uint8))
        self._lookup = None
        self.dead = 0

    # ----- persistence --------------------------------------------------------------------------
    def to_arrays(self) -> dict:
        arrays = {"alive": np.asarray(self._alive.view()).reshape(-1).astype(np.uint8)}
        row_ids = self._row_ids.view()[:, 0] if self.rows else np.zeros(0, dtype=np.int64)
        if self.kind == "str":
            encoded = [s.encode("utf-8") for s in row_ids.tolist()]
            arrays["ids_offsets"] = np.cumsum([0] + [len(b) for b in encoded], dtype=np.int64)
            arrays["ids_utf8"] = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        else:
            arrays["ids_int"] = np.asarray(row_ids, dtype=np.int64)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict) -> "IdMap":
        idmap = cls()
        alive = np.asarray(arrays["alive"], dtype=np.uint8).reshape(-1, 1)
        if "ids_utf8" in arrays:
            raw, offsets = bytes(np.asarray(arrays["ids_utf8"])), np.asarray(arrays["ids_offsets"])
            ids = np.array([raw[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:])], dtype=object)
            idmap.kind = "str"
        else:
            ids = np.asarray(arrays["ids_int"], dtype=np.int64)
            idmap.kind = "int" if len(ids) else None
            idmap._next_int = int(ids.max()) + 1 if len(ids) else 0
        if len(ids) != len(alive):
            raise VectroError(f"index file holds {len(ids)} ids for {len(alive)} rows")
        if len(ids):
            idmap._row_ids.append(ids.reshape(-1, 1))
            idmap._alive.append(alive)
        idmap.dead = int(len(alive) - alive.sum())
        return idmap


def _key(item):
    """Dictionary key of one id: numpy ints become Python ints."""
    if isinstance(item, (np.integer, int)) and not isinstance(item, bool):
        return int(item)
    return item


def _keys(ids) -> list:
    """Dictionary keys for one id or a sequence of ids."""
    if isinstance(ids, (list, tuple)) and set(map(type, ids)) == {str}:  # the service's filters: as they are
        return list(ids)
    return [_key(i) for i in np.atleast_1d(np.asarray(ids, dtype=object)).tolist()]


def as_mask(filter) -> np.ndarray | None:
    """A search filter that is a boolean mask (an array or a list of booleans) as a bool array; None
    when it is ids. A list is converted only when its first entry is a boolean: making a NumPy array
    of 5,000 string ids costs about as much as scoring 5,000 int8 rows."""
    if isinstance(filter, (set, frozenset)):
        return None
    if isinstance(filter, (list, tuple)) and not (filter and isinstance(filter[0], (bool, np.bool_))):
        return None
    mask = np.asarray(filter)
    return mask if mask.dtype == bool else None


class IdView:
    """Ids, tombstones and the id -> row lookup as one search sees them (an immutable snapshot).

    row_ids (rows,) and alive (rows,) bool or None (every row live) never change once taken. The
    lookup dictionary is shared with the writer, so a row it gives is used only when it lies in
    this view, is live here and holds the same id: ids removed or replaced after the view was
    taken read as absent.
    """

    def __init__(self, kind, row_ids: np.ndarray, alive: np.ndarray | None, live_count: int, lookup: dict | None):
        self.kind, self.row_ids, self.alive, self.live_count, self.lookup = kind, row_ids, alive, live_count, lookup

    @property
    def rows(self) -> int:
        return len(self.row_ids)

    def live_rows(self) -> np.ndarray:
        return np.arange(self.rows) if self.alive is None else np.flatnonzero(self.alive)

    def live_mask(self, ids) -> np.ndarray:
        """Boolean (live_count,) in live-row order: True for the rows of those `ids` this view holds."""
        allowed = self.allowed_rows(ids)
        return allowed if self.alive is None else allowed[self.alive]

    def _row(self, key) -> int | None:
        row = self.lookup.get(key)
        if row is None or row >= self.rows or (self.alive is not None and not self.alive[row]):
            return None
        return row if self.row_ids[row] == key else None

    def rows_of(self, ids) -> np.ndarray:
        keys = _keys(ids)
        rows = [self._row(k) for k in keys]
        missing = [k for k, r in zip(keys, rows) if r is None]
        if missing:
            raise VectroError(f"unknown id {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        return np.array(rows, dtype=np.int64)

    def contains(self, item) -> bool:
        return self._row(_key(item)) is not None

    def allowed_rows(self, filter) -> np.ndarray | None:
        """Boolean (rows,) of rows a search may return (live, allowed by the filter); None: all rows."""
        if filter is None:
            return None if self.alive is None else self.alive.copy()
        allowed = np.zeros(self.rows, dtype=bool)
        mask = as_mask(filter)
        if mask is not None:
            if mask.shape != (self.live_count,):
                raise VectroError(
                    f"a boolean filter needs one entry per vector in the index ({self.live_count}), got {mask.shape}"
                )
            if self.alive is None:
                return mask.copy()
            allowed[self.alive] = mask  # the live rows in order: no row numbers made
            return allowed
        allowed[self._present_rows(_keys(list(filter) if isinstance(filter, (set, frozenset)) else filter))] = True
        return allowed

    def _present_rows(self, keys: list) -> np.ndarray:
        """The rows of those keys that this view holds, live (what _row checks, one array step at a time)."""
        found = np.fromiter(map(self.lookup.get, keys, itertools.repeat(-1)), dtype=np.int64, count=len(keys))
        held = (found >= 0) & (found < self.rows)
        if self.alive is not None:
            held[held] = self.alive[found[held]]
        rows = found[held]
        same = self.row_ids[rows] == np.array(keys, dtype=object)[held]  # not replaced since the view was taken
        return rows[same.astype(bool)]

    def ids_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """User ids for a (nq, k) array of rows; -1 rows give -1 (int ids) or None (string ids)."""
        missing = rows.size and rows.min() < 0
        safe = np.where(rows >= 0, rows, 0) if missing else rows
        if self.kind == "str":
            out = np.asarray(self.row_ids[safe], dtype=object) if self.rows else np.full(rows.shape, None, dtype=object)
            if missing:
                out[rows < 0] = None
            return out
        out = self.row_ids[safe].astype(np.int64, copy=False) if self.rows else np.full(rows.shape, -1, dtype=np.int64)
        if missing:
            out[rows < 0] = -1
        return out


class PayloadStore:
    """JSON payloads by row: a dict holding only the rows that have one (most indexes have none)."""

    def __init__(self):
        self.by_row: dict[int, object] = {}  # appends add rows in place; compaction replaces the dict

    @staticmethod
    def check(payloads, n: int) -> list | None:
        """None, or a list of n JSON-serialisable values; a bad value is named by its position."""
        if payloads is None:
            return None
        payloads = list(payloads)
        if len(payloads) != n:
            raise VectroError(f"payloads must hold one entry per vector ({n}), got {len(payloads)}")
        for i, payload in enumerate(payloads):
            try:
                json.dumps(payload)
            except (TypeError, ValueError) as exc:
                raise VectroError(f"payload {i} cannot be stored as JSON: {exc}") from exc
        return payloads

    def append(self, payloads: list | None, first_row: int) -> None:
        if payloads is not None:
            self.by_row.update((first_row + i, p) for i, p in enumerate(payloads) if p is not None)

    def keep(self, rows: np.ndarray) -> None:
        """After compaction: row i holds what row rows[i] held."""
        self.by_row = {i: self.by_row[int(r)] for i, r in enumerate(rows) if int(r) in self.by_row}

    def to_arrays(self) -> dict:
        if not self.by_row:
            return {}
        rows = np.array(sorted(self.by_row), dtype=np.int64)
        encoded = [json.dumps(self.by_row[int(r)]).encode("utf-8") for r in rows]
        return {"payload_rows": rows, "payload_offsets": np.cumsum([0] + [len(b) for b in encoded], dtype=np.int64),
                "payload_utf8": np.frombuffer(b"".join(encoded), dtype=np.uint8)}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "PayloadStore":
        store = cls()
        if "payload_rows" in arrays:
            raw, offsets = bytes(np.asarray(arrays["payload_utf8"])), np.asarray(arrays["payload_offsets"])
            try:
                store.by_row = {int(r): json.loads(raw[a:b]) for r, a, b in
                                zip(np.asarray(arrays["payload_rows"]), offsets[:-1], offsets[1:])}
            except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                raise FormatError(f"index payloads are not valid JSON: {exc}") from exc
        return store
