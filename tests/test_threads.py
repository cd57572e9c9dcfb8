"""The BLAS thread policy: one thread in funcnn's compute loops unless the caller chose, limits restored after.

Needs threadpoolctl (the ``threads`` extra, installed with ``test``) to read the
limits; the fallback without it is tested by hiding it.
"""

from __future__ import annotations

import numpy as np
import pytest
from cases import Recorder

import funcnn as fn
import funcnn.thread_policy as threads_module
from funcnn.thread_policy import DEFAULT_THREADS, blas_threads, compute_threads

pytest.importorskip("threadpoolctl", reason="thread limits need threadpoolctl: pip install 'funcnn[threads]'")


def probed() -> tuple[Recorder[int | None], fn.Sequential, fn.FrozenTree[np.float64]]:
    probe: Recorder[int | None] = Recorder(lambda x: blas_threads())  # the BLAS threads in force in each forward
    model = fn.Sequential(probe, fn.Dense(3))
    return probe, model, fn.init(model, fn.key(0), in_shape=(4,))


def test_threads_sets_and_restores_the_limit() -> None:
    before = blas_threads()
    assert before is not None
    with fn.threads(1) as limits:
        assert limits == fn.ThreadLimits(1, True, "BLAS threads limited to 1")
        assert blas_threads() == 1
    assert blas_threads() == before
    with fn.threads(None) as limits:
        assert not limits.applied and blas_threads() == before
    assert blas_threads() == before


def test_limits_nest_and_restore_on_error() -> None:
    before = blas_threads()
    with pytest.raises(RuntimeError), fn.threads(1):
        with fn.threads(None):  # no limit of its own: the enclosing one stays
            assert blas_threads() == 1
        with fn.threads(2 if (before or 1) >= 2 else 1):
            assert blas_threads() == min(before or 1, 2)
        assert blas_threads() == 1
        raise RuntimeError("leave the block")
    assert blas_threads() == before


def test_compute_loops_use_one_thread_by_default() -> None:
    before = blas_threads()
    probe, model, params = probed()
    x = np.ones((6, 4))
    fn.predict(model, params, x)
    fn.train(model, params, x, np.zeros(6, dtype=np.int64), loss=fn.CategoricalCrossEntropy(from_logits=True),
             epochs=2, key=fn.key(0), lr=0.1, batch_size=4, validation=(x, np.zeros(6, dtype=np.int64)))
    assert probe.seen and set(probe.seen) == {DEFAULT_THREADS}
    assert blas_threads() == before  # restored after every call


def test_the_callers_choice_wins_inside_a_block() -> None:
    before = blas_threads()
    assert before is not None
    if before < 2:
        pytest.skip("the BLAS library runs one thread here: nothing to tell the policy from the default")
    probe, model, params = probed()
    with fn.threads(None):
        fn.predict(model, params, np.ones((3, 4)))
    with fn.threads(2):
        fn.predict(model, params, np.ones((3, 4)))
        with compute_threads():
            assert blas_threads() == 2
    # each predict runs its probe row, then the pass: two records each
    assert probe.seen == [before, before, 2, 2]
    with compute_threads():
        assert blas_threads() == DEFAULT_THREADS


def test_train_steps_do_not_hold_the_limit_across_a_yield() -> None:
    before = blas_threads()
    model = fn.Sequential(fn.Dense(2))
    start = fn.TrainState.create(model, fn.init(model, fn.key(0), in_shape=(3,)), loss=fn.MSE(),
                                 optimizer=fn.sgd(0.1), key=fn.key(1), batch_size=2)
    for _ in fn.train_steps(start, np.ones((5, 3)), np.ones((5, 2)), epochs=2):
        assert blas_threads() == before  # the caller's code between steps runs with its own settings
    for _ in fn.train_epochs(start, np.ones((5, 3)), np.ones((5, 2)), epochs=2):
        assert blas_threads() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_counts_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="threads"), fn.threads(bad):  # type: ignore[arg-type]
        pass


def test_without_threadpoolctl_nothing_is_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads_module, "_controller", lambda: None)
    assert not threads_module.available() and blas_threads() is None
    with fn.threads(1) as limits:
        assert not limits.applied and "pip install 'funcnn[threads]'" in limits.note
    probe, model, params = probed()
    y = fn.predict(model, params, np.ones((2, 4)))  # the policy falls back to doing nothing
    assert y.shape == (2, 3) and probe.seen == [None, None]
