"""Growable row storage and the id <-> row mapping behind `vectro.Index`."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from ..errors import VectroError


class RowStore:
    """A 2-D array that grows by appending rows (capacity doubles, so appends are amortised O(rows)).

    It may start as a read-only memory map (a loaded index): the first write copies it. With
    `spill`, storage is a memory-mapped temporary file rather than RAM (float32 re-rank vectors).
    """

    def __init__(self, spill: bool = False):
        self._data: np.ndarray | None = None
        self.rows = 0
        self.spill = spill

    @classmethod
    def wrap(cls, array, spill: bool = False) -> "RowStore":
        """A store over an array, or over rows fetched on demand (`format.remote.LazyRows`)."""
        store = cls(spill)
        if hasattr(array, "fetch"):
            store._lazy, array = array, array.cache
        store._data, store.rows = array, len(array)
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
        return self._data[: self.rows] if self._data is not None else np.zeros((0, 0), dtype=np.uint8)

    def _allocate(self, rows: int, width: int, dtype) -> np.ndarray:
        if not self.spill:
            return np.empty((rows, width), dtype=dtype)
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
        self._data, self.rows = None, 0
        if len(kept):
            self._data = self._allocate(len(kept), kept.shape[1], kept.dtype)  # exact size: space reclaimed
            self._data[: len(kept)] = kept
            self.rows = len(kept)

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
        self._row_ids = RowStore()
        self._alive = RowStore()
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
                self._alive.view()[replaced] = 0
                self.dead += len(replaced)
        if self.kind is None:
            self.kind = kind
            self._row_ids = RowStore()
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

    def _key(self, item):
        if isinstance(item, (np.integer, int)) and not isinstance(item, bool):
            return int(item)
        return item

    def _keys(self, ids) -> list:
        """Dictionary keys for one id or a sequence of ids (numpy ints become Python ints)."""
        return [self._key(i) for i in np.atleast_1d(np.asarray(ids, dtype=object)).tolist()]

    def contains(self, item) -> bool:
        return self._key(item) in self._ensure_lookup()

    def rows_of(self, ids) -> np.ndarray:
        lookup = self._ensure_lookup()
        keys = self._keys(ids)
        missing = [k for k in keys if k not in lookup]
        if missing:
            raise VectroError(f"unknown id {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        return np.array([lookup[k] for k in keys], dtype=np.int64)

    def remove(self, ids) -> int:
        rows = self.rows_of(ids)  # raises before changing anything if any id is unknown
        lookup = self._ensure_lookup()
        for key in self._keys(ids):
            lookup.pop(key, None)
        rows = np.unique(rows)
        self._alive.view()[rows] = 0
        self.dead += len(rows)
        return len(rows)

    # ----- rows out ---------------------------------------------------------------------------
    def live_rows(self) -> np.ndarray:
        return np.flatnonzero(self.alive)

    def allowed_rows(self, filter, n_rows: int) -> np.ndarray | None:
        """Boolean (n_rows,) of rows a search may return (live, allowed by the filter); None: all rows."""
        if filter is None:
            return None if self.dead == 0 else self.alive.copy()
        flt = np.asarray(filter)
        if flt.dtype == bool:
            if flt.shape != (self.live_count,):
                raise VectroError(
                    f"a boolean filter needs one entry per vector in the index ({self.live_count}), got {flt.shape}"
                )
            allowed = np.zeros(n_rows, dtype=bool)
            allowed[self.live_rows()[flt]] = True
            return allowed
        lookup = self._ensure_lookup()
        rows = [lookup[k] for k in self._keys(flt) if k in lookup]
        allowed = np.zeros(n_rows, dtype=bool)
        allowed[rows] = True
        return allowed

    def ids_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """User ids for a (nq, k) array of rows; -1 rows give -1 (int ids) or None (string ids)."""
        row_ids = self._row_ids.view()[:, 0] if self.rows else np.zeros(0, dtype=np.int64)
        safe = np.where(rows >= 0, rows, 0)
        if self.kind == "str":
            out = row_ids[safe] if len(row_ids) else np.full(rows.shape, None, dtype=object)
            out = np.asarray(out, dtype=object)
            out[rows < 0] = None
            return out
        out = row_ids[safe].astype(np.int64) if len(row_ids) else np.full(rows.shape, -1, dtype=np.int64)
        out[rows < 0] = -1
        return out

    def renumber(self, live: np.ndarray) -> None:
        """After compaction: row i is the i-th live row."""
        self._row_ids.keep(live)
        self._alive = RowStore()
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
