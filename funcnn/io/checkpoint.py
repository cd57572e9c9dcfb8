"""Checkpoints: training states and trained params on disk, exact and safe.

:func:`save` writes a whole :class:`~funcnn.training.TrainState` and
:func:`save_params` a model and its params, each as one ``.npz`` container
(:mod:`funcnn.io.container`) whose manifest holds the encoded value
(:mod:`funcnn.io.codec`). Files are written atomically
(:func:`funcnn.io.atomic.atomic_write`): a crash never leaves a half-written
checkpoint in place of a good one.

:func:`load` and :func:`load_params` never unpickle anything. Before reading
any array they rebuild the model from its stored config and refuse it if its
parameter count exceeds ``max_params``; then they check every array's shape,
dtype and SHA-256, and the params, the optimizer buffers and other
params-shaped trees against a template of paths, shapes and dtypes that comes
from shape inference (:func:`funcnn.network.param_shapes`: no weights drawn;
the checks live in :mod:`funcnn.io.checks`), and report every problem at once
as a :class:`~funcnn.errors.CheckpointError`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, TypeGuard, overload

import attrs
import numpy as np

from funcnn._typing import FloatT, Shape
from funcnn.config import is_spec, to_config
from funcnn.datasets.schema import Schema
from funcnn.errors import CheckpointError, ConfigError, DataError, ShapeError
from funcnn.io import container
from funcnn.io.atomic import atomic_write
from funcnn.io.checks import (
    count_problems,
    other_tree_problems,
    param_template,
    template_problems,
    tree_problems,
    zero_stride,
)
from funcnn.io.codec import Decoder, encode
from funcnn.io.container import Arrays, PathLike, fail, manifest_for, open_checkpoint
from funcnn.layers.base import Layer
from funcnn.network import param_count
from funcnn.optim import OptState
from funcnn.training import TrainState
from funcnn.tree import FrozenTree, leaf_specs, tree_flatten

__all__ = [
    "MAX_PARAMS",
    "CheckpointInfo",
    "RunIdentity",
    "checkpoint_info",
    "load",
    "load_params",
    "save",
    "save_params",
]

MAX_PARAMS = 500_000_000  # load refuses bigger models before allocating anything; raise it with max_params=


# --- run identity ----------------------------------------------------------------------------


@attrs.frozen
class RunIdentity:
    """Which run a checkpoint belongs to: the run's id and its training data's fingerprint."""

    id: str = attrs.field(validator=attrs.validators.instance_of(str))
    data: str = attrs.field(validator=attrs.validators.instance_of(str))

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "data": self.data}

    @classmethod
    def from_json(cls, node: object) -> RunIdentity | None:
        """The identity in a manifest's ``run`` entry; None if absent or malformed."""
        if not isinstance(node, dict):
            return None
        run_id, data = node.get("id"), node.get("data")
        if not isinstance(run_id, str) or not isinstance(data, str) or len(run_id) > 200 or len(data) > 200:
            return None
        return cls(run_id, data)


# --- writing ---------------------------------------------------------------------------------


def _check_in_shape(model: Layer, params: FrozenTree[Any], in_shape: Shape, dtype: np.dtype[Any]) -> None:
    problems = template_problems(model, params, in_shape, dtype, "params")
    if problems:
        raise ShapeError(
            f"save: the params do not fit {model!r} on inputs of shape {in_shape}: "
            + "; ".join(problems)
            + "; is in_shape right?"
        )


def _resolve_in_shape(state: object, in_shape: Shape | None) -> Shape:
    if in_shape is None:
        in_shape = getattr(state, "in_shape", None)
        if in_shape is None:
            raise ValueError(
                "save: in_shape=... is needed (the input shape without the batch axis, e.g. x.shape[1:]) "
                "so that load can rebuild the model and check the params"
            )
    shape = tuple(int(d) for d in in_shape)
    if any(d <= 0 for d in shape):
        raise ShapeError(f"save: in_shape must hold positive sizes, got in_shape={shape}")
    return shape


def _write(path: PathLike, manifest: dict[str, Any], arrays: Arrays) -> Path:
    return atomic_write(Path(path), lambda f: container.write_npz(f, manifest, arrays))


def save(
    path: PathLike,
    state: TrainState[FloatT],
    *,
    in_shape: Shape | None = None,
    run: RunIdentity | None = None,
    schema: Schema | None = None,
) -> Path:
    """Write ``state`` to ``path`` (one ``.npz`` with a JSON manifest), atomically.

    Args:
        path: the file to write (its folder is created if needed).
        state: the training state to store, every field of it.
        in_shape: the model's input shape without the batch axis (``x.shape[1:]``);
            needed to rebuild the model's template on load. May be omitted if
            the state has an ``in_shape`` field.
        run: the identity of the run the state belongs to (a run id and a data
            fingerprint), written to the manifest so that a checkpoint copied
            into another run's folder can be told apart (see :attr:`CheckpointInfo.run`).
        schema: what the data mean (``ds.schema``: feature names, task, class
            names), stored in the manifest and read back by :func:`checkpoint_info`.

    Returns:
        The path written.

    Raises:
        ShapeError: the params do not fit the model on ``in_shape``.
        CheckpointError: a field holds something that cannot be stored (e.g. a
            lambda, or a spec whose kind is not registered with ``fn.register_kind``).
    """
    shape = _resolve_in_shape(state, in_shape)
    _check_in_shape(state.model, state.params, shape, state.dtype)
    encoded, arrays = encode(state, "")
    manifest = manifest_for("train_state", state.dtype, shape)
    if run is not None:
        manifest["run"] = run.to_json()
    if schema is not None:
        manifest["schema"] = schema.to_json()
    manifest["state"] = encoded
    return _write(path, manifest, arrays)


def save_params(
    path: PathLike, model: Layer, params: FrozenTree[FloatT], *, in_shape: Shape, schema: Schema | None = None
) -> Path:
    """Write a trained model (its spec and params only) to ``path``, atomically.

    Share the file; :func:`load_params` gives back ``(model, params)``, and
    :func:`checkpoint_info` the data ``schema`` if one was given (``ds.schema``).

    Raises:
        ShapeError: the params do not fit ``model`` on ``in_shape``.
        CheckpointError: the model's kind (or a nested one) is not registered.
    """
    shape = _resolve_in_shape(None, in_shape)
    dtype = _params_dtype(params)
    _check_in_shape(model, params, shape, dtype)
    encoded, arrays = encode(params, "params")
    manifest = manifest_for("params", dtype, shape)
    try:
        manifest["model"] = to_config(model)
    except ConfigError as e:
        raise CheckpointError(f"save_params: {e}") from None
    if schema is not None:
        manifest["schema"] = schema.to_json()
    manifest["params"] = encoded
    return _write(path, manifest, arrays)


def _params_dtype(params: FrozenTree[Any]) -> np.dtype[Any]:
    dtypes = {a.dtype for a in tree_flatten(params).values()}
    if len(dtypes) > 1:
        raise CheckpointError(f"save: params mix dtypes {sorted(map(str, dtypes))}")
    return dtypes.pop() if dtypes else np.dtype(np.float64)


# --- reading ---------------------------------------------------------------------------------


def _dtype_of(file: Path, manifest: dict[str, Any]) -> np.dtype[Any]:
    name = manifest.get("dtype")
    if name == "float32":
        return np.dtype(np.float32)
    if name == "float64":
        return np.dtype(np.float64)
    raise fail(file, [f"the manifest has an unsupported dtype {name!r}"])


def _in_shape_of(file: Path, manifest: dict[str, Any]) -> Shape:
    shape = manifest.get("in_shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise fail(file, [f"the manifest has an invalid in_shape {shape!r}"])
    return tuple(shape)


def _check_dtype(file: Path, stored: np.dtype[Any], asked: type[np.generic] | None) -> None:
    if asked is not None and np.dtype(asked) != stored:
        raise fail(
            file, [f"holds {stored} arrays, but dtype={np.dtype(asked).name} was asked for; pass dtype=np.{stored}"]
        )


def _model_problem(stored: Layer, asked: Layer | None) -> list[str]:
    if asked is None or asked == stored:
        return []
    return [f"a checkpoint of another architecture: it holds {stored!r}, but {asked!r} was asked for"]


def _is_layer(value: object) -> TypeGuard[Layer]:
    return is_spec(value) and all(hasattr(value, n) for n in ("init", "forward", "backward"))


def _model_node(manifest: dict[str, Any]) -> object:
    if manifest["content"] == "train_state":
        state = manifest.get("state")
        fields = state.get("fields", {}) if isinstance(state, dict) else {}
        return fields.get("model") if isinstance(fields, dict) else None
    return {"type": "spec", "config": manifest.get("model")}


def _stored_model(file: Path, manifest: dict[str, Any]) -> Layer:
    model = Decoder(file, {}).decode(_model_node(manifest), "model")
    if not _is_layer(model):
        raise fail(file, [f"model: not a layer: {model!r}"])
    return model


def _check_size(file: Path, model: Layer, in_shape: Shape, max_params: int) -> None:
    """Refuse a model bigger than ``max_params`` from its shapes alone, before any array is read."""
    try:
        count = param_count(model, in_shape)
    except (ShapeError, ValueError, TypeError):
        return  # reported with the other problems once the arrays are read
    if count > max_params:
        raise fail(
            file,
            [
                f"the model {model!r} has {count:,} parameters, more than max_params={max_params:,}; "
                "nothing was read. If you trust the file, pass a larger max_params="
            ],
        )


def _open_checked(
    path: PathLike, model: Layer | None, max_params: int
) -> tuple[Path, dict[str, Any], Arrays, np.dtype[Any], Shape]:
    file, manifest, _ = open_checkpoint(path, with_arrays=False)
    stored_dtype = _dtype_of(file, manifest)
    in_shape = _in_shape_of(file, manifest)
    sized = model
    if sized is None:
        try:
            sized = _stored_model(file, manifest)
        except CheckpointError:
            sized = None  # a damaged model entry: reported when the whole value is decoded
    if sized is not None:
        _check_size(file, sized, in_shape, max_params)
    file, manifest, arrays = open_checkpoint(file)
    return file, manifest, arrays, stored_dtype, in_shape


def _load_state(
    path: PathLike, *, model: Layer | None, dtype: type[np.generic] | None, max_params: int
) -> TrainState[Any]:
    file, manifest, arrays, stored_dtype, in_shape = _open_checked(path, model, max_params)
    if manifest["content"] != "train_state":
        raise fail(file, [f"holds {manifest['content']!r}, not a training state; use load_params"])
    _check_dtype(file, stored_dtype, dtype)
    state = Decoder(file, arrays).decode(manifest.get("state"), "")
    if not isinstance(state, TrainState):
        raise fail(file, [f"the manifest's state is a {type(state).__name__}, not a TrainState"])
    roles = {"model": ("init", "forward", "backward"), "loss": ("value_and_grad",), "optimizer": ("init", "update")}
    for field, methods in roles.items():
        spec = getattr(state, field)
        if not all(callable(getattr(spec, m, None)) for m in methods):
            raise fail(file, [f"{field}: {spec!r} is not a {field} (it lacks {', '.join(methods)})"])
    problems = _model_problem(state.model, model) + count_problems(state)
    target = model if model is not None else state.model
    try:
        template = param_template(target, in_shape, stored_dtype)
    except (ShapeError, ValueError, TypeError) as e:
        raise fail(file, [*problems, f"the model cannot be built on inputs of shape {in_shape}: {e}"]) from None
    problems += tree_problems(template, state.params, "params")
    # The optimizer's template allocates buffers of the model's size: only when that is no more than
    # the file holds (a model inflated in the manifest has its params reported above, and stops there).
    wanted = sum(math.prod(shape) for shape, _ in template.values())
    if problems and wanted > max(4 * sum(a.size for a in arrays.values()), 1 << 20):
        raise fail(file, problems)
    try:
        opt_template = state.optimizer.init(zero_stride(template))
    except (ValueError, TypeError) as e:
        problems.append(f"opt_state: the optimizer cannot be initialised on the model: {e}")
    else:
        if not isinstance(state.opt_state, OptState):
            problems.append(f"opt_state: expected an OptState, got {type(state.opt_state).__name__}")
        else:
            problems += tree_problems(leaf_specs(opt_template.buffers), state.opt_state.buffers, "opt_state")
    problems += other_tree_problems(state, template)
    if problems:
        raise fail(file, problems)
    return state


@overload
def load(
    path: PathLike, *, dtype: type[FloatT], model: Layer | None = None, max_params: int = MAX_PARAMS
) -> TrainState[FloatT]: ...
@overload
def load(
    path: PathLike, *, dtype: None = None, model: Layer | None = None, max_params: int = MAX_PARAMS
) -> TrainState[np.float32] | TrainState[np.float64]: ...
def load(
    path: PathLike, *, dtype: type[FloatT] | None = None, model: Layer | None = None, max_params: int = MAX_PARAMS
) -> TrainState[FloatT] | TrainState[np.float32] | TrainState[np.float64]:
    """Read a training state written by :func:`save` (or a run folder's latest).

    Nothing is unpickled and nothing is returned unless everything checks out:
    the format and its version, the model's size, every array's shape, dtype
    and SHA-256, the specs, and the params and optimizer buffers against a
    template that shape inference builds from the stored model config.

    Args:
        path: a checkpoint file, or a run folder (its ``checkpoint.npz`` is read).
        dtype: the dtype you expect (``np.float32`` or ``np.float64``); gives a
            precisely typed result. None accepts what is stored.
        model: the architecture you expect; a checkpoint of another one is refused.
        max_params: refuse (before reading any array) a model with more parameters.

    Raises:
        CheckpointError: naming the file and every problem found.
    """
    return _load_state(path, model=model, dtype=dtype, max_params=max_params)


@overload
def load_params(
    path: PathLike, *, dtype: type[FloatT], model: Layer | None = None, max_params: int = MAX_PARAMS
) -> tuple[Layer, FrozenTree[FloatT]]: ...
@overload
def load_params(
    path: PathLike, *, dtype: None = None, model: Layer | None = None, max_params: int = MAX_PARAMS
) -> tuple[Layer, FrozenTree[np.float32] | FrozenTree[np.float64]]: ...
def load_params(
    path: PathLike, *, dtype: type[FloatT] | None = None, model: Layer | None = None, max_params: int = MAX_PARAMS
) -> tuple[Layer, FrozenTree[FloatT] | FrozenTree[np.float32] | FrozenTree[np.float64]]:
    """``(model, params)`` from a file of :func:`save_params` (or the params of a :func:`save` file).

    Checked like :func:`load`: a checkpoint for another architecture than
    ``model`` (when given) is refused.

    >>> import tempfile, numpy as np, funcnn as fn
    >>> model = fn.Sequential(fn.Dense(3), fn.ReLU(), fn.Dense(1))
    >>> params = fn.init(model, fn.key(0), in_shape=(2,))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_params(f"{folder}/mlp.npz", model, params, in_shape=(2,))
    ...     model2, params2 = load_params(path, dtype=np.float64)
    >>> model2 == model, fn.tree_equal(params2, params)
    (True, True)
    """
    file, manifest, arrays, stored_dtype, in_shape = _open_checked(path, model, max_params)
    _check_dtype(file, stored_dtype, dtype)
    if manifest["content"] == "train_state":
        state = _load_state(file, model=model, dtype=dtype, max_params=max_params)
        return state.model, state.params
    if manifest["content"] != "params":
        raise fail(file, [f"unknown content {manifest['content']!r}"])
    decoder = Decoder(file, arrays)
    stored_model = decoder.decode(_model_node(manifest), "model")
    if not _is_layer(stored_model):
        raise fail(file, [f"model: not a layer: {stored_model!r}"])
    params = decoder.decode(manifest.get("params"), "params")
    if not isinstance(params, FrozenTree):
        raise fail(file, ["params: not a tree in the manifest"])
    problems = _model_problem(stored_model, model)
    target = model if model is not None else stored_model
    problems += template_problems(target, params, in_shape, stored_dtype, "params")
    if problems:
        raise fail(file, problems)
    return target, params


# --- inspection ------------------------------------------------------------------------------


@attrs.frozen
class CheckpointInfo:
    """What a checkpoint holds, read from its manifest alone (arrays are not read)."""

    path: Path
    content: str  # "train_state" (from save) or "params" (from save_params)
    format_version: int
    funcnn_version: str
    dtype: str
    in_shape: Shape
    model: Layer
    epoch: int | None = None
    step: int | None = None
    run: RunIdentity | None = None  # the run it was saved by (None: saved outside a run folder, or before 0.2)
    schema: Schema | None = None  # what the data mean, if saved with schema= (older files: None)


def checkpoint_info(path: PathLike) -> CheckpointInfo:
    """A quick look at a checkpoint (or a run folder's latest): model, dtype, epoch, step.

    Raises:
        CheckpointError: the file is not a readable funcnn checkpoint.
    """
    file, manifest, _ = open_checkpoint(path, with_arrays=False)
    state = manifest.get("state") if manifest["content"] == "train_state" else None
    fields = state.get("fields", {}) if isinstance(state, dict) else {}
    model = _stored_model(file, manifest)
    epoch, step = fields.get("epoch"), fields.get("step")
    return CheckpointInfo(
        path=file,
        content=str(manifest["content"]),
        format_version=int(manifest["format_version"]),
        funcnn_version=str(manifest.get("funcnn_version")),
        dtype=str(_dtype_of(file, manifest)),
        in_shape=_in_shape_of(file, manifest),
        model=model,
        epoch=epoch if isinstance(epoch, int) else None,
        step=step if isinstance(step, int) else None,
        run=RunIdentity.from_json(manifest.get("run")),
        schema=_schema_of(file, manifest.get("schema")),
    )


def _schema_of(file: Path, stored: object) -> Schema | None:
    if stored is None:
        return None
    if not isinstance(stored, dict):
        raise CheckpointError(f"{file}: the manifest's 'schema' must be a JSON object, got {type(stored).__name__}")
    try:
        return Schema.from_json(stored, f"{file}: manifest 'schema'")
    except DataError as e:
        raise CheckpointError(str(e)) from None
