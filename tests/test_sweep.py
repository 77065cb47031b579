"""sweep(), geom, igeom, HashableDict, sweep_stats and slugify, against execo 2.8's results."""

import copy

import pytest

from execo_engine import HashableDict, geom, igeom, slugify, sweep, sweep_stats


def test_sweep_is_the_cartesian_product_first_key_slowest():
    assert sweep({"param 1": ["a", "b"], "param 2": [1, 2]}) == [
        {"param 1": "a", "param 2": 1}, {"param 1": "a", "param 2": 2},
        {"param 1": "b", "param 2": 1}, {"param 1": "b", "param 2": 2}]


def test_nested_sweep_matches_execo_2_8_docstring_example():
    result = sweep({
        "param 1": ["a", "b"],
        "param 2": {1: {"param 1 1": ["x", "y"], "param 1 2": [0.0, 1.0]},
                    2: {"param 2 1": [-10, 10]}}})
    # The list printed by execo 2.8's docstring, in its order.
    expected = []
    for p1 in ["a", "b"]:
        for p11 in ["x", "y"]:
            for p12 in [0.0, 1.0]:
                expected.append({"param 1": p1, "param 2": 1, "param 1 1": p11, "param 1 2": p12})
        for p21 in [-10, 10]:
            expected.append({"param 1": p1, "param 2": 2, "param 2 1": p21})
    assert result == expected
    assert all(isinstance(c, HashableDict) for c in result)
    assert len(set(result)) == 12


def test_empty_levels_and_empty_lists():
    assert sweep({"a": [1, 2], "b": [], "c": {"x": {}, "y": {"d": [5]}}}) == [
        {"a": 1, "c": "x"}, {"a": 1, "c": "y", "d": 5}, {"a": 2, "c": "x"}, {"a": 2, "c": "y", "d": 5}]
    assert sweep({}) == [{}]


@pytest.mark.parametrize("parameters, culprit", [
    ({"nodes": 4}, "'nodes'"),
    ({"name": "abc"}, "'name'"),
    ({"ok": [1], "bad": [[1, 2]]}, "'bad'"),
    ({"lvl": {1: [1, 2]}}, "'lvl'"),
])
def test_bad_parameters_name_the_culprit(parameters, culprit):
    with pytest.raises(TypeError, match=culprit):
        sweep(parameters)


def test_geom_and_igeom():
    assert geom(1, 100, 0) == [] and geom(2, 100, 1) == [2.0]
    g = geom(1, 1000, 4)
    assert g[0] == 1.0 and g[-1] == 1000.0 and abs(g[1] - 10) < 1e-9 and abs(g[2] - 100) < 1e-9
    assert igeom(1, 100, 5) == [1, 3, 10, 32, 100]
    assert igeom(1, 4, 10) == [1, 2, 3, 4]


def test_hashable_dict_hash_ignores_insertion_order_and_survives_copies():
    a = HashableDict([("x", 1), ("y", (2, 3))])
    b = HashableDict([("y", (2, 3)), ("x", 1)])
    assert hash(a) == hash(b) and len({a, b}) == 1
    mixed = HashableDict({1: "a", "k": "b"})
    assert hash(mixed) == hash(HashableDict({"k": "b", 1: "a"}))
    assert isinstance(copy.deepcopy(a), HashableDict) and copy.copy(a) == a


def test_sweep_stats_counts_and_ratios():
    combs = sweep({"a": [1, 2], "b": ["x", "y"]})
    done = {combs[0], combs[1]}
    remaining = set(combs[2:])
    stats = sweep_stats((set(combs), remaining, set(), set(), done))
    assert stats["total"] == {"a": {1: 2, 2: 2}, "b": {"x": 2, "y": 2}}
    assert stats["done"] == {"a": {1: 2}, "b": {"x": 1, "y": 1}}
    assert stats["done_ratio"]["a"] == {1: 1.0, 2: 0.0}
    assert stats["remaining_ratio"]["b"] == {"x": 0.5, "y": 0.5}
    assert stats["skipped"] == {} and stats["skipped_ratio"]["a"] == {1: 0.0, 2: 0.0}
    assert set(stats) == {"total", "remaining", "remaining_ratio", "skipped", "skipped_ratio",
                          "inprogress", "inprogress_ratio", "done", "done_ratio"}


def test_slugify():
    assert slugify({"a b": "C/d"}) == "a-b-cd"
    assert slugify("Éléphant  rose--x") == "elephant-rose-x"
    assert slugify("a b.c", separator="_") == "a_bc"
