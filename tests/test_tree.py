"""FrozenTree and the tree helpers: immutability, paths, structure, out-of-place updates."""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funcnn as fn
from funcnn.tree import FrozenTree


def params_like() -> FrozenTree[np.float64]:
    return fn.freeze(
        {
            "dense_0": {"w": np.arange(6.0).reshape(2, 3), "b": np.zeros(3)},
            "dense_1": {"w": np.ones((3, 1)), "b": np.array([0.5])},
        }
    )


# --- the mapping type ----------------------------------------------------------------------------


def test_frozen_tree_is_a_read_only_mapping() -> None:
    t = params_like()
    assert isinstance(t, Mapping)
    assert sorted(t) == ["dense_0", "dense_1"] and len(t) == 2
    assert "dense_0" in t and "dense_9" not in t
    assert isinstance(t["dense_0"], FrozenTree)
    with pytest.raises(TypeError):
        t["dense_2"] = fn.FrozenTree()  # type: ignore[index]
    with pytest.raises(TypeError):
        del t["dense_0"]  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        t._data = {}
    with pytest.raises(AttributeError):
        t.anything = 1
    with pytest.raises(AttributeError):
        del t._data


def test_every_array_in_a_tree_is_read_only() -> None:
    t = params_like()
    for path, a in fn.tree_flatten(t).items():
        assert not a.flags.writeable, path
        with pytest.raises(ValueError, match="read-only"):
            a[...] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        t.subtree("dense_0").leaf("w")[0, 0] -= 1


def test_trees_have_no_value_equality_or_hash() -> None:
    t = params_like()
    with pytest.raises(TypeError, match="tree_equal"):
        _ = t == params_like()
    with pytest.raises(TypeError, match="tree_equal"):
        _ = t != params_like()
    with pytest.raises(TypeError):
        hash(t)


def test_repr_shows_paths_shapes_and_dtypes_not_values() -> None:
    t = fn.freeze({"dense_0": {"w": np.full((2, 3), 123.0, dtype=np.float32)}})
    assert repr(t) == "FrozenTree({dense_0/w: float32[2, 3]})"
    assert repr(fn.FrozenTree()) == "FrozenTree({})"


def test_pickle_round_trip_keeps_values_and_read_only_arrays() -> None:
    t = params_like()
    u = pickle.loads(pickle.dumps(t))
    assert isinstance(u, FrozenTree) and isinstance(u["dense_0"], FrozenTree)
    assert fn.tree_equal(t, u)
    for path, a in fn.tree_flatten(u).items():
        assert not a.flags.writeable, path


def test_leaf_and_subtree_accessors() -> None:
    t = params_like()
    sub = t["dense_0"]
    assert isinstance(sub, FrozenTree)
    np.testing.assert_array_equal(sub.leaf("b"), np.zeros(3))
    assert len(t.subtree("relu_0")) == 0  # param-free layers: an empty tree
    with pytest.raises(fn.TreeStructureError, match="expected an array at 'x'"):
        sub.leaf("x")
    with pytest.raises(fn.TreeStructureError, match="got a subtree"):
        t.leaf("dense_0")
    with pytest.raises(fn.TreeStructureError, match=r"expected a subtree at 'b', got an array of shape \(3,\)"):
        sub.subtree("b")


# --- freeze / thaw ---------------------------------------------------------------------------------


def test_freeze_copies_writeable_arrays_once() -> None:
    w = np.ones((2, 2))
    t = fn.freeze({"w": w})
    w[0, 0] = 99.0  # the caller keeps a writeable array ...
    assert t.leaf("w")[0, 0] == 1.0  # ... whose later writes never reach the tree
    assert w.flags.writeable


def test_freeze_shares_read_only_arrays_and_frozen_subtrees() -> None:
    t = params_like()
    assert fn.freeze(t) is t
    outer: FrozenTree[np.float64] = fn.freeze({"encoder": t, "extra": {"v": t.subtree("dense_1").leaf("w")}})
    assert outer["encoder"] is t
    assert outer.subtree("extra").leaf("v") is t.subtree("dense_1").leaf("w")


def test_freeze_accepts_any_nested_mapping_and_ignores_insertion_order() -> None:
    a = fn.freeze({"x": {"b": np.zeros(1), "a": np.ones(2)}})
    b = fn.freeze({"x": {"a": np.ones(2), "b": np.zeros(1)}})
    assert fn.tree_paths(a) == fn.tree_paths(b) == ["x/a", "x/b"]
    assert fn.tree_equal(a, b)
    fn.assert_same_structure(a, b)


@pytest.mark.parametrize("bad_key", ["dense/0", "has space", "", "1abc", 3])
def test_freeze_rejects_keys_that_are_not_identifiers(bad_key: object) -> None:
    with pytest.raises(fn.TreeStructureError, match="identifiers"):
        fn.freeze({"ok": {bad_key: np.zeros(1)}})


def test_freeze_rejects_non_array_leaves_naming_the_path() -> None:
    with pytest.raises(fn.TreeStructureError, match="got list at dense_0/w"):
        fn.freeze({"dense_0": {"w": [1.0, 2.0]}})
    with pytest.raises(fn.TreeStructureError, match="expects a mapping"):
        fn.freeze([np.zeros(1)])  # type: ignore[arg-type]


def test_thaw_is_the_escape_hatch_of_writeable_copies() -> None:
    t = params_like()
    plain = fn.thaw(t)
    assert type(plain) is dict and type(plain["dense_0"]) is dict
    w = plain["dense_0"]["w"]
    assert w.flags.writeable
    w[0, 0] = -5.0
    assert t.subtree("dense_0").leaf("w")[0, 0] == 0.0
    back = fn.freeze(plain)
    assert fn.tree_get(back, "dense_0/w")[0, 0] == -5.0
    assert fn.tree_paths(back) == fn.tree_paths(t)


# --- paths, flatten, helpers ---------------------------------------------------------------------


def test_paths_join_keys_with_slashes_in_sorted_order() -> None:
    t = params_like()
    assert fn.tree_paths(t) == ["dense_0/b", "dense_0/w", "dense_1/b", "dense_1/w"]
    assert [a.shape for a in fn.tree_leaves(t)] == [(3,), (2, 3), (1,), (3, 1)]
    assert fn.tree_size(t) == 3 + 6 + 1 + 3
    np.testing.assert_array_equal(fn.tree_get(t, "dense_1/b"), [0.5])


def test_tree_get_errors_list_the_existing_paths() -> None:
    t = params_like()
    with pytest.raises(fn.TreeStructureError, match=re.escape("no leaf at path 'dense_2/w'; paths are ['dense_0/b'")):
        fn.tree_get(t, "dense_2/w")
    with pytest.raises(fn.TreeStructureError, match="is a subtree, not a leaf"):
        fn.tree_get(t, "dense_0")


def test_flatten_unflatten_round_trip() -> None:
    t = params_like()
    flat = fn.tree_flatten(t)
    assert list(flat) == fn.tree_paths(t)
    back = fn.tree_unflatten(flat)
    assert fn.tree_equal(back, t)


def test_unflatten_rejects_a_path_that_is_both_leaf_and_subtree() -> None:
    with pytest.raises(fn.TreeStructureError, match="passes through a leaf"):
        fn.tree_unflatten({"a": np.zeros(1), "a/b": np.zeros(1)})
    with pytest.raises(fn.TreeStructureError, match="both a leaf and a subtree"):
        fn.tree_unflatten({"a/b": np.zeros(1), "a": np.zeros(1)})


_keys = st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True)
_leaves = st.tuples(st.integers(0, 3), st.integers(1, 3)).map(lambda s: np.arange(float(s[0] * s[1])).reshape(s))
_nested = st.recursive(_leaves, lambda children: st.dictionaries(_keys, children, min_size=1, max_size=3), max_leaves=8)
_trees = st.dictionaries(_keys, _nested, max_size=4)


@given(_trees)
def test_flatten_unflatten_and_thaw_freeze_round_trips(raw: dict[str, object]) -> None:
    t = fn.freeze(raw)
    assert fn.tree_equal(fn.tree_unflatten(fn.tree_flatten(t)), t)
    assert fn.tree_equal(fn.freeze(fn.thaw(t)), t)
    assert fn.tree_paths(t) == sorted(fn.tree_paths(t))
    assert fn.tree_size(t) == sum(a.size for a in fn.tree_leaves(t))
    doubled = fn.tree_map(lambda a: 2 * a, t)
    assert fn.tree_paths(doubled) == fn.tree_paths(t)
    for a, d in zip(fn.tree_leaves(t), fn.tree_leaves(doubled), strict=True):
        np.testing.assert_array_equal(d, 2 * a)
        assert not d.flags.writeable


def test_tree_dtype() -> None:
    assert fn.tree_dtype(fn.freeze({"w": np.zeros(2, np.float32)})) == np.float32
    assert fn.tree_dtype(fn.FrozenTree()) == np.float64


def test_tree_equal_and_allclose() -> None:
    t = params_like()
    nudged = fn.tree_map(lambda a: a + 1e-12, t)
    assert fn.tree_equal(t, params_like())
    assert not fn.tree_equal(t, nudged)
    assert fn.tree_allclose(t, nudged, atol=1e-9)
    assert not fn.tree_allclose(t, fn.tree_map(lambda a: a + 1.0, t))
    as32 = fn.tree_map(lambda a: a.astype(np.float32), t)
    assert not fn.tree_equal(t, as32)  # same values, other dtype
    fewer: FrozenTree[np.float64] = fn.freeze({"dense_0": t["dense_0"]})
    assert not fn.tree_equal(t, fewer) and not fn.tree_allclose(t, fewer)


# --- tree_map ------------------------------------------------------------------------------------


def test_tree_map_combines_trees_leaf_by_leaf() -> None:
    a = params_like()
    b = fn.tree_map(lambda x: x + 1.0, a)
    c = fn.tree_map(lambda x, y: y - x, a, b)
    for leaf in fn.tree_leaves(c):
        np.testing.assert_array_equal(leaf, np.ones_like(leaf))
    np.testing.assert_array_equal(fn.tree_get(a, "dense_0/w"), np.arange(6.0).reshape(2, 3))  # unchanged


def test_tree_map_never_aliases_a_writeable_view() -> None:
    outside = np.zeros((2, 3))
    template: FrozenTree[np.float64] = fn.freeze({"w": np.zeros((2, 3))})
    t = fn.tree_map(lambda a: outside[: a.shape[0]], template)
    outside[0, 0] = 7.0
    assert t.leaf("w")[0, 0] == 0.0


def test_tree_map_on_mismatched_trees_lists_missing_and_extra_paths() -> None:
    a = params_like()
    b = fn.freeze({"dense_0": {"w": np.zeros((2, 3)), "b": np.zeros(3)}, "dense_2": {"w": np.zeros(1)}})
    with pytest.raises(fn.TreeStructureError) as info:
        fn.tree_map(lambda x, y: x + y, a, b)
    message = str(info.value)
    assert "missing paths: dense_1/b, dense_1/w" in message
    assert "extra paths: dense_2/w" in message


# --- structure comparison ------------------------------------------------------------------------


def test_assert_same_structure_reports_every_problem_at_once() -> None:
    ref = params_like()
    other: FrozenTree[np.float64] = fn.freeze(
        {
            "dense_0": {"w": np.zeros((3, 2)), "b": np.zeros(3, np.float32)},
            "dense_1": {"w": np.zeros((3, 1))},
            "dense_9": {"w": np.zeros(1)},
        }
    )
    with pytest.raises(fn.TreeStructureError) as info:
        fn.assert_same_structure(ref, other)
    assert str(info.value) == (
        "grads do not mirror params: missing paths: dense_1/b; extra paths: dense_9/w; "
        "dense_0/b: expected dtype float64, got float32; dense_0/w: expected shape (2, 3), got (3, 2)"
    )


def test_assert_same_structure_can_ignore_dtypes_and_rename_sides() -> None:
    ref = fn.freeze({"w": np.zeros(2)})
    fn.assert_same_structure(ref, fn.freeze({"w": np.zeros(2, np.float32)}), check_dtype=False)
    with pytest.raises(fn.TreeStructureError, match="^velocity do not mirror params: missing paths: w$"):
        fn.assert_same_structure(ref, fn.FrozenTree(), names=("params", "velocity"))


def test_structure_is_compared_by_paths_not_container_nesting_order() -> None:
    a = fn.freeze({"enc": {"dense_0": {"w": np.zeros(2)}}, "head": {"b": np.zeros(1)}})
    b = fn.freeze({"head": {"b": np.ones(1)}, "enc": {"dense_0": {"w": np.ones(2)}}})
    fn.assert_same_structure(a, b)


# --- tree_set ------------------------------------------------------------------------------------


def test_tree_set_is_out_of_place_and_shares_untouched_branches() -> None:
    t = params_like()
    new_b = np.array([1.0, 2.0, 3.0])
    u = fn.tree_set(t, "dense_0/b", new_b)
    np.testing.assert_array_equal(fn.tree_get(u, "dense_0/b"), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(fn.tree_get(t, "dense_0/b"), np.zeros(3))  # the old tree is unchanged
    assert u["dense_1"] is t["dense_1"]  # untouched branch shared
    assert fn.tree_get(u, "dense_0/w") is fn.tree_get(t, "dense_0/w")  # untouched sibling leaf shared
    new_b[0] = 50.0  # the caller's array was copied, so this cannot reach u
    assert fn.tree_get(u, "dense_0/b")[0] == 1.0
    assert not fn.tree_get(u, "dense_0/b").flags.writeable


def test_tree_set_requires_an_existing_path_with_the_same_shape_and_dtype() -> None:
    t = params_like()
    with pytest.raises(fn.TreeStructureError, match=re.escape("tree_set at 'dense_0/b': expected float64[3], got")):
        fn.tree_set(t, "dense_0/b", np.zeros(4))
    with pytest.raises(fn.TreeStructureError, match="expected float64"):
        fn.tree_set(t, "dense_0/b", np.zeros(3, np.float32))  # type: ignore[misc]
    with pytest.raises(fn.TreeStructureError, match="no leaf at path 'dense_0/gamma'"):
        fn.tree_set(t, "dense_0/gamma", np.zeros(3))
