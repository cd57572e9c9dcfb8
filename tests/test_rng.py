"""Explicit keys: pure split/fold_in, stable string folding, no global or hidden RNG state."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funcnn as fn
from funcnn.rng import Key, generator

PACKAGE = Path(fn.__file__).parent
seeds = st.integers(0, 2**63)
names = st.text(min_size=0, max_size=12)


def draw(k: Key, n: int = 4) -> np.ndarray:
    return generator(k).random(n)


def test_key_is_a_small_json_able_value() -> None:
    k = fn.key(42)
    assert k == Key(seed=42, path=())
    assert repr(k) == "Key(seed=42, path=())"
    assert json.loads(json.dumps(k.to_config())) == {"seed": 42, "path": []}
    child = fn.fold_in(fn.split(k, 3)[2], "dense_0")
    cfg = json.loads(json.dumps(child.to_config()))
    assert Key(cfg["seed"], cfg["path"]) == child  # the path list converts back to a tuple
    assert hash(Key(cfg["seed"], cfg["path"])) == hash(child)


@given(seed=seeds, n=st.integers(1, 6))
def test_split_is_pure_and_children_are_distinct(seed: int, n: int) -> None:
    k = fn.key(seed)
    children = fn.split(k, n)
    assert children == fn.split(k, n)  # pure: same call, same children
    assert len(set(children)) == n and k not in children
    assert fn.split(k, n + 1)[:n] == children  # the i-th child does not depend on n
    assert children[0] == fn.split(k)[0]


@given(seed=seeds, data=st.one_of(st.integers(0, 2**32 - 1), names))
def test_fold_in_is_pure(seed: int, data: int | str) -> None:
    k = fn.key(seed)
    assert fn.fold_in(k, data) == fn.fold_in(k, data)
    np.testing.assert_array_equal(draw(fn.fold_in(k, data)), draw(fn.fold_in(fn.key(seed), data)))


@given(seed=seeds, a=names, b=names)
def test_fold_in_distinguishes_strings(seed: int, a: str, b: str) -> None:
    k = fn.key(seed)
    assert (fn.fold_in(k, a) == fn.fold_in(k, b)) == (a == b)


def test_split_int_and_string_children_never_coincide() -> None:
    k = fn.key(7)
    family = [*fn.split(k, 3), fn.fold_in(k, 0), fn.fold_in(k, 1), fn.fold_in(k, "0"), fn.fold_in(k, "1"), k]
    assert len(set(family)) == len(family)
    streams = {tuple(draw(c)) for c in family}
    assert len(streams) == len(family)  # and neither do their random streams


def test_keys_on_different_seeds_differ() -> None:
    assert not np.array_equal(draw(fn.key(0)), draw(fn.key(1)))
    assert not np.array_equal(draw(fn.fold_in(fn.key(0), "w")), draw(fn.fold_in(fn.key(1), "w")))


def test_derivation_words_have_fixed_widths_so_paths_never_collide() -> None:
    # numpy's SeedSequence reads each path entry as however many 32-bit words it
    # needs; fixed widths keep the word sequence (and so the stream) unique.
    with pytest.raises(ValueError, match=r"data must be in \[0, 2\*\*32\), got data=4294967296"):
        fn.fold_in(fn.key(0), 2**32)
    fn.fold_in(fn.key(0), 2**32 - 1)
    for text in ["", "w", "b", "dense_0", "shuffle", "dropout", "x" * 100]:
        digest = fn.fold_in(fn.key(0), text).path[-1]
        assert 2**32 <= digest < 2**64, text
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*128\)"):
        fn.key(2**128)


def test_child_streams_look_independent() -> None:
    a, b = fn.split(fn.key(11))
    x, y = generator(a).standard_normal(20_000), generator(b).standard_normal(20_000)
    assert abs(np.corrcoef(x, y)[0, 1]) < 5 / np.sqrt(20_000)


def test_generator_is_fresh_on_every_call() -> None:
    k = fn.key(3)
    g1, g2 = generator(k), generator(k)
    assert g1 is not g2
    np.testing.assert_array_equal(g1.random(5), g2.random(5))
    np.testing.assert_array_equal(g1.random(5), generator(k).random(10)[5:])


def test_string_folding_is_stable_across_processes() -> None:
    # Python's built-in str hash is salted per process; fold_in must not depend on it.
    code = "import funcnn as fn; print(fn.fold_in(fn.fold_in(fn.key(5), 'dense_0'), 'w').path)"
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        outputs.add(result.stdout.strip())
    outputs.add(str(fn.fold_in(fn.fold_in(fn.key(5), "dense_0"), "w").path))
    assert len(outputs) == 1, outputs


def test_the_global_numpy_rng_is_never_touched() -> None:
    before = np.random.get_state()  # noqa: NPY002  # reading the legacy global state is the point
    model = fn.Sequential(fn.Dense(4, w_init=fn.HeNormal()), fn.ReLU(), fn.Dropout(0.5), fn.Dense(2))
    k = fn.key(0)
    params = fn.init(model, k, in_shape=(3,))
    x = np.ones((6, 3))
    y, cache = fn.forward(model, params, x, key=k, train=True)
    fn.backward(model, params, cache, np.ones_like(y))
    fn.train(model, params, x, np.zeros((6, 2)), loss=fn.MSE(), lr=0.1, epochs=2, key=k, batch_size=2)
    after = np.random.get_state()  # noqa: NPY002
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]  # type: ignore[index]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: fn.key(-1), ValueError, r"seed must be in \[0, 2\*\*128\), got seed=-1"),
        (lambda: fn.key(1.5), TypeError, "seed must be an int, got float"),  # type: ignore[arg-type]
        (lambda: fn.key(True), TypeError, "seed must be an int, got bool"),
        (lambda: fn.fold_in(fn.key(0), -3), ValueError, r"got data=-3"),
        (lambda: fn.fold_in(fn.key(0), 2.0), TypeError, "data must be an int or str, got float"),  # type: ignore[arg-type]
        (lambda: fn.split(fn.key(0), 0), ValueError, "n must be >= 1, got n=0"),
    ],
)
def test_bad_arguments(call: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()  # type: ignore[operator]


def test_numpy_randomness_only_through_funcnn_rng() -> None:
    # Static guard for the rules: no global numpy RNG, no SeedSequence.spawn()
    # (hidden counter), no seeding from entropy anywhere in the package.
    offenders = []
    pattern = re.compile(r"np\.random\.(?!Generator\b|PCG64\b|SeedSequence\b)\w+|\.spawn\(|default_rng\(\s*\)")
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        for match in pattern.finditer(text):
            offenders.append(f"{path.relative_to(PACKAGE)}: {match.group(0)}")
        if path.name != "rng.py":  # generators are built from keys in rng.py only (type hints are fine)
            for match in re.finditer(r"np\.random\.(Generator|PCG64|SeedSequence)\(", text):
                offenders.append(f"{path.relative_to(PACKAGE)}: {match.group(0)} outside rng.py")
    assert not offenders, offenders
