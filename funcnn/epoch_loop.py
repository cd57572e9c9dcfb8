"""The epoch loop: how a :class:`~funcnn.training.TrainState` advances through its data.

:func:`run_epochs` is the engine behind :func:`~funcnn.training.train_epochs`
and :func:`~funcnn.training.train_steps`: per epoch it walks the batches
(:mod:`funcnn.batching`), runs forward, loss, backward and the fused optimizer
step, then scores the epoch (validation cost, train-time metrics, the
convergence test of ``tol``) and does the early-stopping bookkeeping.

Randomness is derived by meaning from the run's root key: the order of epoch
``e`` is drawn from ``fold_in(fold_in(key, "shuffle"), e)``, the dropout masks
of step ``s`` from ``fold_in(fold_in(key, "dropout"), s)``, its augmentation
(``augment=``, training batches only) from ``fold_in(fold_in(key, "augment"), s)``
and a validation split from ``fold_in(key, "validation")``. So epoch ``e`` never
depends on having run the epochs before it, and a run resumed from any yielded
state is the same run, bit for bit.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

import attrs
import numpy as np

from funcnn._typing import Array, FloatT
from funcnn.batching import epoch_batches, full_gradient, run_data
from funcnn.errors import NonFiniteLossError
from funcnn.metrics import metric
from funcnn.network import Sequential, predict
from funcnn.optim import apply_step
from funcnn.rng import fold_in
from funcnn.thread_policy import compute_threads
from funcnn.transfer import frozen_layers
from funcnn.transforms import global_norm

if TYPE_CHECKING:  # funcnn.training imports this module; the state is only read and evolved here
    from funcnn.training import TrainState

__all__ = ["OnNonFinite", "TrainMetrics", "run_epochs"]

OnNonFinite = Literal["raise", "stop"]
# Where train-time metrics on the training data come from: the epoch's own
# forward passes ("passes", free), or one more pass at the epoch's end ("end").
TrainMetrics = Literal["passes", "end"]


def run_epochs(
    state: TrainState[FloatT],
    x: object,
    y: object,
    *,
    epochs: int,
    validation: tuple[object, object] | None,
    on_nonfinite: OnNonFinite,
    per_step: bool = False,
    train_metrics: TrainMetrics = "passes",
    eval_batch_size: int | None = None,
) -> Iterator[tuple[TrainState[FloatT], float]]:
    """Yield ``(state, cost)`` at each epoch's end (with ``per_step``, after every step).

    The engine of :func:`~funcnn.training.train_epochs` (epoch-end states)
    and :func:`~funcnn.training.train_steps` (``per_step``: every step); the
    arguments are theirs. ``cost`` is the last step's batch cost (or the
    non-finite cost that stopped the run).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"train: epochs must be an int >= 1, got epochs={epochs!r}")
    if on_nonfinite not in ("raise", "stop"):
        raise ValueError(f"train: on_nonfinite must be 'raise' or 'stop', got on_nonfinite={on_nonfinite!r}")
    if train_metrics not in ("passes", "end"):
        raise ValueError(f"train: train_metrics must be 'passes' or 'end', got train_metrics={train_metrics!r}")
    if eval_batch_size is not None and (
        isinstance(eval_batch_size, bool) or not isinstance(eval_batch_size, int) or eval_batch_size < 1
    ):
        raise ValueError(f"train: eval_batch_size must be None or an int >= 1, got eval_batch_size={eval_batch_size!r}")
    if state.stopped:
        return
    xs, ts, xv, tv = run_data(
        state.model, state.loss, state.dtype, state.key, x, y,
        validation=validation, fraction=state.validation_fraction, in_shape=state.in_shape,
        resumed=(state.epoch, len(state.history.val_cost) > 0),
    )
    if state.in_shape is None:
        state = attrs.evolve(state, in_shape=xs.shape[1:])
    n = xs.shape[0]
    model, loss, optimizer = state.model, state.loss, state.optimizer
    from_logits = bool(getattr(loss, "from_logits", False))
    dropout_key = fold_in(state.key, "dropout")
    needs_key = bool(getattr(model, "uses_key", True))
    augment, augment_key = state.augment, fold_in(state.key, "augment")
    # Layers an optimizer keeps frozen (fn.partition with fn.frozen()) get no
    # gradients, and the backward pass stops below the lowest layer that learns.
    frozen = frozen_layers(optimizer, state.live_params) if isinstance(model, Sequential) else frozenset()
    params, opt_state, step = state.live_params, state.opt_state, state.step

    def non_finite(what: str, value: float, epoch: int, at: str) -> NonFiniteLossError:
        return NonFiniteLossError(
            f"train: the {what} became {value} at epoch {epoch} (0-based), {at}; "
            "try a smaller learning rate or clip gradients"
        )

    running = bool(state.metrics) and train_metrics == "passes"
    for epoch in range(state.epoch, epochs):
        total = 0.0
        batches = epoch_batches(state.key, n, state.batch_size, epoch, shuffle=state.shuffle, sampling=state.sampling)
        n_batches = 1 if batches is None else len(batches)
        seen: list[tuple[Array[FloatT], Array[FloatT]]] = []  # (outputs, targets) of the passes, for metrics
        # BLAS threads by funcnn's policy (funcnn.thread_policy), never held across a
        # yield: once per epoch, or once per step when every step is yielded.
        epoch_threads = contextlib.nullcontext() if per_step else compute_threads()
        bad_cost: float | None = None
        with epoch_threads:
            for i, idx in enumerate(batches if batches is not None else [None]):
                with compute_threads() if per_step else contextlib.nullcontext():
                    # One gather per step; np.take is the faster gather of whole rows (same values as xs[idx]).
                    xb, tb = (xs, ts) if idx is None else (np.take(xs, idx, axis=0), np.take(ts, idx, axis=0))
                    if augment is not None:  # training batches only; the labels are untouched
                        xb = augment(fold_in(augment_key, step), xb)
                    step_key = fold_in(dropout_key, step) if needs_key else None
                    yb, cache = model.forward(params, xb, key=step_key, train=True)
                    cost, dy = loss.value_and_grad(yb, tb)
                    if not math.isfinite(cost):
                        if on_nonfinite == "raise":
                            raise non_finite("cost", cost, epoch, f"step {step}")
                        bad_cost = cost
                    else:
                        grads, _ = (
                            model.backward(params, cache, dy, need_dx=False, frozen=frozen)
                            if frozen and isinstance(model, Sequential)
                            else model.backward(params, cache, dy, need_dx=False)
                        )
                        del cache
                        params, opt_state = apply_step(optimizer, grads, opt_state, params)  # update + apply, fused
                        total += cost * xb.shape[0]
                        step += 1
                        if running:
                            seen.append((yb, tb))
                if bad_cost is not None:
                    break
                if per_step and i + 1 < n_batches:
                    yield attrs.evolve(state, params=params, opt_state=opt_state, step=step, last_params=None), cost
            train_cost = total / n
            scores: dict[str, float] = {}
            val_cost: float | None = None
            yv: Array[FloatT] | None = None
            converged = False
            if bad_cost is None and xv is not None and tv is not None:
                yv = predict(model, params, xv, batch_size=eval_batch_size)
                val_cost, _ = loss.value_and_grad(yv, tv)
            finite = bad_cost is None and (val_cost is None or math.isfinite(val_cost))
            if state.metrics and finite:
                if running:
                    y_seen = seen[0][0] if len(seen) == 1 else np.concatenate([a for a, _ in seen])
                    t_seen = seen[0][1] if len(seen) == 1 else np.concatenate([b for _, b in seen])
                else:
                    y_seen, t_seen = predict(model, params, xs, batch_size=eval_batch_size), ts
                seen = []
                for name in state.metrics:
                    scores[name] = metric(name, y_seen, t_seen, from_logits=from_logits)
                    if yv is not None:
                        scores["val_" + name] = metric(name, yv, tv, from_logits=from_logits)
            if finite and state.tol is not None:  # one more pass over all the data, in bounded batches
                converged = global_norm(full_gradient(model, loss, params, xs, ts)) < state.tol
        if bad_cost is not None:
            yield attrs.evolve(state, stop_reason="non_finite"), bad_cost
            return
        if val_cost is not None and not math.isfinite(val_cost):
            if on_nonfinite == "raise":
                raise non_finite("validation cost", val_cost, epoch, f"after step {step - 1}")
            yield attrs.evolve(state, stop_reason="non_finite"), val_cost
            return
        monitored = val_cost if val_cost is not None else train_cost
        improved = state.best_cost is None or monitored < state.best_cost - state.min_delta
        best_params = params if improved else state.best_params
        best_epoch = epoch + 1 if improved else state.best_epoch
        best = monitored if improved else state.best_cost
        wait = 0 if improved else state.wait + 1
        stop = state.patience is not None and wait >= state.patience
        state = attrs.evolve(
            state,
            params=params,
            opt_state=opt_state,
            epoch=epoch + 1,
            step=step,
            history=state.history.append(cost=train_cost, val_cost=val_cost, metrics=scores),
            best_params=best_params,
            best_epoch=best_epoch,
            best_cost=best,
            wait=wait,
            stop_reason="converged" if converged else "early_stopping" if stop else None,
            last_params=None,
        )
        yield state, cost
        if stop or converged:
            return
