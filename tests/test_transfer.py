"""funcnn.transfer: partition/frozen optimizers, the frozen-backward stop, and graft."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

import funcnn as fn
from funcnn.config import from_config, to_config
from funcnn.errors import TreeStructureError
from funcnn.io.checkpoint import load, save
from funcnn.layers.conv import Conv2D
from funcnn.layers.pool import MaxPool2D
from funcnn.rng import generator
from funcnn.training import TrainState, last_state, train_epochs
from funcnn.transfer import Frozen, Partition, frozen, frozen_layers, graft, partition
from funcnn.transforms import l2

IN_SHAPE = (8, 8, 1)


def cnn() -> fn.Sequential:
    return fn.Sequential(
        Conv2D(4, 3), fn.ReLU(), MaxPool2D(2), Conv2D(4, 3), fn.ReLU(),
        fn.Flatten(), fn.Dense(8), fn.ReLU(), fn.Dense(3),
    )  # fmt: skip


def setup(key: fn.Key) -> tuple[fn.Sequential, fn.FrozenTree[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    model = cnn()
    params = fn.init(model, fn.fold_in(key, "init"), in_shape=IN_SHAPE)
    g = generator(fn.fold_in(key, "data"))
    return model, params, g.standard_normal((24, *IN_SHAPE)), g.integers(0, 3, size=24)


def one_hot(y: NDArray[np.int64]) -> NDArray[np.float64]:
    return fn.one_hot(y, 3)


LOSS = fn.CategoricalCrossEntropy(from_logits=True)
HEAD_ONLY: dict[str, fn.Optimizer] = {"conv*": frozen(), "dense*": fn.adam(0.01)}


def test_every_leaf_is_claimed_once(key: fn.Key) -> None:
    _, params, _, _ = setup(key)
    with pytest.raises(TreeStructureError, match=r"claimed by no glob: dense_0/b, dense_0/w, dense_1/b, dense_1/w"):
        partition({"conv*": frozen()}).init(params)
    with pytest.raises(TreeStructureError, match=r"more than one glob: conv2d_0/b \(by 'conv\*' and '\*_0'\)"):
        partition({"conv*": frozen(), "*_0": fn.sgd(0.1), "dense_1": fn.sgd(0.1)}).init(params)
    owner = partition({"conv2d_0/*": frozen(), "conv2d_1": frozen(), "*": fn.sgd(0.1)})
    with pytest.raises(TreeStructureError, match="more than one"):
        owner.init(params)  # "*" matches everything too
    assert partition([("conv*", frozen()), ("dense_0/w", frozen()), ("dense_0/b", fn.sgd(0.1)),
                      ("dense_1", fn.sgd(0.1))]).frozen_paths(params) == {
        "conv2d_0/w", "conv2d_0/b", "conv2d_1/w", "conv2d_1/b", "dense_0/w"}


def test_bad_rules_are_refused() -> None:
    with pytest.raises(TypeError, match="gradient transform"):
        partition({"*": l2(0.1)})
    with pytest.raises(TypeError, match="not an optimizer"):
        partition({"*": 3})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="once"):
        partition([("a", frozen()), ("a", fn.sgd(0.1))])
    with pytest.raises(ValueError, match="at least one"):
        partition({})


def test_frozen_leaves_keep_no_buffers_and_stay_the_same_arrays(key: fn.Key) -> None:
    model, params, x, y = setup(key)
    opt = partition(HEAD_ONLY)
    state = opt.init(params)
    assert sorted(state.buffers) == ["p1"]
    assert fn.tree_paths(state.buffers) == [f"p1/{b}/{p}" for b in ("mu", "nu")
                                            for p in ("dense_0/b", "dense_0/w", "dense_1/b", "dense_1/w")]
    final = fn.train(model, params, x, y, loss=LOSS, optimizer=opt, epochs=3, key=key, batch_size=8)
    for name in ("conv2d_0", "conv2d_1"):
        for leaf in ("w", "b"):
            path = f"{name}/{leaf}"
            assert fn.tree_get(final.params, path) is fn.tree_get(params, path)  # the very same array
    assert not np.array_equal(fn.tree_get(final.params, "dense_1/w"), fn.tree_get(params, "dense_1/w"))
    assert final.history.cost[-1] < final.history.cost[0]


def test_update_gives_zero_updates_for_frozen_leaves_and_needs_only_trained_grads(key: fn.Key) -> None:
    model, params, x, y = setup(key)
    opt = partition({"conv*": frozen(), "dense*": fn.sgd(0.5)})
    yb, cache = fn.forward(model, params, x)
    _, dy = LOSS.value_and_grad(yb, one_hot(y))
    full, _ = fn.backward(model, params, cache, dy)
    updates, _ = opt.update(full, opt.init(params), params)
    assert not np.any(fn.tree_get(updates, "conv2d_0/w"))
    assert np.array_equal(fn.tree_get(updates, "dense_1/w"), -0.5 * fn.tree_get(full, "dense_1/w"))
    head: fn.FrozenTree[np.float64] = fn.freeze({k: full.subtree(k) for k in ("dense_0", "dense_1")})
    same, _ = opt.update(head, opt.init(params), params)
    assert fn.tree_equal(same, updates)
    with pytest.raises(TreeStructureError, match="missing paths: dense_0/b, dense_0/w"):
        only: fn.FrozenTree[np.float64] = fn.freeze({"dense_1": full.subtree("dense_1")})
        opt.update(only, opt.init(params), params)


def test_frozen_backward_gives_the_full_backward_head_grads_without_visiting_the_base(key: fn.Key) -> None:
    model, params, x, y = setup(key)
    yb, cache = fn.forward(model, params, x, train=True)
    _, dy = LOSS.value_and_grad(yb, one_hot(y))
    full, _ = fn.backward(model, params, cache, dy, need_dx=False)
    base = frozen_layers(partition(HEAD_ONLY), params)
    assert base == {"conv2d_0", "conv2d_1"}
    # A cache without the base layers' entries: backward would fail if it visited them.
    head_cache: fn.FrozenTree[np.float64] = fn.freeze(
        {k: cache.subtree(k) for k in ("flatten_0", "dense_0", "relu_2", "dense_1")}
    )
    grads, dx = model.backward(params, head_cache, dy, need_dx=False, frozen=base)
    assert fn.tree_paths(grads) == ["dense_0/b", "dense_0/w", "dense_1/b", "dense_1/w"]
    for path in fn.tree_paths(grads):
        assert np.array_equal(fn.tree_get(grads, path), fn.tree_get(full, path))
    assert dx.size == 0
    # Freezing a middle layer: the pass goes through it (dx needed) but it gets no grads.
    grads, _ = model.backward(params, cache, dy, need_dx=False, frozen={"dense_0"})
    assert sorted(grads) == ["conv2d_0", "conv2d_1", "dense_1"]
    assert np.array_equal(fn.tree_get(grads, "conv2d_0/w"), fn.tree_get(full, "conv2d_0/w"))
    # Everything frozen: nothing to do.
    grads, _ = model.backward(params, fn.FrozenTree[np.float64](), dy, need_dx=False, frozen=set(params))
    assert not len(grads)


def test_training_with_the_stop_equals_a_full_backward_step_by_step(key: fn.Key) -> None:
    """The skipped work changes nothing: a hand loop with the full backward gives the same bits."""
    model, params, x, y = setup(key)
    opt = partition({"conv*": frozen(), "dense*": fn.sgd(0.1, momentum=0.9)})
    trained = fn.train(model, params, x, y, loss=LOSS, optimizer=opt, epochs=1, key=key, batch_size=None)
    p, s = params, opt.init(params)
    for _ in range(1):
        yb, cache = fn.forward(model, p, x, train=True)
        _, dy = LOSS.value_and_grad(yb, one_hot(y))
        grads, _ = fn.backward(model, p, cache, dy, need_dx=False)
        p, s = fn.apply_step(opt, grads, s, p)
    assert fn.tree_equal(trained.params, p)


def test_frozen_alone_and_frozen_layers_of_other_optimizers(key: fn.Key) -> None:
    _, params, _, _ = setup(key)
    f = Frozen()
    assert not len(f.init(params).buffers)
    new, state = fn.apply_step(f, params, f.init(params), params)
    assert new is params and state.count == 1
    assert frozen_layers(fn.adam(), params) == frozenset()


def test_partition_round_trips_through_configs() -> None:
    opt = partition({"conv*": frozen(), "dense_0": fn.sgd(0.1, momentum=0.9), "dense_1": fn.chain(l2(0.1), fn.adam())})
    back = from_config(to_config(opt))
    assert back == opt and isinstance(back, Partition)


def test_resume_with_a_partition_is_bit_exact(tmp_path: Path, key: fn.Key) -> None:
    model, params, x, y = setup(key)
    params32 = fn.init(model, fn.fold_in(key, "init"), in_shape=IN_SHAPE, dtype=np.float32)
    start = TrainState.create(model, params32, loss=LOSS, optimizer=partition(HEAD_ONLY), key=key, batch_size=8)
    straight = last_state(train_epochs(start, x, y, epochs=4))
    half = last_state(train_epochs(start, x, y, epochs=2))
    loaded = load(save(tmp_path / "half.npz", half, in_shape=IN_SHAPE), dtype=np.float32)
    resumed = last_state(train_epochs(loaded, x, y, epochs=4))
    assert fn.tree_equal(straight.params, resumed.params)
    assert fn.tree_equal(straight.opt_state.buffers, resumed.opt_state.buffers)
    assert fn.tree_equal(straight.params.subtree("conv2d_0"), params32.subtree("conv2d_0"))


# --- graft ---------------------------------------------------------------------------------------


def test_graft_copies_the_named_subtrees(key: fn.Key) -> None:
    model, params, _, _ = setup(key)
    other = fn.init(model, fn.fold_in(key, "other"), in_shape=IN_SHAPE)
    out = graft(params, other, ["conv*"])
    assert fn.tree_get(out, "conv2d_1/w") is fn.tree_get(other, "conv2d_1/w")
    assert fn.tree_get(out, "dense_0/w") is fn.tree_get(params, "dense_0/w")
    assert fn.tree_paths(out) == fn.tree_paths(params)
    assert fn.tree_get(graft(params, other, "dense_1/b"), "dense_1/b") is fn.tree_get(other, "dense_1/b")


def test_graft_errors_name_every_mismatched_path(key: fn.Key) -> None:
    _, params, _, _ = setup(key)
    wide = fn.Sequential(Conv2D(4, 3), fn.ReLU(), MaxPool2D(2), Conv2D(6, 3), fn.ReLU(), fn.Flatten(), fn.Dense(8),
                         name=None)
    source = fn.init(wide, key, in_shape=IN_SHAPE)
    with pytest.raises(TreeStructureError) as info:
        graft(params, source, ["conv*", "dense_0", "nothing*"])
    text = str(info.value)
    assert "conv2d_1/w: params hold float64(3, 3, 4, 4), source float64(3, 3, 4, 6)" in text
    assert "conv2d_1/b" in text and "dense_0/w" in text and "conv2d_0/w: params" not in text
    assert "'nothing*' matches no path of source" in text
    with pytest.raises(TreeStructureError, match="extra_0/w: in source but not in params"):
        graft(params, fn.freeze({"extra_0": {"w": np.zeros(2)}}), "extra_0")  # type: ignore[misc]
    with pytest.raises(TreeStructureError, match="dtype|float32"):
        graft(params, fn.tree_map(lambda a: a.astype(np.float32), params), "dense_1")
