"""Filters: every operator against an independent reference evaluator over real-ish payloads."""

import numpy as np
import pytest

from vectro.server.filters import FilterError, PayloadIndex, filter_paths

from .conftest import payload_of

MISSING = object()


def get(payload, path):
    value = payload
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


def eq(value, x):
    if isinstance(value, list):
        return any(same(v, x) for v in value)
    return value is not MISSING and same(value, x)


def cmp(value, op, x):
    if value is MISSING or isinstance(value, (bool, list, dict)) or value is None:
        return False
    if isinstance(x, str) != isinstance(value, str):
        return False
    return {"$gt": value > x, "$gte": value >= x, "$lt": value < x, "$lte": value <= x}[op]


def ref(payload, flt):
    """A straightforward reading of the filter language, one payload at a time."""
    ok = True
    for key, cond in flt.items():
        if key == "$and":
            ok &= all(ref(payload, f) for f in cond)
        elif key == "$or":
            ok &= any(ref(payload, f) for f in cond)
        elif key == "$not":
            ok &= not ref(payload, cond)
        else:
            ok &= field(get(payload, key), cond)
    return ok


def field(value, cond):
    if not (isinstance(cond, dict) and cond and all(k.startswith("$") for k in cond)):
        return eq(value, cond)
    ok = True
    for op, x in cond.items():
        if op == "$eq":
            ok &= eq(value, x)
        elif op == "$ne":
            ok &= not eq(value, x)
        elif op == "$in":
            ok &= any(eq(value, v) for v in x)
        elif op == "$nin":
            ok &= not any(eq(value, v) for v in x)
        elif op == "$exists":
            ok &= (value is not MISSING) == x
        elif op == "$contains":
            ok &= (isinstance(value, list) and any(same(v, x) for v in value)) or (
                isinstance(value, str) and isinstance(x, str) and x in value)
        elif op == "$not":
            ok &= not field(value, x)
        else:
            ok &= cmp(value, op, x)
    return ok


FILTERS = [
    {"group": 3},
    {"group": {"$eq": 3.0}},
    {"group": {"$ne": 3}},
    {"score": {"$ne": 1.0}},
    {"score": {"$gt": 20}},
    {"score": {"$gte": 20, "$lt": 40}},
    {"score": {"$lte": 3}},
    {"name": {"$gt": "doc-5"}},
    {"group": {"$in": [1, 2, 99]}},
    {"group": {"$nin": [1, 2]}},
    {"score": {"$nin": [1.0, 2]}},
    {"flag": {"$exists": True}},
    {"flag": {"$exists": False}},
    {"flag": True},
    {"flag": {"$ne": True}},
    {"tags": "t1"},
    {"tags": {"$contains": "u4"}},
    {"name": {"$contains": "-1"}},
    {"tags": {"$in": ["t0", "u1"]}},
    {"meta.lang": "fr"},
    {"meta.len": {"$lt": 5}},
    {"meta.missing": {"$exists": False}, "group": 4},
    {"$and": [{"group": {"$gte": 5}}, {"meta.lang": {"$ne": "en"}}]},
    {"$or": [{"group": 1}, {"score": {"$gt": 80}}, {"flag": False}]},
    {"$not": {"group": {"$lt": 8}}},
    {"score": {"$not": {"$gt": 10}}},
    {"group": 2, "meta.lang": "de"},
    {"nothing": 1},
    {},
]


@pytest.mark.parametrize("flt", FILTERS, ids=[str(f) for f in FILTERS])
def test_every_operator_matches_the_reference(flt):
    payloads = {str(i): payload_of(i) for i in range(400)}
    payloads["none"] = None
    index = PayloadIndex(payloads.keys)
    for id_, payload in payloads.items():
        index.add(id_, payload)
    expected = {id_ for id_, p in payloads.items() if ref(p or {}, flt)}
    assert index.match(flt) == expected
    assert 0 < len(expected) < len(payloads) or flt in ({"nothing": 1}, {})
    # the server's way: just the paths the filter names, indexed from the records already held
    named = PayloadIndex(payloads.keys, paths=())
    named.adopt(named.build(named.unindexed(flt), payloads.items()))
    assert named.match(flt) == expected and not named.unindexed(flt)
    assert set(named.values) | set(named.containers) <= filter_paths(flt)


def test_filter_paths_are_the_fields_a_filter_names():
    flt = {"a": 1, "$or": [{"b.c": {"$gt": 2}}, {"$not": {"d": {"$exists": True}}}], "e": {"$not": {"$in": [1]}},
           "$and": "malformed"}
    assert filter_paths(flt) == {"a", "b.c", "d", "e"}
    assert filter_paths([{"a": 1}]) == set() and filter_paths({"$and": [5, {"f": 1}]}) == {"f"}


def test_paths_not_indexed_hold_nothing_and_cannot_be_matched():
    index = PayloadIndex(lambda: ["a"], paths=["g"])
    index.add("a", {"g": 1, "text": "a long chunk of text no filter names", "meta": {"x": [1, 2]}})
    assert set(index.values) == {"g"} and not index.containers
    assert index.match({"g": 1}) == {"a"} and index.unindexed({"text": {"$contains": "chunk"}}) == {"text"}
    with pytest.raises(RuntimeError, match="'text' is not indexed"):
        index.match({"text": {"$contains": "chunk"}})


def test_updates_and_removals_leave_no_stale_entries():
    held = {"a": None}
    index = PayloadIndex(held.keys)
    index.add("a", {"g": 1, "t": ["x"]})
    index.add("a", {"g": 2}, old={"g": 1, "t": ["x"]})
    assert index.match({"g": 1}) == set() and index.match({"g": 2}) == {"a"}
    assert index.match({"t": "x"}) == set() and index.match({"t": {"$exists": True}}) == set()
    index.remove("a", {"g": 2})
    del held["a"]
    assert index.match({"g": {"$ne": 5}}) == set()
    assert all(not bucket for bucket in index.values.values()), "a removed record left an entry"


@pytest.mark.parametrize("flt, path, words", [
    ({"g": {"$regex": "x"}}, "filter.g.$regex", "$regex"),
    ({"$nor": []}, "filter.$nor", "$nor"),
    ({"g": {"$in": 3}}, "filter.g.$in", "list"),
    ({"g": {"$gt": [1]}}, "filter.g.$gt", "number or a string"),
    ({"g": {"$exists": 1}}, "filter.g.$exists", "true or false"),
    ({"$or": []}, "filter.$or", "non-empty"),
    ({"$and": [{"g": 1}, 5]}, "filter.$and[1]", "object"),
    ({"g": {"$eq": {"a": 1}}}, "filter.g.$eq", "string, number"),
])
def test_bad_filters_name_the_place(flt, path, words):
    index = PayloadIndex(lambda: ["a"])
    index.add("a", {"g": 1})
    with pytest.raises(FilterError) as info:
        index.match(flt)
    assert info.value.path == path and words in str(info.value)


def test_values_shared_then_released_by_updates_and_removals():
    """Random upserts and deletes over few ids and values (a value passes from one holder to several
    and back): after every step each filter equals the reference over the payloads now held, in an
    index of every path and in one that indexes a filter's paths when it is first used."""
    rng = np.random.default_rng(7)
    held = {}
    index, named = PayloadIndex(held.keys), PayloadIndex(held.keys, paths=())
    filters = [{"g": 1}, {"g": {"$ne": 2}}, {"t": {"$contains": "x"}}, {"g": {"$gte": 1}},
               {"t": {"$in": ["x", "y"]}}, {"t": {"$contains": "z"}}, {"u.v": {"$exists": True}}]
    for step in range(300):
        id_ = str(rng.integers(6))
        if rng.random() < 0.25:
            old = held.pop(id_, None)
            index.remove(id_, old)
            named.remove(id_, old)
        else:
            payload = {"g": int(rng.integers(3)), "t": [str(c) for c in rng.choice(list("xyzxz"), rng.integers(3))]}
            if rng.random() < 0.5:
                payload["u"] = {"v": str(rng.integers(2))}
            index.add(id_, payload, old=held.get(id_))
            named.add(id_, payload, old=held.get(id_))
            held[id_] = payload
        for j, flt in enumerate(filters):
            expected = {i for i, p in held.items() if ref(p, flt)}
            assert index.match(flt) == expected, flt
            if j <= step // 40:  # `named` meets the filters one by one, with records held by then
                named.adopt(named.build(named.unindexed(flt), held.items()))
                assert named.match(flt) == expected, flt
