"""Checks of a decoded checkpoint against its model, before :mod:`funcnn.io.checkpoint` hands it out.

* Templates: the paths, shapes and dtypes the params must have, from shape
  inference (:func:`funcnn.network.param_shapes`: no weights drawn), and the
  problems of a stored tree against one (:func:`tree_problems`);
* the counters of a training state (:func:`count_problems`: no negative epoch,
  no best epoch after the last, ...), and its other params-shaped trees
  (:func:`other_tree_problems`).

Each check returns a list of problems (empty: fine), so that a load can
report every problem at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from funcnn._typing import Shape
from funcnn.errors import ShapeError
from funcnn.io.codec import join
from funcnn.layers.base import Layer
from funcnn.network import param_shapes
from funcnn.optim import OptState
from funcnn.training import TrainState
from funcnn.tree import FrozenTree, LeafSpec, leaf_specs, tree_diff, tree_unflatten

__all__ = [
    "count_problems",
    "other_tree_problems",
    "param_template",
    "template_problems",
    "tree_problems",
    "zero_stride",
]


# --- templates: paths, shapes and dtypes from shape inference, no weights --------------------


def param_template(model: Layer, in_shape: Shape, dtype: np.dtype[Any]) -> dict[str, LeafSpec]:
    """``{path: (shape, dtype)}`` of ``model``'s params on inputs of ``in_shape`` (no weights drawn)."""
    return {path: (shape, dtype) for path, shape in param_shapes(model, in_shape).items()}


def _desc(spec: LeafSpec) -> str:
    return f"{spec[1]}{list(spec[0])}"


def tree_problems(template: Mapping[str, LeafSpec], got: FrozenTree[Any], prefix: str) -> list[str]:
    """Paths of ``got`` missing from, extra to, or of another shape or dtype than ``template`` (under ``prefix``)."""
    b = leaf_specs(got)
    diff = tree_diff(template, b)
    problems = [f"{join(prefix, p)}: missing (the model has {_desc(template[p])})" for p in diff.missing]
    problems += [f"{join(prefix, p)}: not in the model (stored {_desc(b[p])})" for p in diff.extra]
    return problems + diff.mismatches(template, b, prefix)


def template_problems(
    model: Layer, params: FrozenTree[Any], in_shape: Shape, dtype: np.dtype[Any], prefix: str
) -> list[str]:
    """:func:`tree_problems` of ``params`` against ``model``'s template, or why the model cannot be built."""
    try:
        template = param_template(model, in_shape, dtype)
    except (ShapeError, ValueError, TypeError) as e:
        return [f"the model cannot be built on inputs of shape {in_shape}: {e}"]
    return tree_problems(template, params, prefix)


def zero_stride(template: Mapping[str, LeafSpec]) -> FrozenTree[Any]:
    """A tree with the template's structure that holds no data: read-only broadcast views of one zero."""
    return tree_unflatten({p: np.broadcast_to(np.zeros((), dtype=dt), shape) for p, (shape, dt) in template.items()})


# --- a training state's own fields ----------------------------------------------------------


def count_problems(state: TrainState[Any]) -> list[str]:
    """The counters of a state must be possible: no negative epoch, no best epoch after the last, ..."""
    problems: list[str] = []

    def whole(name: str, value: object, low: int = 0, high: int | None = None) -> None:
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            problems.append(f"{name}: expected a whole number, got {value!r}")
        elif value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"in [{low}, {high}]"
            problems.append(f"{name}: expected a count {bound}, got {value}")

    epoch, step = state.epoch, state.step
    whole("epoch", epoch)
    whole("step", step)
    if problems:
        return problems
    epochs = len(state.history)
    if epochs != epoch:
        problems.append(f"history: holds {epochs} epochs, but epoch is {epoch}")
    if len(state.history.val_cost) not in (0, epochs):
        problems.append(f"history/val_cost: holds {len(state.history.val_cost)} epochs, the costs {epochs}")
    if step < epoch:
        problems.append(f"step: {step} optimizer steps cannot make {epoch} epochs (at least one step each)")
    if isinstance(state.opt_state, OptState):
        whole("opt_state/count", state.opt_state.count)
    whole("wait", state.wait, 0, epoch)
    if state.best_epoch is not None:
        whole("best_epoch", state.best_epoch, 0, epoch)
    if state.patience is not None:
        whole("patience", state.patience, 1)
    if state.batch_size is not None:
        whole("batch_size", state.batch_size, 1)
    return problems


def other_tree_problems(state: TrainState[Any], template: Mapping[str, LeafSpec]) -> list[str]:
    """Params-shaped trees elsewhere in the state (e.g. the best params so far) must fit too."""
    problems: list[str] = []
    for field in attrs.fields(type(state)):
        value = getattr(state, field.name)
        if value is not state.params and isinstance(value, FrozenTree) and field.name.endswith("params"):
            problems += tree_problems(template, value, field.name)
    return problems
