"""Payload filters (the Mongo-style subset Pinecone and Chroma share) over a columnar payload index.

    {"genre": "drama", "year": {"$gte": 2000}, "$or": [{"tags": {"$contains": "x"}}, ...]}

Operators: $eq $ne $gt $gte $lt $lte $in $nin $exists $contains $and $or $not; a bare value means
$eq; dotted paths reach into nested objects. A missing field fails every operator except $ne,
$nin and {"$exists": false}. A list field matches $eq/$in when any element does (as in Mongo),
and $contains means "the list holds the value" or "the string holds the substring".

A query never reads payloads: `PayloadIndex` keeps, for every dotted path a filter has named,
value -> ids, so a selective filter costs the size of its answer (range operators visit the
distinct values).
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from typing import Callable, Iterable

from ..errors import VectroError

FIELD_OPS = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$contains", "$not"}
LOGIC_OPS = {"$and", "$or", "$not"}


class FilterError(VectroError):
    "A filter that cannot be applied; `path` says where in the filter (e.g. filter.$or[1].year)."

    def __init__(self, message: str, path: str):
        super().__init__(message)
        self.path = path


_TRUE, _FALSE, _NULL = ("b", True), ("b", False), ("z", None)  # shared: every record holding them meets here


def _key(value):
    """A hashable key under which equal JSON scalars meet (1 == 1.0, but True is not 1): a string is its
    own key and a number its float (no tuple per distinct value: unique strings such as titles are
    common, and each would cost one); true, false and null are three shared tuples."""
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return value
    if value is None:
        return _NULL
    return None  # objects are reached by their dotted paths, not compared whole


def _flatten(payload: dict, prefix: str = ""):
    """(dotted path, value) for every field, objects included; lists yield their scalar elements."""
    for name, value in payload.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict):
            yield path, None, True
            yield from _flatten(value, path + ".")
        elif isinstance(value, list):
            yield path, None, True
            for item in value:
                if _key(item) is not None:
                    yield path, item, False
        else:
            yield path, value, False


def _members(entry):
    """The ids under one value: a bucket holds a bare id until a second record shares the value, then a
    dict of ids to None (a dict as a set: a fifth of a set's size at 5,000 members)."""
    return () if entry is None else entry.keys() if type(entry) is dict else (entry,)


class PayloadIndex:
    """Per dotted path: value key -> ids (`values`), and which ids hold an object or a list there
    (`containers`); which ids hold a path at all ($exists) is the union of the two.

    The server keeps one per collection in RAM, so what a record costs here is counted:
    - only the paths in `paths` are indexed (None: every path). The server indexes a path from the
      first filter that names it (`unindexed`, `build`, `adopt`), so fields no filter uses, such
      as a chunk's text, stay on disk;
    - the set of every record comes from `live_ids` (the server's Index holds the ids already);
    - a value held by one record maps to that id itself (a bucket of ids only from the second holder
      on: unique values such as titles would otherwise cost one each), and buckets are dicts rather
      than sets;
    - a record's entries are not kept twice: whoever replaces or removes a record passes the payload
      it held (the server reads it from its database in the same transaction), and its entries are
      found again from that."""

    def __init__(self, live_ids: Callable[[], Iterable[str]], paths: Iterable[str] | None = None):
        self.containers: dict[str, dict] = defaultdict(dict)
        self.values: dict[str, dict] = defaultdict(dict)
        self.live_ids = live_ids
        self.paths = None if paths is None else {sys.intern(p) for p in paths}

    def _indexes(self, path: str) -> bool:
        return self.paths is None or path in self.paths

    def add(self, id_: str, payload: dict | None, old: dict | None = None) -> None:
        """Index one record's payload; `old` is the payload it held if it replaces a record (else None)."""
        if old:
            self.remove(id_, old)
        for path, value, container in _flatten(payload or {}):
            if self._indexes(path):
                self._put(sys.intern(path), value, container, id_)

    def _put(self, path: str, value, container: bool, id_: str) -> None:
        if container:
            self.containers[path][id_] = None
            return
        bucket, key = self.values[path], _key(value)
        held = bucket.get(key)
        if held is None:
            bucket[key] = id_
        elif type(held) is dict:
            held[id_] = None
        elif held != id_:
            bucket[key] = {held: None, id_: None}

    def remove(self, id_: str, payload: dict | None) -> None:
        """Drop one record's entries; `payload` is the payload it held (what add() was last given for it)."""
        for path, value, container in _flatten(payload or {}):
            if not self._indexes(path):
                continue
            if container:
                self.containers[path].pop(id_, None)
                continue
            bucket, key = self.values[path], _key(value)
            held = bucket.get(key)
            if type(held) is dict:
                held.pop(id_, None)
                if len(held) == 1:
                    bucket[key] = next(iter(held))
            elif held == id_:
                del bucket[key]

    def all_ids(self) -> set:
        return set(self.live_ids())

    # ----- which paths are indexed ----------------------------------------------------------
    def unindexed(self, flt) -> set[str]:
        """The paths `flt` names that are not indexed yet."""
        return set() if self.paths is None else filter_paths(flt) - self.paths

    def build(self, paths: Iterable[str], records: Iterable[tuple[str, dict | None]]) -> "PayloadIndex":
        """A new PayloadIndex of just `paths`, over (id, payload) of every record, for `adopt` to take in."""
        built = PayloadIndex(self.live_ids, paths)
        for id_, payload in records:
            built.add(id_, payload)
        return built

    def adopt(self, built: "PayloadIndex") -> None:
        """Take in the paths `built` indexed (made by `build` over the records held now)."""
        for path in built.paths:
            self.values[path] = built.values.pop(path, {})
            self.containers[path] = built.containers.pop(path, {})
        self.paths = self.paths | built.paths  # a new set: `unindexed` reads it without the collection's lock

    # ----- evaluation ---------------------------------------------------------------------
    def match(self, flt: dict) -> set:
        """The ids whose payload satisfies `flt` (validated as it goes; FilterError names the place)."""
        return self._match(flt, "filter")

    def _match(self, flt, where: str) -> set:
        if not isinstance(flt, dict):
            raise FilterError(f"a filter must be an object, got {type(flt).__name__}", where)
        result = None
        for name, cond in flt.items():
            here = f"{where}.{name}"
            if name in ("$and", "$or"):
                if not isinstance(cond, list) or not cond:
                    raise FilterError(f"{name} takes a non-empty list of filters", here)
                parts = [self._match(sub, f"{here}[{i}]") for i, sub in enumerate(cond)]
                part = set.intersection(*parts) if name == "$and" else set().union(*parts)
            elif name == "$not":
                part = self.all_ids() - self._match(cond, here)
            elif name.startswith("$"):
                raise FilterError(f"unknown operator {name!r}; use one of "
                                  f"{', '.join(sorted(FIELD_OPS | LOGIC_OPS))}", here)
            else:
                part = self._field(name, cond, here)
            result = part if result is None else result & part
        return self.all_ids() if result is None else result

    def _field(self, path: str, cond, where: str) -> set:
        if not (isinstance(cond, dict) and cond and all(k.startswith("$") for k in cond)):
            return self._op(path, "$eq", cond, where)  # a bare value (or a plain object) means $eq
        result = None
        for op, operand in cond.items():
            part = self._op(path, op, operand, f"{where}.{op}")
            result = part if result is None else result & part
        return result

    def _op(self, path: str, op: str, operand, where: str) -> set:
        if not self._indexes(path):  # the caller indexes what a filter names first (unindexed, build)
            raise RuntimeError(f"payload path {path!r} is not indexed")
        values = self.values.get(path, {})
        if op in ("$eq", "$ne"):
            key = _scalar_key(operand, op, where)
            hit = set(_members(values.get(key)))
            return hit if op == "$eq" else self.all_ids() - hit
        if op in ("$in", "$nin"):
            if not isinstance(operand, list):
                raise FilterError(f"{op} takes a list of values, got {type(operand).__name__}", where)
            hit = set().union(*(_members(values.get(_scalar_key(v, op, f"{where}[{i}]"))) for i, v in enumerate(operand)))
            return hit if op == "$in" else self.all_ids() - hit
        if op == "$not":  # {"year": {"$not": {"$gt": 5}}}: everything the inner condition rejects
            return self.all_ids() - self._field(path, operand, where)
        if op == "$exists":
            if not isinstance(operand, bool):
                raise FilterError("$exists takes true or false", where)
            present = set(self.containers.get(path, {})).union(*map(_members, values.values()))
            return present if operand else self.all_ids() - present
        if op in ("$gt", "$gte", "$lt", "$lte"):
            return self._range(values, op, operand, where)
        if op == "$contains":
            key = _scalar_key(operand, op, where)
            hit = set(_members(values.get(key)))  # list elements are indexed under the path
            if isinstance(operand, str):  # and strings holding it as a substring
                for value_key, held in values.items():
                    if type(value_key) is str and operand in value_key:
                        hit.update(_members(held))
            return hit
        raise FilterError(f"unknown operator {op!r}; use one of {', '.join(sorted(FIELD_OPS | LOGIC_OPS))}", where)

    def _range(self, values: dict, op: str, operand, where: str) -> set:
        if isinstance(operand, bool) or not isinstance(operand, (int, float, str)) or (
                isinstance(operand, float) and not math.isfinite(operand)):
            raise FilterError(f"{op} compares with a number or a string, got {operand!r}", where)
        bound = operand if isinstance(operand, str) else float(operand)
        kind = type(bound)  # strings compare with strings, numbers (float keys) with numbers
        compare = {"$gt": bound.__lt__, "$gte": bound.__le__, "$lt": bound.__gt__, "$lte": bound.__ge__}[op]
        hit = set()
        for key, held in values.items():  # distinct values, never payloads
            if type(key) is kind and compare(key):
                hit.update(_members(held))
        return hit


def _scalar_key(value, op: str, where: str):
    key = _key(value)
    if key is None:
        raise FilterError(f"{op} compares with a string, number, boolean or null, got {type(value).__name__}", where)
    return key


def filter_paths(flt) -> set[str]:
    """The payload paths a filter names (malformed parts are skipped here: `match` reports them)."""
    found = set()
    if isinstance(flt, dict):
        for name, cond in flt.items():
            if name in ("$and", "$or") and isinstance(cond, list):
                found = found.union(*map(filter_paths, cond))
            elif name == "$not":
                found |= filter_paths(cond)
            elif not name.startswith("$"):
                found.add(name)
    return found


def validate(flt) -> None:
    """Check a filter's operators and operands without any data (raises FilterError)."""
    PayloadIndex(live_ids=tuple).match(flt)
